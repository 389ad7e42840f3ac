//! `lookahead sequencer`: the reference preconf sequencer as a process.

use crate::{
    limits::RpcLimits,
    upstream::{UpstreamArgs, run_until_shutdown},
};
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, U256};
use clap::Args;
use eyre::WrapErr;
use jsonrpsee::http_client::HttpClient;
use sequencer_lookahead::{
    ChainId,
    preconf::{
        batcher::post_batches,
        book::Limits,
        limiter::ClientLimits,
        promise::PromiseSigner,
        reorgs::ReorgWatch,
        sequencer::{PreconfSequencer, SequencerConfig},
        store::PromiseStore,
    },
    rpc::api::LookaheadApiClient,
    service::l1::{TxPolicy, TxSender},
};
use std::{
    collections::BTreeSet,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};
use tracing::{info, warn};

#[derive(Debug, Args)]
pub(crate) struct SequencerArgs {
    /// A rollup this sequencer serves (decimal or 0x-hex); repeat for several.
    #[arg(long = "chain-id", required = true, value_parser = parse_chain_id)]
    chain_ids: Vec<ChainId>,
    /// File holding the hex private key of the registered `signer`.
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    upstream: UpstreamArgs,
    /// Follow the lookahead's reorg notifications (`lookahead_subscribe`), so that a confirm
    /// asks the lookahead again only when a reorg was reported since its lock's selection was
    /// read. false: every confirm of a slot whose anchor is not final asks the lookahead.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    follow_reorgs: bool,
    /// The lookahead's WebSocket, for its reorg notifications [default: --lookahead-rpc as
    /// ws:// or wss://]: the same lookahead as --lookahead-rpc, not another replica. A Reth node
    /// serves WebSockets on a port of their own (--ws.port).
    #[arg(long)]
    lookahead_ws: Option<String>,
    /// Address the `preconf_` RPC listens on.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    http_addr: IpAddr,
    /// Port of the `preconf_` RPC (the port of the registered `rpcUrl`).
    #[arg(long = "http.port", default_value_t = 9601)]
    http_port: u16,
    /// Where issued promises are stored; a restart keeps them.
    #[arg(long, default_value = "sequencer-data")]
    datadir: PathBuf,
    /// Gas one slot holds per rollup (sum of the locked and promised txs' gas limits).
    #[arg(long, default_value_t = 30_000_000)]
    slot_gas: u64,
    /// Open locks one client (IP address, over all its connections) may hold.
    #[arg(long, default_value_t = 256)]
    locks_per_caller: usize,
    /// Open locks in total.
    #[arg(long, default_value_t = 4096)]
    locks_total: usize,
    /// Share of a slot's gas (per rollup) one client IP may hold, locked and promised, in
    /// percent: no single client can lock a whole slot.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100))]
    caller_slot_share: u64,
    /// Transactions one sender (the transactions' signer) may have locked or promised in one
    /// slot of one rollup.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    sender_txs_per_slot: u64,
    /// Transactions one client IP may have checked per second, on average: each lock's
    /// signatures are recovered (the costliest check), after the cheap ones. Over it: -39108.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..))]
    txs_per_second: u32,
    /// Transactions one client IP may have checked at once after being idle; at least 256,
    /// the most one lock carries.
    #[arg(long, default_value_t = 1_024, value_parser = clap::value_parser!(u32).range(256..))]
    tx_burst: u32,
    #[command(flatten)]
    limits: RpcLimits,
    /// Post a batch to the rollup's inbox (SPEC §8) for every slot this signer is selected for,
    /// from the signer's account on `--l1-rpc`: the promised hashes, in order. Without batches
    /// every selected slot closes as missed, and every promise as broken.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    post_batches: bool,
}

