//! `lookahead`: follow an Ethereum node's `SequencerRegistry` and serve the `lookahead_`
//! JSON-RPC namespace, or run a local devnet with everything wired together.
//!
//! ```text
//! lookahead devnet
//! lookahead follow --rpc-url ws://127.0.0.1:8546 --registry 0x… --chain holesky
//! cast rpc --rpc-url http://127.0.0.1:8547 lookahead_getSchedule 0x65
//! ```

mod preconf;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy_primitives::Address;
use clap::{Args, Parser, Subcommand, ValueEnum};
use eyre::{WrapErr, bail};
use sequencer_lookahead::{
    ChainId, Engine, EngineConfig, SlotClock, Store,
    devnet::{self, Anvil, SAMPLE_ROLLUPS},
    follower::{self, Follower},
    rpc,
    shared::{ChangeKind, SharedEngine},
};
use std::{
    io::IsTerminal,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tracing::{info, warn};

/// Called once the RPC listens: with its address and the shared engine.
type OnReady = Box<dyn FnOnce(SocketAddr, Arc<SharedEngine>) + Send>;

#[derive(Debug, Parser)]
#[command(name = "lookahead", version, about, long_about = None)]
/// Reorg-aware sequencer lookahead for rollups that pick their sequencer on Ethereum L1.
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Follow a node's registry and serve `lookahead_*` over HTTP and WebSocket.
    Follow(FollowArgs),
    /// Start anvil, deploy the registry with sample rollups and sequencers, follow it and serve
    /// `lookahead_*`: the quickest way to see live schedules.
    Devnet(DevnetArgs),
    /// Run the reference preconf sequencer: `preconf_lock` / `confirm` / `release` /
    /// `getPromises` for the rollups whose registered signer is `--key`.
    Sequencer(preconf::SequencerArgs),
    /// Run the bundle gateway: `gateway_sendBundle` routes a cross-rollup bundle to the slot's
    /// sequencers with lock, then confirm.
    Gateway(preconf::GatewayArgs),
}

/// Networks with known beacon genesis times; `dev` takes its timing from the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Chain {
    Mainnet,
    Sepolia,
    Holesky,
    Hoodi,
    Dev,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address the lookahead RPC listens on (HTTP and WebSocket on one port).
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    http_addr: IpAddr,
    /// Port of the lookahead RPC.
    #[arg(long = "http.port", default_value_t = 8547)]
    http_port: u16,
    /// Seconds to wait for any request to the node.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
    /// Milliseconds between polls of the node (a WebSocket node also pushes new heads).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Serve Prometheus metrics (`lookahead_*`) at this address, e.g. 127.0.0.1:9001.
    #[arg(long)]
    metrics: Option<SocketAddr>,
}

#[derive(Debug, Args)]
struct FollowArgs {
    /// The node's JSON-RPC URL: http(s):// polls, ws(s):// subscribes to new heads.
    #[arg(long, env = "LOOKAHEAD_RPC_URL")]
    rpc_url: String,
    /// The `SequencerRegistry` address.
    #[arg(long)]
    registry: Address,
    /// The registry's deployment block (found by bisecting `eth_getCode` if omitted, which
    /// needs a node that serves old state).
    #[arg(long)]
    from_block: Option<u64>,
    /// Network preset for the slot clock; checked against the registry's own getters.
    #[arg(long, value_enum, default_value = "mainnet")]
    chain: Chain,
    /// Genesis time (Unix seconds) to require of the registry.
    #[arg(long)]
    genesis_time: Option<u64>,
    /// Seconds per slot to require of the registry.
    #[arg(long)]
    slot_seconds: Option<u64>,
    /// Slots per window to require of the registry.
    #[arg(long)]
    window_slots: Option<u64>,
    /// Where the engine's database lives; a restart resumes from it.
    #[arg(long, default_value = "lookahead-data")]
    datadir: PathBuf,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Args)]
struct DevnetArgs {
    /// The anvil binary (default: the project's npm install, then `anvil` on PATH).
    #[arg(long)]
    anvil: Option<PathBuf>,
    /// Port for anvil's JSON-RPC.
    #[arg(long, default_value_t = 8545)]
    anvil_port: u16,
    /// Seconds per slot (anvil mines one block per slot).
    #[arg(long, default_value_t = 1)]
    slot_seconds: u64,
    /// Slots per window.
    #[arg(long, default_value_t = 8)]
    window_slots: u64,
    /// Replace the last `--reorg-depth` blocks every this many blocks (`anvil_reorg`).
    #[arg(long)]
    reorg_every: Option<u64>,
    /// Depth of the injected reorgs.
    #[arg(long, default_value_t = 2)]
    reorg_depth: u64,
    /// Where the engine's database lives (default: a fresh temporary directory).
    #[arg(long)]
    datadir: Option<PathBuf>,
    /// The sample sequencers register `http://127.0.0.1:<base + account index>` (9601..9603).
    #[arg(long, default_value_t = devnet::SAMPLE_PORT_BASE)]
    sequencer_port_base: u16,
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,lookahead=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match Cli::parse().command {
        Command::Follow(args) => follow(args).await,
        Command::Devnet(args) => run_devnet(args).await,
        Command::Sequencer(args) => preconf::run_sequencer(args).await,
        Command::Gateway(args) => preconf::run_gateway(args).await,
    }
}

