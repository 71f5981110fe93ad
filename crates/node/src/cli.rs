//! Command-line arguments (clap derive) and entry points for `aiop node`, `aiop chain verify`
//! and `aiop model deploy|call`. The `aiop` binary only wires these in.

use crate::{
    chain::{EXAMPLE_MODELS, load_genesis, model_address},
    client,
    error::NodeError,
    node::{Node, NodeConfig},
    rpc::{RpcCtx, RpcLimits, ServerConfig, serve},
};
use aiop_kernels::KernelChoice;
use alloy_primitives::{Address, B256, Bytes};
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use std::{net::IpAddr, path::PathBuf, sync::Arc, time::Duration};
use tracing::info;

/// `aiop node`: run the devnet.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Dev mode: unlock the ten dev accounts (eth_accounts, eth_sendTransaction) and print their keys.
    #[arg(long)]
    pub dev: bool,
    /// Seal a block every interval (e.g. `2s`, `500ms`); default: one block per transaction.
    #[arg(long = "dev.block-time", value_name = "DURATION", value_parser = parse_duration)]
    pub block_time: Option<Duration>,
    /// Accepted for reth compatibility; the HTTP server is always on.
    #[arg(long)]
    pub http: bool,
    /// HTTP JSON-RPC listen address.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    pub http_addr: IpAddr,
    /// HTTP JSON-RPC port (0 picks a free one).
    #[arg(long = "http.port", default_value_t = 8545)]
    pub http_port: u16,
    /// Allowed CORS origins for browser clients: `*` or a comma-separated list (default: none).
    #[arg(long = "http.corsdomain", value_name = "ORIGINS")]
    pub http_corsdomain: Option<String>,
    /// Allowed `Host` header names: `*` or a comma-separated list (an IP address is always allowed).
    #[arg(long = "http.vhosts", value_name = "HOSTS", default_value = "localhost")]
    pub http_vhosts: String,
    /// Accepted for reth compatibility; WebSocket is served on the HTTP port.
    #[arg(long)]
    pub ws: bool,
    /// Allowed `Origin`s of browser WebSocket clients: `*` or a comma-separated list (clients
    /// that send no Origin are always allowed).
    #[arg(long = "ws.origins", value_name = "ORIGINS", default_value = "")]
    pub ws_origins: String,
    /// Most gas an eth_call, eth_estimateGas or aiop_infer may use.
    #[arg(long = "rpc.gascap", default_value_t = 50_000_000)]
    pub rpc_gascap: u64,
    /// Longest an eth_call may run before the client gets a timeout (e.g. `5s`).
    #[arg(long = "rpc.evmtimeout", value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub rpc_evmtimeout: Duration,
    /// Most blocks one eth_getLogs may scan.
    #[arg(long = "rpc.max-blocks-per-filter", default_value_t = 100_000)]
    pub rpc_max_blocks_per_filter: u64,
    /// Most logs one eth_getLogs may return.
    #[arg(long = "rpc.max-logs-per-response", default_value_t = 20_000)]
    pub rpc_max_logs_per_response: usize,
    /// Largest request body, in MB.
    #[arg(long = "rpc.max-request-size", default_value_t = 5)]
    pub rpc_max_request_size: u32,
    /// Largest response body, in MB.
    #[arg(long = "rpc.max-response-size", default_value_t = 25)]
    pub rpc_max_response_size: u32,
    /// Most open connections.
    #[arg(long = "rpc.max-connections", default_value_t = 500)]
    pub rpc_max_connections: u32,
    /// Most calls in one JSON-RPC batch.
    #[arg(long = "rpc.max-batch-size", default_value_t = 1000)]
    pub rpc_max_batch_size: u32,
    /// Data directory (default: a temporary directory, deleted on exit).
    #[arg(long)]
    pub datadir: Option<PathBuf>,
    /// A geth-style genesis.json (default: the dev genesis).
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// Inference kernels: auto, reference, avx2, avx512, amx.
    #[arg(long, default_value = "auto", env = "AIOP_KERNELS")]
    pub kernels: KernelChoice,
}

/// `aiop chain ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum ChainCommand {
    /// Re-execute every block from genesis and check state roots, receipts roots and gas.
    Verify(ChainVerifyArgs),
}

