//! A local devnet for trying the lookahead end to end: anvil (a real node) with short slots,
//! small windows and finality tags, the registry deployed from the committed artifact, sample
//! rollups and sequencers (some operators on several rollups, so shared slots exist), and
//! reorg injection with `anvil_reorg`.

use crate::{
    core::{
        clock::SlotClock,
        contract::{SequencerRegistry, SlotInbox},
        domain::RegistryDomain,
        primitives::ChainId,
    },
    service::follower::{FollowerError, read_clock},
};
use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::{
        SignerSync,
        local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
    },
    transports::TransportError,
};
use alloy_primitives::{Address, BlockNumber, U256};
use alloy_sol_types::{SolCall, SolConstructor};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::process::{Child, Command};

/// The test mnemonic whose accounts anvil and `reth --dev` fund.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// How many dev accounts the samples use: the deployer and rollup admin (0), three operators
/// (1–3) and their preconfirmation signers (4–6, see [`sample_signer`]).
pub const DEV_ACCOUNTS: u32 = 7;

/// The sample rollups' chain ids.
pub const SAMPLE_ROLLUPS: [u64; 3] = [101, 102, 103];

/// Which dev accounts (by index in [`dev_signers`]) sequence each sample rollup. Operator 1 is
/// on all three, 2 on 0x65 and 0x66: two sequencers (1 and 2) serve both of those, so a bundle
/// for them meets either two different sequencers or one shared operator.
pub const SAMPLE_OPERATORS: [&[usize]; 3] = [&[1, 2], &[1, 2], &[1, 3]];

/// The dev account that signs sample operator `operator`'s preconfirmations: a hot key apart
/// from the bonded operator account, registered with its consent (`signerProof`).
pub const fn sample_signer(operator: usize) -> usize {
    operator + 3
}

/// The default port base of the sample endpoints: operator `i` registers port `9600 + i`.
pub const SAMPLE_PORT_BASE: u16 = 9600;

/// The bond the samples post, in wei.
const SAMPLE_BOND: u64 = 1_000_000_000_000_000_000;

/// Slots after its own during which a sample rollup's inbox still takes a slot's batch (SPEC §8).
pub const SAMPLE_GRACE_SLOTS: u64 = 4;

/// The dev account the devnet's watcher sends its slashes and miss reports from: none of the
/// samples' accounts, so its balance shows what it earned.
pub const WATCHER_ACCOUNT: u32 = DEV_ACCOUNTS;

/// Why the devnet could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// anvil could not be started.
    #[error("starting anvil at {path}: {source}")]
    Spawn {
        /// The anvil binary.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// anvil did not answer in time.
    #[error("anvil did not answer on {0} within 30 s")]
    NotReady(String),
    /// A request to the node failed.
    #[error("{what}: {source}")]
    Node {
        /// What was being done.
        what: &'static str,
        /// The transport's error.
        source: TransportError,
    },
    /// A transaction reverted or produced no contract.
    #[error("{0}")]
    Transaction(String),
    /// Reading the deployed registry failed.
    #[error(transparent)]
    Registry(#[from] FollowerError),
}

fn node(what: &'static str) -> impl FnOnce(TransportError) -> DevnetError {
    move |source| DevnetError::Node { what, source }
}

/// The first `count` accounts of [`DEV_MNEMONIC`] (`m/44'/60'/0'/0/i`), the same keys anvil and
/// `reth --dev` fund; signing locally works on nodes that keep no unlocked accounts.
pub fn dev_signers(count: u32) -> Vec<PrivateKeySigner> {
    (0..count)
        .map(|index| {
            MnemonicBuilder::<English>::default()
                .phrase(DEV_MNEMONIC)
                .index(index)
                .and_then(|builder| builder.build())
                .expect("the test mnemonic and its first indices derive")
        })
        .collect()
}

/// A wallet holding `signers`, for a provider that signs the devnet's transactions.
fn dev_wallet(signers: &[PrivateKeySigner]) -> EthereumWallet {
    let mut wallet = EthereumWallet::default();
    for signer in signers {
        wallet.register_signer(signer.clone());
    }
    wallet
}

/// Connects to a dev node (anvil or `reth --dev`) with a provider that signs for the first
/// [`DEV_ACCOUNTS`] dev accounts; returns it and their addresses.
pub async fn connect_dev(url: &str) -> Result<(DynProvider, Vec<Address>), DevnetError> {
    let signers = dev_signers(DEV_ACCOUNTS);
    let accounts = signers.iter().map(|signer| signer.address()).collect();
    let provider = ProviderBuilder::new()
        .wallet(dev_wallet(&signers))
        .connect(url)
        .await
        .map_err(node("connecting to the dev node"))?;
    Ok((provider.erased(), accounts))
}

/// A running anvil, killed when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    /// Its HTTP JSON-RPC URL.
    pub url: String,
}

