//! `lookahead watch`: the watcher as a process — the `watch_` RPC, the promise collector and
//! the loop that slashes broken promises and reports missed slots, with its database in
//! `--datadir` and transactions signed locally with `--key`.

use crate::{limits::RpcLimits, serve::shutdown_signal, upstream::UpstreamArgs};
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::U256;
use clap::Args;
use eyre::{WrapErr, bail};
use sequencer_lookahead::{
    ChainId, Slot,
    preconf::{endpoint::EndpointPolicy, limiter::ClientLimits},
    service::l1::{TxPolicy, TxSender},
    watch::{
        chain::Chain,
        collector::{Collector, DEFAULT_CLIENT_LIMITS, SLASHING_WINDOWS, WatchRpc},
        store::WatchStore,
        watcher::{Watcher, WatcherConfig},
    },
};
use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};
use tracing::info;

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    upstream: UpstreamArgs,
    /// File holding the hex private key of the account that sends the slashes, miss reports
    /// and seed checkpoints (signed here, sent through `--l1-rpc`), pays their gas and receives
    /// the rewards (half of a slashed bond, 1 % of a fined one).
    #[arg(long)]
    key: PathBuf,
    /// Where the watcher keeps its promises, judgements and transactions; a restart (even
    /// after a crash) resumes from it without sending anything twice.
    #[arg(long, default_value = "watcher-data")]
    datadir: PathBuf,
    /// Address the `watch_` RPC listens on.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    http_addr: IpAddr,
    /// Port of the `watch_` RPC (give `http://<addr>:<port>` to gateways with `--watcher`).
    #[arg(long = "http.port", default_value_t = 8549)]
    http_port: u16,
    /// A rollup whose missed slots are reported and whose selected sequencers are asked for
    /// their promises (decimal or 0x-hex); repeat for several. Default: every rollup the
    /// lookahead knows. Promises handed to `watch_submitPromise` are judged for any rollup.
    #[arg(long = "chain-id", value_parser = parse_chain_id)]
    chain_ids: Vec<ChainId>,
    /// Report the followed rollups' missed slots (`reportMiss`, 1 % of the record's bond to
    /// this account; three misses within eight windows evict the record).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    report_misses: bool,
    /// Ask the sequencers selected in each slot for their promises (`preconf_getPromises`)
    /// once the slot is over.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    poll_sequencers: bool,
    /// Blocks after which a slash or report counts as final when the node's finalized block
    /// has not reached it yet; until then it is re-checked, and sent again if a reorg removed it.
    #[arg(long, default_value_t = 64)]
    final_depth: u64,
    /// Milliseconds to wait for any request to the lookahead, L1 or a sequencer.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Seconds a transaction may wait unmined before it is sent again with 25 % higher fees.
    #[arg(long, default_value_t = 12)]
    bump_after_secs: u64,
    /// Serve Prometheus metrics (`lookahead_watch_*`) at this address, e.g. 127.0.0.1:9003.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Also dial sequencer endpoints at loopback, private, link-local and other non-public
    /// addresses (for devnets). Off by default: endpoints come from a permissionless registry.
    #[arg(long)]
    allow_private_endpoints: bool,
    /// A `host:port` dialled even though it is not public (a known sequencer on a private
    /// network); repeat for several.
    #[arg(long = "allow-endpoint")]
    allowed_endpoints: Vec<String>,
    /// Promises one client (IP address) may hand to `watch_submitPromise` per second, on
    /// average (a gateway hands over every promise it returns, from one address).
    #[arg(long, default_value_t = DEFAULT_CLIENT_LIMITS.per_second)]
    promises_per_second: u32,
    /// Promises one client may hand over at once after being idle.
    #[arg(long, default_value_t = DEFAULT_CLIENT_LIMITS.burst)]
    promise_burst: u32,
    /// `watch_submitPromise` calls of one client in flight at once.
    #[arg(long, default_value_t = DEFAULT_CLIENT_LIMITS.in_flight)]
    promises_in_flight: u32,
    /// Clients tracked at once (idle ones are forgotten first; while all are busy, a new client
    /// is refused with -39304).
    #[arg(long, default_value_t = DEFAULT_CLIENT_LIMITS.max_clients)]
    max_clients: usize,
    #[command(flatten)]
    limits: RpcLimits,
}