/// `aiop chain verify`.
#[derive(Debug, Clone, Args)]
pub struct ChainVerifyArgs {
    /// Data directory of a stopped node.
    #[arg(long)]
    pub datadir: PathBuf,
    /// Inference kernels to replay with: auto, reference, avx2, avx512, amx.
    #[arg(long, default_value = "reference")]
    pub kernels: KernelChoice,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `aiop model deploy`.
#[derive(Debug, Clone, Args)]
pub struct ModelDeployArgs {
    /// The .aiop model file.
    pub file: PathBuf,
    /// JSON-RPC endpoint (http:// or https://).
    #[arg(long, env = "ETH_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// Private key of the deployer (hex).
    #[arg(long, env = "AIOP_PRIVATE_KEY", required_unless_present = "dry_run")]
    pub private_key: Option<String>,
    /// CREATE2 salt of every data contract: a number or a 32-byte 0x hex word. The addresses
    /// depend only on the model bytes and the salt.
    #[arg(long, default_value = "0", value_parser = crate::deploy::parse_salt)]
    pub salt: B256,
    /// Print the plan (every data contract's address) without a node, and deploy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `aiop model call`.
#[derive(Debug, Clone, Args)]
pub struct ModelCallArgs {
    /// Address of the model: its data contract, or the manifest of a model stored in chunks.
    pub address: Address,
    /// Input tensor bytes: 0x hex, or @PATH to a file of raw bytes or of 0x hex text.
    #[arg(value_name = "0xHEX|@PATH", value_parser = parse_input, required_unless_present = "input")]
    pub input_arg: Option<Bytes>,
    /// The input, as a flag (the same as the positional INPUT).
    #[arg(long, value_name = "0xHEX|@PATH", value_parser = parse_input, conflicts_with = "input_arg")]
    pub input: Option<Bytes>,
    /// JSON-RPC endpoint (http:// or https://).
    #[arg(long, env = "ETH_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// The precompile's address.
    #[arg(long, default_value_t = client::PRECOMPILE_ADDRESS)]
    pub precompile: Address,
    /// Run at the node with `aiop_infer` instead of `eth_call` to the precompile.
    #[arg(long)]
    pub offchain: bool,
}

/// Parses an input: `0x` hex, or `@path` to a file of raw bytes or of `0x` hex text.
pub fn parse_input(s: &str) -> Result<Bytes, String> {
    let from_hex = |text: &str| -> Result<Bytes, String> {
        let text = text.trim();
        let digits =
            text.strip_prefix("0x").ok_or_else(|| format!("the input must be 0x hex or @PATH (got {text:.20?})"))?;
        alloy_primitives::hex::decode(digits).map(Bytes::from).map_err(|e| format!("bad hex input: {e}"))
    };
    match s.strip_prefix('@') {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read input file {path}: {e}"))?;
            match std::str::from_utf8(&bytes) {
                Ok(text) if text.trim_start().starts_with("0x") => from_hex(text),
                _ => Ok(Bytes::from(bytes)),
            }
        }
        None => from_hex(s),
    }
}

/// Parses `2s`, `500ms`, `1m` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| format!("bad duration {s:?}: use e.g. 2s, 500ms, 1m"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(format!("bad duration unit in {s:?}: use ms, s or m")),
    };
    if d.is_zero() {
        return Err("block time must be positive".into());
    }
    Ok(d)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,jsonrpsee=warn"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the node until Ctrl-C (or SIGTERM).
