//! `aiop`: the command line of the aiop project.
//!
//! This binary is only wiring: it parses arguments with clap and hands them to the crates that
//! do the work (the engine for models today; the node, tools and benches as they land). It
//! must never hold consensus logic of its own, and every failure must end in a non-zero exit
//! with a message that says what to do next.

mod input;
mod model;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Deterministic int8 inference for Ethereum: models, the devnet node, verification and gas.
#[derive(Debug, Parser)]
#[command(name = "aiop", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the devnet: a chain with the inference precompile and JSON-RPC (`aiop node --dev`).
    Node(aiop_node::cli::NodeArgs),
    /// Check a chain: re-execute every block and compare roots and gas.
    #[command(subcommand)]
    Chain(aiop_node::cli::ChainCommand),
    /// Work with `.aiop` model files: inspect, run, quantize, eval, import-tflite, deploy, call.
    #[command(subcommand)]
    Model(model::ModelCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node(args) => aiop_node::cli::run_node(args),
        Command::Chain(command) => aiop_node::cli::run_chain(command),
        Command::Model(command) => model::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
