//! `lookahead sequencer` and `lookahead gateway`: the reference preconf sequencer and the
//! bundle gateway as processes.

use crate::{connect, shutdown_signal};
use alloy::{providers::Provider, signers::local::PrivateKeySigner};
use alloy_primitives::{Address, U256};
use clap::Args;
use eyre::{WrapErr, bail};
use jsonrpsee::{
    http_client::{HttpClient, HttpClientBuilder},
    server::ServerHandle,
};
use sequencer_lookahead::{
    ChainId, RegistryDomain, SlotClock, follower,
    preconf::{
        book::Limits,
        gateway::{Gateway, GatewayConfig},
        promise::PromiseSigner,
        sequencer::{PreconfSequencer, SequencerConfig},
        store::PromiseStore,
    },
    rpc::LookaheadApiClient,
};
use std::{
    collections::BTreeSet,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};
use tracing::{info, warn};

/// Where the schedule and the slot clock come from.
#[derive(Debug, Args)]
struct UpstreamArgs {
    /// The lookahead RPC (`lookahead follow` / `lookahead devnet` / a Reth node with the ExEx).
    #[arg(long)]
    lookahead_rpc: String,
    /// An L1 node's RPC, to read the registry's slot clock and the L1 chain id (the promises'
    /// EIP-712 domain).
    #[arg(long)]
    l1_rpc: String,
}

impl UpstreamArgs {
    /// A lookahead client, the registry it follows (on its L1) and the registry's slot clock.
    async fn connect(
        &self,
        timeout: Duration,
    ) -> eyre::Result<(HttpClient, RegistryDomain, SlotClock)> {
        let lookahead = HttpClientBuilder::default()
            .request_timeout(timeout)
            .build(&self.lookahead_rpc)
            .wrap_err_with(|| format!("while creating a client for {}", self.lookahead_rpc))?;
        let status =
            lookahead.status().await.wrap_err("while asking the lookahead for its status")?;
        let l1 = connect(&self.l1_rpc).await?;
        let clock = follower::read_clock(&l1, status.registry, Duration::from_secs(10))
            .await
            .wrap_err("while reading the registry's slot clock")?;
        let l1_chain_id = tokio::time::timeout(Duration::from_secs(10), l1.get_chain_id())
            .await
            .wrap_err("timed out asking the L1 node for its chain id")?
            .wrap_err("while asking the L1 node for its chain id")?;
        Ok((lookahead, RegistryDomain::new(l1_chain_id, status.registry), clock))
    }
}

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
    /// Open locks one caller (connection) may hold.
    #[arg(long, default_value_t = 256)]
    locks_per_caller: usize,
    /// Open locks in total.
    #[arg(long, default_value_t = 4096)]
    locks_total: usize,
}

#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    #[command(flatten)]
    upstream: UpstreamArgs,
    /// Address the `gateway_` RPC listens on.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    http_addr: IpAddr,
    /// Port of the `gateway_` RPC.
    #[arg(long = "http.port", default_value_t = 8548)]
    http_port: u16,
    /// Lock ttl asked of sequencers, in ms; a lock must be answered within it.
    #[arg(long, default_value_t = 500)]
    ttl_ms: u64,
    /// Timeout of every other call, in ms.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

pub(crate) async fn run_sequencer(args: SequencerArgs) -> eyre::Result<()> {
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
        },
    };
    warn_if_unregistered(&lookahead, &args.chain_ids, config.signer.address()).await;
    let sequencer = PreconfSequencer::new(config, lookahead, store)?;
    let signer = sequencer.address();
    let (addr, server) = sequencer
        .serve(SocketAddr::new(args.http_addr, args.http_port))
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

pub(crate) async fn run_gateway(args: GatewayArgs) -> eyre::Result<()> {
    let timeout = Duration::from_millis(args.timeout_ms);
    let (lookahead, domain, clock) = args.upstream.connect(timeout).await?;
    if args.ttl_ms == 0 || args.ttl_ms > sequencer_lookahead::preconf::api::MAX_TTL_MS {
        bail!("--ttl-ms must be 1..={}", sequencer_lookahead::preconf::api::MAX_TTL_MS);
    }
    let gateway =
        Gateway::new(GatewayConfig { domain, ttl_ms: args.ttl_ms, timeout, clock }, lookahead);
    let (addr, server) = gateway
        .serve(SocketAddr::new(args.http_addr, args.http_port))
        .await
        .wrap_err("while starting the gateway RPC server")?;
    info!(%addr, registry = %domain.registry, l1_chain_id = domain.l1_chain_id, "gateway listening");
    run_until_shutdown(server, serde_json::json!({ "rpcUrl": format!("http://{addr}") })).await
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

/// Prints the ready line, serves until Ctrl-C or SIGTERM, then stops the server.
async fn run_until_shutdown(server: ServerHandle, ready: serde_json::Value) -> eyre::Result<()> {
    println!("{ready}");
    shutdown_signal().await?;
    info!("shutting down");
    let _ = server.stop();
    server.stopped().await;
    Ok(())
}

fn parse_chain_id(value: &str) -> Result<ChainId, String> {
    value.parse::<U256>().map(ChainId).map_err(|e| format!("not a chain id: {e}"))
}