pub fn run_node(args: NodeArgs) -> anyhow::Result<()> {
    init_tracing();
    let kernels = args.kernels.resolve().map_err(|e| anyhow!("--kernels: {e}"))?;
    let (datadir, _tmp) = match &args.datadir {
        Some(d) => (d.clone(), None),
        None => {
            let tmp = tempfile::Builder::new().prefix("aiop-node-").tempdir()?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let genesis = args.chain.as_deref().map(load_genesis).transpose()?;
    let node = Arc::new(Node::open(NodeConfig {
        datadir: datadir.clone(),
        genesis,
        dev: args.dev,
        block_time: args.block_time,
        kernels,
    })?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let limits = RpcLimits {
            gas_cap: args.rpc_gascap,
            evm_timeout: args.rpc_evmtimeout,
            max_blocks_per_filter: args.rpc_max_blocks_per_filter,
            max_logs_per_response: args.rpc_max_logs_per_response,
            ..RpcLimits::default()
        };
        let config = ServerConfig {
            addr: (args.http_addr, args.http_port).into(),
            cors: args.http_corsdomain.clone(),
            vhosts: args.http_vhosts.clone(),
            ws_origins: args.ws_origins.clone(),
            max_request_bytes: args.rpc_max_request_size.saturating_mul(1024 * 1024),
            max_response_bytes: args.rpc_max_response_size.saturating_mul(1024 * 1024),
            max_connections: args.rpc_max_connections,
            max_batch: args.rpc_max_batch_size,
            ..ServerConfig::default()
        };
        let (handle, local) = serve(RpcCtx::with_limits(node.clone(), limits), &config)
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.http_addr, args.http_port))?;
        print_banner(&node, &datadir, kernels.name(), args.block_time);
        if args.dev && !args.http_addr.is_loopback() {
            tracing::warn!(
                "--dev with --http.addr {}: the ten dev accounts' keys are public and the node signs for them; anyone who can reach this address can spend from them and change the chain with the anvil_ and evm_ helpers",
                args.http_addr
            );
            eprintln!(
                "WARNING: --dev listens on {} beyond loopback: the dev accounts' keys are public; anyone who can reach it can spend their funds and rewrite the chain",
                args.http_addr
            );
        }
        println!("WebSocket JSON-RPC listening on ws://{local}");
        println!("HTTP JSON-RPC listening on http://{local}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // The miner ends only on an error the node cannot serve past (a block the database
        // would not commit, a poisoned lock); the node then stops and the binary exits non-zero.
        let miner = args.block_time.map(|every| {
            let node = node.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let n = node.clone();
                    match tokio::task::spawn_blocking(move || n.mine_pending()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e @ (NodeError::Commit { .. } | NodeError::Poisoned(_)))) => return e,
                        Ok(Err(e)) => tracing::error!("mining failed: {e}"),
                        Err(e) => return NodeError::Internal(format!("the miner thread failed: {e}")),
                    }
                }
            })
        });
        let failure = async {
            match miner {
                Some(m) => match m.await {
                    Ok(e) => Some(e),
                    Err(e) => Some(NodeError::Internal(format!("the miner task failed: {e}"))),
                },
                None => std::future::pending().await,
            }
        };
        let failed = tokio::select! {
            _ = shutdown_signal() => None,
            e = failure => e,
        };
        info!("shutting down");
        let _ = handle.stop();
        handle.stopped().await;
        if let Some(e) = failed {
            return Err(anyhow::Error::new(e).context("the node stopped"));
        }
        info!(head = node.read()?.head().header.number, "stopped cleanly");
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn print_banner(node: &Node, datadir: &std::path::Path, kernels: &str, block_time: Option<Duration>) {
    let Ok(chain) = node.read() else { return };
    let head = chain.head().header.number;
    println!("aiop devnet  chain id {}  hardfork {}  kernels {kernels}", node.chain_id(), crate::node::spec_name());
    println!("datadir {}  head block {head}", datadir.display());
    match block_time {
        Some(d) => println!("block time {d:?}"),
        None => println!("one block per transaction"),
    }
    if !node.accounts().is_empty() {
        println!("\nAvailable accounts (mnemonic: {})", crate::chain::DEV_MNEMONIC);
        for (i, a) in node.accounts().iter().enumerate() {
            println!("({i}) {}  private key {}", a.address, a.key_hex());
        }
    }
    if node.genesis().config.chain_id == crate::chain::DEV_CHAIN_ID {
        println!("\nExample models");
        for (i, (name, _)) in EXAMPLE_MODELS.iter().enumerate() {
            if chain.world().account(&model_address(i)).is_some() {
                println!("{}  {name}", model_address(i));
            }
        }
        for (name, plan) in crate::chain::transformer_plans() {
            if chain.world().account(&plan.address()).is_some() {
                println!("{}  {name} (format v3, {} accounts)", plan.address(), plan.contracts.len());
            }
        }
    }
    println!();
}

/// Runs `aiop chain <command>`.
pub fn run_chain(cmd: ChainCommand) -> anyhow::Result<()> {
    match cmd {
        ChainCommand::Verify(args) => run_chain_verify(args),
    }
}