async fn connect(url: &str) -> eyre::Result<DynProvider> {
    let provider = ProviderBuilder::new()
        .connect(url)
        .await
        .wrap_err_with(|| format!("while connecting to {url}"))?;
    Ok(provider.erased())
}

async fn follow(args: FollowArgs) -> eyre::Result<()> {
    let timeout = Duration::from_secs(args.serve.timeout_secs);
    let provider = connect(&args.rpc_url).await?;
    let clock = follower::read_clock(&provider, args.registry, timeout)
        .await
        .wrap_err("while reading the registry's slot clock")?;
    check_clock(&args, &clock)?;
    let deployment_block = match args.from_block {
        Some(block) => block,
        None => follower::find_deployment_block(&provider, args.registry, timeout)
            .await
            .wrap_err("while looking for the registry's deployment block (pass --from-block)")?,
    };
    let config = EngineConfig { registry: args.registry, deployment_block, clock };
    let datadir = args.datadir.clone();
    serve_and_follow(provider, config, &datadir, &args.serve, None).await
}

/// Refuses a registry whose timing differs from the chain preset or the flags.
fn check_clock(args: &FollowArgs, clock: &SlotClock) -> eyre::Result<()> {
    let preset = match args.chain {
        Chain::Mainnet => Some(SlotClock::MAINNET),
        Chain::Sepolia => Some(SlotClock::SEPOLIA),
        Chain::Holesky => Some(SlotClock::HOLESKY),
        Chain::Hoodi => Some(SlotClock::HOODI),
        Chain::Dev => None,
    };
    let expected = [
        (
            "genesis time",
            args.genesis_time.or(preset.map(|p| p.genesis_time())),
            clock.genesis_time(),
        ),
        (
            "slot seconds",
            args.slot_seconds.or(preset.map(|p| p.slot_seconds())),
            clock.slot_seconds(),
        ),
        (
            "window slots",
            args.window_slots.or(preset.map(|p| p.window_slots())),
            clock.window_slots(),
        ),
    ];
    for (what, wanted, found) in expected {
        if let Some(wanted) = wanted
            && wanted != found
        {
            bail!(
                "the registry's {what} is {found}, but {wanted} is configured (--chain or flags)"
            );
        }
    }
    Ok(())
}

/// Opens the store, serves the RPC, follows the node until Ctrl-C.
async fn serve_and_follow(
    provider: DynProvider,
    config: EngineConfig,
    datadir: &Path,
    serve: &ServeArgs,
    on_ready: Option<OnReady>,
) -> eyre::Result<()> {
    if let Some(addr) = serve.metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .wrap_err_with(|| format!("while starting the metrics endpoint on {addr}"))?;
        info!(%addr, "Prometheus metrics listening");
    }
    std::fs::create_dir_all(datadir)
        .wrap_err_with(|| format!("while creating {}", datadir.display()))?;
    let path = datadir.join("lookahead.redb");
    let (store, engine): (Store, Engine) =
        Store::open(&path, config).wrap_err_with(|| format!("while opening {}", path.display()))?;
    if let Some(head) = engine.head() {
        info!(number = head.number, hash = %head.hash, "resuming from the database");
    }
    sequencer_lookahead::telemetry::record_engine(&engine);
    let shared = SharedEngine::new(engine);
    let (addr, server) =
        rpc::serve(SocketAddr::new(serve.http_addr, serve.http_port), Arc::clone(&shared))
            .await
            .wrap_err("while starting the lookahead RPC server")?;
    info!(%addr, "lookahead RPC listening (HTTP and WebSocket)");
    if let Some(on_ready) = on_ready {
        on_ready(addr, Arc::clone(&shared));
    }
    let timeout = Duration::from_secs(serve.timeout_secs);
    let follower = Follower::new(provider, shared, store, config.deployment_block, timeout);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let following = tokio::spawn(follower.run(Duration::from_millis(serve.poll_ms), async {
        let _ = stopped.await;
    }));
    shutdown_signal().await?;
    info!("shutting down");
    let _ = stop.send(());
    following.await.wrap_err("the follower task failed")?;
    let _ = server.stop();
    server.stopped().await;
    Ok(())
}

