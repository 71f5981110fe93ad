//! `aiop bench gas` without the rest of the `aiop` binary (no node to build): the same
//! arguments, the same files written. `cargo run --release -p aiop-gasbench --example bench_gas -- --search`.
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "aiop bench gas")]
struct Cli {
    #[command(flatten)]
    args: aiop_gasbench::cli::GasArgs,
}

fn main() {
    let cli = Cli::parse();
    match aiop_gasbench::cli::run_gas(cli.args) {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