/// Runs `aiop chain verify`.
pub fn run_chain_verify(args: ChainVerifyArgs) -> anyhow::Result<()> {
    let kernels = args.kernels.resolve().map_err(|e| anyhow!("--kernels: {e}"))?;
    let report = crate::verify::verify(&args.datadir, kernels, !args.quiet)?;
    println!(
        "verified {} blocks ({} transactions, {} gas, {} blocks with dev-mode state edits) with {} kernels in {:.2} s: state roots, receipts roots, gas used and block hashes match",
        report.blocks,
        report.txs,
        report.gas,
        report.edited_blocks,
        kernels.name(),
        report.seconds
    );
    Ok(())
}

fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(future))
}

/// Runs `aiop model deploy`: the model's data contracts through the deterministic deployment
/// proxy, skipping those already on chain. Prints the model's address on stdout; the plan, each
/// transaction and the totals on stderr.
pub fn run_model_deploy(args: ModelDeployArgs) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {file}"))?;
    aiop_engine::check(&bytes).map_err(|e| anyhow!("{file} is not a valid aiop model: {e}"))?;
    let plan = crate::deploy::plan(&bytes, args.salt).with_context(|| format!("cannot deploy {file}"))?;
    eprintln!(
        "{file}: {} bytes, model id {}, {} ({} data contract{}), salt {}",
        plan.model_len,
        plan.model_id,
        plan.layout(),
        plan.contracts.len(),
        if plan.contracts.len() == 1 { "" } else { "s" },
        plan.salt
    );
    if args.dry_run {
        for c in &plan.contracts {
            eprintln!("{:<12} {}  {} bytes of code", c.kind.to_string(), c.address, c.code.len());
        }
        println!("{}", plan.address());
        return Ok(());
    }
    let key = args.private_key.as_deref().ok_or_else(|| anyhow!("--private-key (or AIOP_PRIVATE_KEY) is required"))?;
    let (provider, from) = client::connect_signing(&args.rpc_url, key)?;
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(plan.contracts.len() as u64).with_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} data contracts  {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        )
    };
    let outcomes = block_on(async {
        client::check_deployer(&provider, &args.rpc_url).await?;
        let mut outcomes = Vec::with_capacity(plan.contracts.len());
        for c in &plan.contracts {
            bar.set_message(format!("{} {}", c.kind, c.address));
            let label = c.kind.to_string();
            let outcome = client::deploy_contract(&provider, from, c, |hash| {
                bar.set_message(format!("{label}: waiting for {hash}"));
            })
            .await?;
            let line = match &outcome {
                client::Outcome::Reused => format!("{label:<12} {}  already on chain, reused", c.address),
                client::Outcome::Deployed { tx_hash, block, gas_used } => {
                    format!("{label:<12} {}  deployed by tx {tx_hash} (block {block}, gas {gas_used})", c.address)
                }
                client::Outcome::DeployedEarlier { tx_hash, gas_used } => format!(
                    "{label:<12} {}  on chain from an earlier transaction; tx {tx_hash} reverted (gas {gas_used})",
                    c.address
                ),
            };
            bar.suspend(|| eprintln!("{line}"));
            bar.inc(1);
            outcomes.push(outcome);
        }
        anyhow::Ok(outcomes)
    })?;
    bar.finish_and_clear();
    let outcomes = outcomes?;
    let sent = outcomes.iter().filter(|o| !matches!(o, client::Outcome::Reused)).count();
    let reused = outcomes.len() - sent;
    let gas: u64 = outcomes.iter().map(client::Outcome::gas_used).sum();
    if sent == 0 {
        match outcomes.len() {
            1 => eprintln!("nothing to deploy: the model's data contract is already on chain"),
            n => eprintln!("nothing to deploy: all {n} data contracts are already on chain"),
        }
    } else {
        eprintln!("{sent} transaction{} ({reused} reused), total gas {gas}", if sent == 1 { "" } else { "s" });
    }
    let what = if plan.is_chunked() { "manifest" } else { "model account" };
    eprintln!("model {} ({what}), model id {}", plan.address(), plan.model_id);
    println!("{}", plan.address());
    Ok(())
}

/// Runs `aiop model call`.
pub fn run_model_call(args: ModelCallArgs) -> anyhow::Result<()> {
    let input = args.input_arg.or(args.input).ok_or_else(|| anyhow!("give the input (0x hex or @PATH)"))?;
    let provider = client::connect(&args.rpc_url)?;
    let out = block_on(async {
        if args.offchain {
            client::infer_offchain(&provider, args.address, input).await
        } else {
            client::call_model(&provider, &args.rpc_url, args.address, input, args.precompile).await
        }
    })??;
    println!("{out}");
    Ok(())
}
