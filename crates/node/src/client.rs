//! The JSON-RPC side of `aiop model deploy|call`, on alloy's provider (HTTP through reqwest),
//! so that users without Foundry can deploy a model and call the precompile on any chain.

use crate::deploy::{DEPLOYER, PlannedContract};
use alloy_network::{EthereumWallet, ReceiptResponse, TransactionBuilder};
use alloy_primitives::{Address, B256, Bytes};
use alloy_provider::{DynProvider, Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context, anyhow, bail};
use std::time::{Duration, Instant};

/// The precompile's default address.
pub const PRECOMPILE_ADDRESS: Address = aiop_precompile::DEFAULT_ADDRESS;

pub use aiop_precompile::abi::inferCall;

/// How long a deploy waits for one transaction's receipt.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(300);

fn parse_url(text: &str) -> anyhow::Result<url::Url> {
    let parsed: url::Url = text.parse().with_context(|| format!("--rpc-url (or ETH_RPC_URL) {text:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--rpc-url (or ETH_RPC_URL) must be an http:// or https:// URL (got {text})");
    }
    Ok(parsed)
}

/// A read-only provider for `url`.
pub fn connect(url: &str) -> anyhow::Result<DynProvider> {
    Ok(ProviderBuilder::new().connect_http(parse_url(url)?).erased())
}

/// A provider for `url` that signs with `private_key` (hex, `0x` optional) and fills nonce,
/// chain id and fees; and the signer's address.
pub fn connect_signing(url: &str, private_key: &str) -> anyhow::Result<(DynProvider, Address)> {
    let signer: PrivateKeySigner = private_key
        .trim()
        .parse()
        .map_err(|_| anyhow!("--private-key (or AIOP_PRIVATE_KEY) is not a 32-byte hex private key"))?;
    let from = signer.address();
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(parse_url(url)?).erased();
    Ok((provider, from))
}

/// Reports why the node cannot be used, naming the URL.
fn unreachable(url: &str) -> impl FnOnce(alloy_provider::transport::TransportError) -> anyhow::Error + '_ {
    move |e| anyhow!("cannot reach the JSON-RPC endpoint {url} (is the node running?): {e}")
}

/// Checks that the deterministic deployment proxy is on the chain.
pub async fn check_deployer(provider: &DynProvider, url: &str) -> anyhow::Result<()> {
    let code = provider.get_code_at(DEPLOYER).await.map_err(unreachable(url))?;
    if code.is_empty() {
        let chain = provider.get_chain_id().await.map(|id| format!(" (chain id {id})")).unwrap_or_default();
        bail!(
            "the deterministic deployment proxy {DEPLOYER} has no code on the chain at {url}{chain}; \
             `aiop model deploy` creates every data contract through it (CREATE2) so that addresses depend only \
             on the model and the salt. To fix it: on a public chain, send the proxy's pre-signed deployment \
             transaction (https://github.com/Arachnid/deterministic-deployment-proxy: fund \
             0x3fab184622dc19b6109349b94811493bf2a45362 with 0.01 ether, then `cast publish` the raw transaction \
             from its README); on your own chain, add it to the genesis alloc (code 0x{}), or start an aiop node \
             of this version with a new --datadir (its genesis has it)",
            alloy_primitives::hex::encode(crate::deploy::DEPLOYER_CODE)
        );
    }
    Ok(())
}

/// What happened to one planned data contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It was already on chain with the planned code; nothing was sent.
    Reused,
    /// A transaction deployed it.
    Deployed {
        /// The deploying transaction.
        tx_hash: B256,
        /// Block it was mined in.
        block: u64,
        /// Gas it used.
        gas_used: u64,
    },
    /// A transaction was mined but reverted because an earlier transaction (one sent before an
    /// interruption) deployed the contract first; the gas was spent.
    DeployedEarlier {
        /// This run's transaction, which reverted.
        tx_hash: B256,
        /// Gas it used.
        gas_used: u64,
    },
}

impl Outcome {
    /// Gas this run spent on the contract.
    pub fn gas_used(&self) -> u64 {
        match self {
            Outcome::Reused => 0,
            Outcome::Deployed { gas_used, .. } | Outcome::DeployedEarlier { gas_used, .. } => *gas_used,
        }
    }
}