/// Watches until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: WatchArgs) -> eyre::Result<()> {
    let key = std::fs::read_to_string(&args.key)
        .wrap_err_with(|| format!("while reading the key file {}", args.key.display()))?;
    let key: PrivateKeySigner = key
        .trim()
        .parse()
        .wrap_err_with(|| format!("{} does not hold a hex private key", args.key.display()))?;
    if let Some(addr) = args.metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .wrap_err_with(|| format!("while starting the metrics endpoint on {addr}"))?;
        info!(%addr, "Prometheus metrics listening");
    }
    let timeout = Duration::from_millis(args.timeout_ms);
    let (lookahead, domain, clock) = args.upstream.connect(timeout).await?;
    let policy = TxPolicy {
        bump_after: Duration::from_secs(args.bump_after_secs.max(1)),
        ..TxPolicy::default()
    };
    let sender = TxSender::connect(args.upstream.l1_rpc(), key, policy)
        .await
        .wrap_err("while connecting to the L1 node")?;
    let address = sender.address();
    let chain = Chain::new(sender.provider().clone(), domain.registry, clock, timeout);
    let head = chain.head().await.wrap_err("while reading L1's head")?;
    let delay = chain.withdrawal_delay().await.wrap_err("while reading the registry")?;
    if delay != SLASHING_WINDOWS {
        bail!("the registry's slashing window is {delay} windows, this build's {SLASHING_WINDOWS}");
    }

    std::fs::create_dir_all(&args.datadir)
        .wrap_err_with(|| format!("while creating {}", args.datadir.display()))?;
    let path = args.datadir.join("watch.redb");
    let store =
        WatchStore::open(&path).wrap_err_with(|| format!("while opening {}", path.display()))?;
    let collector = Arc::new(Collector::new(
        domain,
        lookahead.clone(),
        chain.clone(),
        store.clone(),
        EndpointPolicy {
            allow_private: args.allow_private_endpoints,
            allowed: args.allowed_endpoints.clone(),
        },
        head.slot,
        timeout,
    ));
    let config = WatcherConfig {
        rollups: (!args.chain_ids.is_empty()).then(|| args.chain_ids.iter().copied().collect()),
        report_misses: args.report_misses,
        poll_sequencers: args.poll_sequencers,
        final_depth: args.final_depth,
        timeout,
    };
    let mut watcher =
        Watcher::new(config, lookahead, chain, Arc::new(sender), store, Arc::clone(&collector));
    watcher.refresh_rollups().await.wrap_err("while asking the lookahead for its rollups")?;
    // A transaction sent just before a crash is mined before anything is decided again.
    watcher
        .settle(policy.bump_after.saturating_mul(3))
        .await
        .wrap_err("while waiting for the account's pending transactions")?;
    let rollups: Vec<String> = watcher.followed().iter().map(ToString::to_string).collect();

    let clients = ClientLimits {
        per_second: args.promises_per_second,
        burst: args.promise_burst,
        in_flight: args.promises_in_flight,
        max_clients: args.max_clients,
    };
    let (addr, server) = WatchRpc::new(collector, clients)
        .serve(
            SocketAddr::new(args.http_addr, args.http_port),
            args.limits.config(),
            args.limits.peers(),
        )
        .await
        .wrap_err("while starting the watch RPC server")?;
    info!(%addr, sender = %address, registry = %domain.registry, l1_chain_id = domain.l1_chain_id, slot = %Slot(head.slot.0), rollups = %rollups.join(","), "watcher listening");
    let ready = serde_json::json!({
        "rpcUrl": format!("http://{addr}"),
        "sender": address,
        "registry": domain.registry,
        "l1ChainId": domain.l1_chain_id,
        "rollups": rollups,
        "reportMisses": args.report_misses,
        "metrics": args.metrics.map(|addr| addr.to_string()),
    });
    println!("{ready}");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watching = tokio::spawn(watcher.run(async {
        let _ = stopped.await;
    }));
    shutdown_signal().await?;
    info!("shutting down");
    let _ = stop.send(());
    watching.await.wrap_err("the watcher task failed")?;
    let _ = server.stop();
    server.stopped().await;
    Ok(())
}

fn parse_chain_id(value: &str) -> Result<ChainId, String> {
    value.parse::<U256>().map(ChainId).map_err(|e| format!("not a chain id: {e}"))
}
