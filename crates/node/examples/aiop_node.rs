//! A stand-in for the `aiop` binary's node subcommands, for testing before they are wired in:
//! `aiop_node node ...`, `aiop_node chain verify ...`, `aiop_node model deploy|call ...`.

use aiop_node::cli::{ChainCommand, ModelCallArgs, ModelDeployArgs, NodeArgs};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    Node(NodeArgs),
    #[command(subcommand)]
    Chain(ChainCommand),
    #[command(subcommand)]
    Model(ModelCmd),
}

#[derive(Debug, Subcommand)]
enum ModelCmd {
    Deploy(ModelDeployArgs),
    Call(ModelCallArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Node(a) => aiop_node::cli::run_node(a),
        Cmd::Chain(c) => aiop_node::cli::run_chain(c),
        Cmd::Model(ModelCmd::Deploy(a)) => aiop_node::cli::run_model_deploy(a),
        Cmd::Model(ModelCmd::Call(a)) => aiop_node::cli::run_model_call(a),
    }
}