/// Deploys `contract` through the proxy unless its address already holds the planned code.
/// `sent` is told the hash as soon as the transaction is accepted.
pub async fn deploy_contract(
    provider: &DynProvider,
    from: Address,
    contract: &PlannedContract,
    sent: impl FnOnce(B256),
) -> anyhow::Result<Outcome> {
    let what = format!("{} at {}", contract.kind, contract.address);
    let code_now =
        || async { provider.get_code_at(contract.address).await.with_context(|| format!("eth_getCode of the {what}")) };
    let code = code_now().await?;
    if code == contract.code {
        return Ok(Outcome::Reused);
    }
    if !code.is_empty() {
        bail!(
            "{what} already holds {} bytes of code that is not the planned data contract; \
             the chain's state is not what CREATE2 allows (deploy with another --salt)",
            code.len()
        );
    }
    // A transaction sent before an interruption may still be in the pool: let it land first
    // rather than pay for a second creation that would revert.
    if wait_for_pending(provider, from).await? && code_now().await? == contract.code {
        return Ok(Outcome::Reused);
    }
    let tx = TransactionRequest::default().with_from(from).with_to(DEPLOYER).with_input(contract.calldata.clone());
    let gas = match provider.estimate_gas(tx.clone()).await {
        Ok(gas) => gas,
        Err(e) => {
            // A transaction sent before an interruption may have landed meanwhile.
            if code_now().await? == contract.code {
                return Ok(Outcome::Reused);
            }
            bail!("cannot estimate the gas to deploy the {what} (does {from} have enough ether?): {e}")
        }
    };
    let tx = tx.with_gas_limit(gas + gas / 10);
    let pending = provider
        .send_transaction(tx)
        .await
        .with_context(|| format!("sending the transaction that deploys the {what} from {from}"))?;
    let tx_hash = *pending.tx_hash();
    sent(tx_hash);
    let started = Instant::now();
    let receipt = loop {
        if let Some(receipt) = provider
            .get_transaction_receipt(tx_hash)
            .await
            .with_context(|| format!("eth_getTransactionReceipt of {tx_hash}"))?
        {
            break receipt;
        }
        if started.elapsed() > RECEIPT_TIMEOUT {
            bail!(
                "transaction {tx_hash} (deploying the {what}) was not mined within {} s; run the same command \
                 again later: it reuses what is on chain",
                RECEIPT_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let gas_used = receipt.gas_used();
    let landed = code_now().await? == contract.code;
    match (receipt.status(), landed) {
        (true, true) => Ok(Outcome::Deployed { tx_hash, block: receipt.block_number().unwrap_or_default(), gas_used }),
        (false, true) => Ok(Outcome::DeployedEarlier { tx_hash, gas_used }),
        (true, false) => bail!("transaction {tx_hash} succeeded but the {what} has no code: is {DEPLOYER} the proxy?"),
        (false, false) => bail!("transaction {tx_hash} deploying the {what} reverted (gas used {gas_used})"),
    }
}

/// Waits until `from` has no transaction in the pool (its pending nonce is its latest); whether
/// there was one.
async fn wait_for_pending(provider: &DynProvider, from: Address) -> anyhow::Result<bool> {
    let started = Instant::now();
    let mut waited = false;
    loop {
        let latest = provider.get_transaction_count(from).latest().await.context("eth_getTransactionCount")?;
        let pending = provider.get_transaction_count(from).pending().await.context("eth_getTransactionCount")?;
        if pending <= latest {
            return Ok(waited);
        }
        if started.elapsed() > RECEIPT_TIMEOUT {
            bail!(
                "{from} has {} transaction(s) in the pool not mined within {} s; run the same command again once \
                 they are mined (or replaced)",
                pending - latest,
                RECEIPT_TIMEOUT.as_secs()
            );
        }
        waited = true;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Calls the precompile's `infer(model, input)` with `eth_call` and returns the output bytes;
/// a revert is read with [`aiop_precompile::revert::describe`].
pub async fn call_model(
    provider: &DynProvider,
    url: &str,
    model: Address,
    input: Bytes,
    precompile: Address,
) -> anyhow::Result<Bytes> {
    use alloy_sol_types::SolCall;
    let data = Bytes::from(inferCall { model, input }.abi_encode());
    let tx = TransactionRequest::default().with_to(precompile).with_input(data);
    let out = match provider.call(tx).await {
        Ok(out) => out,
        Err(e) => {
            if let Some(data) = e.as_error_resp().and_then(|r| r.as_revert_data()) {
                match aiop_precompile::revert::describe(&data) {
                    Some(text) => bail!("the precompile reverted: {text}"),
                    None => bail!("the call to {precompile} reverted with data {data}"),
                }
            }
            if e.as_error_resp().is_some() {
                bail!("eth_call to the precompile failed: {e}");
            }
            return Err(unreachable(url)(e));
        }
    };
    if out.is_empty() {
        bail!("the precompile at {precompile} returned nothing: is the aiop precompile active on this chain?");
    }
    inferCall::abi_decode_returns(&out).map_err(|e| anyhow!("cannot decode the precompile's output: {e}"))
}

/// Runs a model off-chain at the node (`aiop_infer`).
pub async fn infer_offchain(provider: &DynProvider, model: Address, input: Bytes) -> anyhow::Result<Bytes> {
    provider.raw_request("aiop_infer".into(), (model, input)).await.context("aiop_infer failed")
}