impl Anvil {
    /// Starts `anvil` on `127.0.0.1:port`, mining a block every `slot_seconds` (or one per
    /// transaction, and on `evm_mine`, with `None`), with `slots_in_epoch` for its `safe` and
    /// `finalized` tags; waits until it answers.
    pub async fn start(
        path: &Path,
        port: u16,
        slot_seconds: Option<u64>,
        slots_in_epoch: u64,
    ) -> Result<Self, DevnetError> {
        let mut command = Command::new(native_anvil(path));
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--slots-in-an-epoch", &slots_in_epoch.to_string()]);
        if let Some(seconds) = slot_seconds {
            command.args(["--block-time", &seconds.to_string()]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| DevnetError::Spawn { path: path.display().to_string(), source })?;
        let anvil = Self { child, url: format!("http://127.0.0.1:{port}") };
        let provider = alloy::providers::ProviderBuilder::new()
            .connect_http(anvil.url.parse().expect("a valid URL"));
        for _ in 0..300 {
            if provider.get_block_number().await.is_ok() {
                return Ok(anvil);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(DevnetError::NotReady(anvil.url.clone()))
    }

    /// Stops anvil.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The native binary behind the npm package's `anvil` launcher: the launcher is a Node script
/// whose child would outlive a kill of the launcher. Other paths are returned as they are.
pub fn native_anvil(path: &Path) -> PathBuf {
    let native = path
        .parent()
        .filter(|bin| bin.file_name().is_some_and(|name| name == ".bin"))
        .and_then(|bin| std::fs::read_dir(bin.parent()?.join("@foundry-rs")).ok())
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("anvil-"))
        .map(|entry| entry.path().join("bin").join("anvil"))
        .find(|candidate| candidate.is_file());
    native.unwrap_or_else(|| path.to_path_buf())
}

/// Deploys the registry from `from` (a dev account the provider can sign for) with the chain's genesis block
/// time as `genesisTime`; returns its address, deployment block and clock.
pub async fn deploy_registry(
    provider: &DynProvider,
    from: Address,
    slot_seconds: u64,
    window_slots: u64,
) -> Result<(Address, BlockNumber, SlotClock), DevnetError> {
    let genesis = provider
        .get_block_by_number(0.into())
        .await
        .map_err(node("reading the genesis block"))?
        .ok_or_else(|| DevnetError::Transaction("the node has no genesis block".into()))?;
    let args = SequencerRegistry::constructorCall {
        genesisTime_: genesis.header.timestamp,
        slotSeconds_: slot_seconds,
        windowSlots_: window_slots,
    };
    let mut code = SequencerRegistry::BYTECODE.to_vec();
    code.extend_from_slice(&args.abi_encode());
    let tx = TransactionRequest::default().with_from(from).with_deploy_code(code);
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(node("sending the deployment"))?
        .get_receipt()
        .await
        .map_err(|e| DevnetError::Transaction(format!("deployment receipt: {e}")))?;
    let (Some(registry), Some(block)) = (receipt.contract_address, receipt.block_number) else {
        return Err(DevnetError::Transaction("the deployment created no contract".into()));
    };
    let clock = read_clock(provider, registry, std::time::Duration::from_secs(10)).await?;
    Ok((registry, block, clock))
}

/// Whether `address` holds code: a dev node restarted on its datadir keeps its registry.
pub async fn has_code(provider: &DynProvider, address: Address) -> Result<bool, DevnetError> {
    let code = provider.get_code_at(address).await.map_err(node("reading code"))?;
    Ok(!code.is_empty())
}

/// Registers [`SAMPLE_ROLLUPS`] (admin: `accounts[0]`), deploys a `SlotInbox` for each (grace
/// [`SAMPLE_GRACE_SLOTS`]) and names it with `setInbox` (in force at once, before any sequencer
/// registers), then registers their sequencers (operators `accounts[1..=3]`, each with the
/// signer [`sample_signer`] and its consent, and the endpoint [`sample_endpoint`]), in the next
/// blocks. The provider must sign for [`DEV_ACCOUNTS`] accounts. Returns each rollup's inbox.
pub async fn register_samples(
    provider: &DynProvider,
    registry: Address,
    accounts: &[Address],
    endpoint_port_base: u16,
) -> Result<BTreeMap<u64, Address>, DevnetError> {
    if accounts.len() < DEV_ACCOUNTS as usize {
        return Err(DevnetError::Transaction(format!(
            "the samples need {DEV_ACCOUNTS} dev accounts, got {}",
            accounts.len()
        )));
    }
    let l1_chain_id = provider.get_chain_id().await.map_err(node("reading the chain id"))?;
    let domain = RegistryDomain::new(l1_chain_id, registry);
    let keys = dev_signers(DEV_ACCOUNTS);
    let mut rollups = Vec::new();
    let mut sequencers = Vec::new();
    for (rollup, operators) in SAMPLE_ROLLUPS.iter().zip(SAMPLE_OPERATORS) {
        let chain_id = U256::from(*rollup);
        let register_rollup = SequencerRegistry::registerRollupCall {
            chainId: chain_id,
            admin: accounts[0],
            minBond: U256::from(SAMPLE_BOND),
        };
        rollups.push((accounts[0], U256::ZERO, register_rollup.abi_encode()));
        for &operator in operators {
            let signer = &keys[sample_signer(operator)];
            let consent = domain.signer_consent_hash(ChainId(chain_id), accounts[operator]);
            let proof = signer.sign_hash_sync(&consent).map_err(|e| {
                DevnetError::Transaction(format!("signing the signer's consent: {e}"))
            })?;
            let register = SequencerRegistry::registerCall {
                chainId: chain_id,
                signer: signer.address(),
                rpcUrl: sample_endpoint(endpoint_port_base, operator),
                signerProof: proof.as_bytes().to_vec().into(),
            };
            sequencers.push((accounts[operator], U256::from(SAMPLE_BOND), register.abi_encode()));
        }
    }
    // The rollups first: a node estimates the registrations' gas on its latest state.
    send_all(provider, registry, rollups).await?;
    let mut inboxes = BTreeMap::new();
    let mut set_inboxes = Vec::new();
    for rollup in SAMPLE_ROLLUPS {
        let inbox = deploy_inbox(provider, accounts[0], registry, rollup).await?;
        let set = SequencerRegistry::setInboxCall { chainId: U256::from(rollup), inbox };
        set_inboxes.push((accounts[0], U256::ZERO, set.abi_encode()));
        inboxes.insert(rollup, inbox);
    }
    send_all(provider, registry, set_inboxes).await?;
    send_all(provider, registry, sequencers).await?;
    Ok(inboxes)
}

/// Deploys a `SlotInbox` for `rollup` from `from`, with [`SAMPLE_GRACE_SLOTS`].
pub async fn deploy_inbox(
    provider: &DynProvider,
    from: Address,
    registry: Address,
    rollup: u64,
) -> Result<Address, DevnetError> {
    let args = SlotInbox::constructorCall {
        registry_: registry,
        chainId_: U256::from(rollup),
        graceSlots_: SAMPLE_GRACE_SLOTS,
    };
    let mut code = SlotInbox::BYTECODE.to_vec();
    code.extend_from_slice(&args.abi_encode());
    let tx = TransactionRequest::default().with_from(from).with_deploy_code(code);
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(node("sending an inbox deployment"))?
        .get_receipt()
        .await
        .map_err(|e| DevnetError::Transaction(format!("inbox deployment receipt: {e}")))?;
    receipt
        .contract_address
        .filter(|_| receipt.status())
        .ok_or_else(|| DevnetError::Transaction("the inbox deployment created no contract".into()))
}

/// The endpoint the sample sequencer of dev account `operator` registers.
pub fn sample_endpoint(port_base: u16, operator: usize) -> String {
    format!("http://127.0.0.1:{}", usize::from(port_base) + operator)
}

/// Sends the calls to `registry` and waits until every one is mined and succeeded.
async fn send_all(
    provider: &DynProvider,
    registry: Address,
    calls: Vec<(Address, U256, Vec<u8>)>,
) -> Result<(), DevnetError> {
    let mut pending = Vec::new();
    for (from, value, input) in calls {
        let tx = TransactionRequest::default()
            .with_from(from)
            .with_to(registry)
            .with_value(value)
            .with_input(input);
        pending.push(provider.send_transaction(tx).await.map_err(node("sending a registration"))?);
    }
    for tx in pending {
        let receipt = tx
            .get_receipt()
            .await
            .map_err(|e| DevnetError::Transaction(format!("registration receipt: {e}")))?;
        if !receipt.status() {
            return Err(DevnetError::Transaction(format!(
                "registration {} reverted",
                receipt.transaction_hash
            )));
        }
    }
    Ok(())
}

/// Replaces the node's last `depth` blocks with new ones (`anvil_reorg`).
pub async fn reorg(provider: &DynProvider, depth: u64) -> Result<(), DevnetError> {
    let no_transactions: Vec<()> = Vec::new();
    provider
        .raw_request::<_, ()>("anvil_reorg".into(), (depth, no_transactions))
        .await
        .map_err(node("anvil_reorg"))
}