async fn run_devnet(args: DevnetArgs) -> eyre::Result<()> {
    let anvil_path = match args.anvil.clone() {
        Some(path) => path,
        None => default_anvil()?,
    };
    let anvil =
        Anvil::start(&anvil_path, args.anvil_port, Some(args.slot_seconds), args.window_slots)
            .await
            .wrap_err("while starting anvil")?;
    let (provider, accounts) = devnet::connect_dev(&anvil.url).await?;
    let (registry, deployment_block, clock) =
        devnet::deploy_registry(&provider, accounts[0], args.slot_seconds, args.window_slots)
            .await?;
    info!(%registry, deployment_block, "registry deployed");
    devnet::register_samples(&provider, registry, &accounts, args.sequencer_port_base).await?;
    info!(rollups = ?SAMPLE_ROLLUPS, "sample rollups and sequencers registered; active 3 windows from now");

    let temporary = tempfile_dir()?;
    let datadir = args.datadir.clone().unwrap_or_else(|| temporary.clone());
    let config = EngineConfig { registry, deployment_block, clock };
    let l1 = anvil.url.clone();
    let l1_chain_id =
        provider.get_chain_id().await.wrap_err("while asking anvil for its chain id")?;
    let on_ready: OnReady = Box::new(move |addr, shared| {
        let line = serde_json::json!({
            "rpcUrl": format!("http://{addr}"),
            "wsUrl": format!("ws://{addr}"),
            "l1RpcUrl": l1,
            "l1ChainId": l1_chain_id,
            "registry": registry,
            "rollups": SAMPLE_ROLLUPS.iter().map(|id| format!("{:#x}", id)).collect::<Vec<_>>(),
        });
        println!("{line}");
        tokio::spawn(report_progress(shared));
    });
    if let Some(every) = args.reorg_every {
        tokio::spawn(inject_reorgs(provider.clone(), every, args.reorg_depth));
    }
    let result = serve_and_follow(provider, config, &datadir, &args.serve, Some(on_ready)).await;
    anvil.stop().await;
    if args.datadir.is_none() {
        let _ = std::fs::remove_dir_all(&temporary);
    }
    result
}

/// Prints one line per window that becomes fixed or is reorged, with its shared slots.
async fn report_progress(shared: Arc<SharedEngine>) {
    let mut events = shared.subscribe();
    let mut last = None;
    while let Ok(event) = events.recv().await {
        if last == Some((event.kind, event.from_slot)) {
            continue;
        }
        last = Some((event.kind, event.from_slot));
        let rollups: Vec<ChainId> = SAMPLE_ROLLUPS.iter().map(|id| ChainId::from(*id)).collect();
        let engine = shared.read();
        let count = engine.config().clock.window_slots() as usize;
        let shared_slots: Vec<u64> = engine
            .cross_schedule(&rollups, event.from_slot, count)
            .map(|slots| {
                slots.iter().filter(|s| s.shared_operator.is_some()).map(|s| s.slot.0).collect()
            })
            .unwrap_or_default();
        let verb = match event.kind {
            ChangeKind::Extended => "fixed",
            ChangeKind::Reorged => "REORGED",
        };
        let anchor =
            event.entries.first().map_or_else(|| "-".into(), |e| e.anchor.number.to_string());
        eprintln!(
            "window from slot {} {verb} (anchor block {anchor}); slots where one operator sequences all sample rollups: {shared_slots:?}",
            event.from_slot
        );
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() -> eyre::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .wrap_err("while installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.wrap_err("while waiting for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}

/// Every `every` blocks, replaces the last `depth` blocks.
async fn inject_reorgs(provider: DynProvider, every: u64, depth: u64) {
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Ok(head) = provider.get_block_number().await else { continue };
        if head >= last + every && head > depth {
            match devnet::reorg(&provider, depth).await {
                Ok(()) => info!(head, depth, "injected a reorg"),
                Err(error) => warn!(%error, "could not inject a reorg"),
            }
            last = head;
        }
    }
}

/// anvil from the project's npm install, else from PATH.
fn default_anvil() -> eyre::Result<PathBuf> {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/node_modules/.bin/anvil");
    if local.exists() {
        return Ok(local);
    }
    Ok(PathBuf::from("anvil"))
}

fn tempfile_dir() -> eyre::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("lookahead-devnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).wrap_err("while creating a temporary data directory")?;
    Ok(dir)
}
