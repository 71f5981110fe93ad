//! `aiop`: the command line of the aiop project.
//!
//! This binary is only wiring: it parses arguments with clap and hands them to the crates that
//! do the work (the engine, the node, the tools and the gas benchmark). It
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
    /// Benchmarks: `aiop bench gas` times the precompile against the standard precompiles.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Time the precompile through the EVM on every model and on synthetic worst cases, beside
    /// revm's standard precompiles; fit the gas constants; write docs/gas-report.md and a plot.
    Gas(aiop_gasbench::cli::GasArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Gas is timed under the allocator's defaults: a reth node with this EvmFactory runs
    // jemalloc, which kept resnet_large no faster than glibc's defaults here.
    if !matches!(cli.command, Command::Bench(_)) {
        keep_freed_memory();
    }
    let result = match cli.command {
        Command::Node(args) => aiop_node::cli::run_node(args),
        Command::Chain(command) => aiop_node::cli::run_chain(command),
        Command::Model(command) => model::run(command),
        Command::Bench(BenchCommand::Gas(args)) => aiop_gasbench::cli::run_gas(args)
            .map(|written| written.iter().for_each(|p| println!("wrote {}", p.display())))
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps the memory a model run frees for the next run. glibc's malloc returns the top of its
/// heap to the system once more than 128 KiB of it is free, and serves allocations from 128 KiB
/// up with fresh mappings, so every run of a model paid page faults (and the kernel's zeroing)
/// for buffers it had just freed: resnet_large on the amx path spent about a tenth of its time
/// there, and ran at 0.79x the time once glibc kept them (`aiop model run --repeat 500`,
/// interleaved, Sapphire Rapids). Up to 512 MiB of free heap stays with each of malloc's
/// arenas, which a node reuses.
/// Called once, before any thread starts.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets the allocator's parameters, here before any thread exists;
    // a value it refuses leaves the default.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        // 32 MiB, the largest threshold glibc accepts on 64-bit; setting it also stops the
        // threshold from moving.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}