/// Serves `preconf_` for `--chain-id`s with `--key` until Ctrl-C.
pub(crate) async fn run(args: SequencerArgs) -> eyre::Result<()> {
    let key = std::fs::read_to_string(&args.key)
        .wrap_err_with(|| format!("while reading the key file {}", args.key.display()))?;
    let signer: PrivateKeySigner = key
        .trim()
        .parse()
        .wrap_err_with(|| format!("{} does not hold a hex private key", args.key.display()))?;
    let (lookahead, domain, clock) = args.upstream.connect(Duration::from_secs(2)).await?;
    std::fs::create_dir_all(&args.datadir)
        .wrap_err_with(|| format!("while creating {}", args.datadir.display()))?;
    let path = args.datadir.join("promises.redb");
    let store =
        PromiseStore::open(&path).wrap_err_with(|| format!("while opening {}", path.display()))?;
    let config = SequencerConfig {
        signer: PromiseSigner::new(&signer),
        chain_ids: args.chain_ids.iter().copied().collect::<BTreeSet<_>>(),
        domain,
        clock,
        limits: Limits {
            slot_gas: args.slot_gas,
            locks_per_caller: args.locks_per_caller,
            locks_total: args.locks_total,
            caller_slot_gas: percent_of(args.slot_gas, args.caller_slot_share),
            sender_txs_per_slot: usize::try_from(args.sender_txs_per_slot).unwrap_or(usize::MAX),
        },
        signatures: ClientLimits {
            per_second: args.txs_per_second,
            burst: args.tx_burst,
            // Requests in flight are bounded per client IP by --rpc.max-connections-per-ip.
            in_flight: u32::MAX,
            max_clients: 10_000,
        },
    };
    warn_if_unregistered(&lookahead, &args.chain_ids, config.signer.address()).await;
    let reorgs = if args.follow_reorgs {
        let url = match args.lookahead_ws {
            Some(url) => url,
            None => websocket_of(args.upstream.lookahead_rpc())?,
        };
        ReorgWatch::follow(url)
    } else {
        ReorgWatch::unfollowed()
    };
    let sequencer = PreconfSequencer::new(config, lookahead, reorgs, store)?;
    if args.post_batches {
        let sender = TxSender::connect(args.upstream.l1_rpc(), signer.clone(), TxPolicy::default())
            .await
            .wrap_err("while connecting the batch poster to the L1 node")?;
        tokio::spawn(post_batches(sequencer.clone(), Arc::new(sender)));
    } else {
        warn!("--post-batches=false: this sequencer's slots will close as missed");
    }
    let signer = sequencer.address();
    let (addr, server) = sequencer
        .serve(
            SocketAddr::new(args.http_addr, args.http_port),
            args.limits.config(),
            args.limits.peers(),
        )
        .await
        .wrap_err("while starting the preconf RPC server")?;
    let chain_ids: Vec<String> = args.chain_ids.iter().map(ToString::to_string).collect();
    info!(%addr, %signer, chain_ids = %chain_ids.join(","), "preconf sequencer listening");
    run_until_shutdown(
        server,
        serde_json::json!({ "rpcUrl": format!("http://{addr}"), "signer": signer }),
    )
    .await
}

/// The WebSocket URL of the lookahead served at HTTP `url`: the same address, ws:// or wss://.
fn websocket_of(url: &str) -> eyre::Result<String> {
    let scheme = |prefix: &str| {
        url.get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .map(|_| &url[prefix.len()..])
    };
    if let Some(rest) = scheme("http://") {
        Ok(format!("ws://{rest}"))
    } else if let Some(rest) = scheme("https://") {
        Ok(format!("wss://{rest}"))
    } else {
        eyre::bail!("--lookahead-rpc {url} is not http(s): give --lookahead-ws")
    }
}

/// Warns about each rollup for which `signer` has no active record: its locks will be refused.
async fn warn_if_unregistered(lookahead: &HttpClient, chain_ids: &[ChainId], signer: Address) {
    for chain_id in chain_ids {
        match lookahead.get_sequencers(*chain_id, None).await {
            Ok(records) if records.iter().any(|record| record.signer == signer) => {}
            Ok(_) => {
                warn!(%chain_id, %signer, "no active record of rollup has this signer (yet): locks are refused until one has")
            }
            Err(error) => warn!(%chain_id, %error, "could not read the rollup's sequencers"),
        }
    }
}

/// `percent` % of `value`, rounded down.
fn percent_of(value: u64, percent: u64) -> u64 {
    u64::try_from(u128::from(value) * u128::from(percent) / 100).unwrap_or(u64::MAX)
}

fn parse_chain_id(value: &str) -> Result<ChainId, String> {
    value.parse::<U256>().map(ChainId).map_err(|e| format!("not a chain id: {e}"))
}
