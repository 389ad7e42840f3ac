//! `lookahead devnet`: anvil, the registry with sample rollups and sequencers, and the
//! lookahead following it — the quickest way to see live schedules.

use crate::serve::{OnReady, ServeArgs, serve_and_follow};
use alloy::providers::{DynProvider, Provider};
use clap::Args;
use eyre::WrapErr;
use sequencer_lookahead::{
    ChainId, ChangeKind, EngineConfig,
    devnet::{self, Anvil, SAMPLE_ROLLUPS},
    service::shared::SharedEngine,
};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tracing::{info, warn};

#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
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
    /// Also run a watcher (`lookahead watch`, dev account 7): it slashes broken promises and
    /// reports missed slots; its `watch_` RPC is on `--watch.port` (give it to gateways with
    /// `--watcher`).
    #[arg(long)]
    watcher: bool,
    /// Port of the watcher's `watch_` RPC.
    #[arg(long = "watch.port", default_value_t = 8549)]
    watch_port: u16,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Runs the devnet until Ctrl-C; anvil stops with it.
pub(crate) async fn run(args: DevnetArgs) -> eyre::Result<()> {
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
    let inboxes =
        devnet::register_samples(&provider, registry, &accounts, args.sequencer_port_base).await?;
    info!(rollups = ?SAMPLE_ROLLUPS, ?inboxes, "sample rollups, their inboxes and sequencers registered; active 3 windows from now");

    let temporary = tempfile_dir()?;
    let datadir = args.datadir.clone().unwrap_or_else(|| temporary.clone());
    let config = EngineConfig { registry, deployment_block, clock };
    let l1 = anvil.url.clone();
    let l1_chain_id =
        provider.get_chain_id().await.wrap_err("while asking anvil for its chain id")?;
    let watcher = args.watcher.then(|| WatcherArgs {
        l1_rpc: anvil.url.clone(),
        datadir: datadir.join("watcher"),
        port: args.watch_port,
    });
    let watch_url = watcher.as_ref().map(|w| format!("http://127.0.0.1:{}", w.port));
    let on_ready: OnReady = Box::new(move |addr, shared| {
        if let Some(watcher) = watcher {
            tokio::spawn(run_watcher(watcher, format!("http://{addr}")));
        }
        let line = serde_json::json!({
            "rpcUrl": format!("http://{addr}"),
            "wsUrl": format!("ws://{addr}"),
            "l1RpcUrl": l1,
            "l1ChainId": l1_chain_id,
            "registry": registry,
            "rollups": SAMPLE_ROLLUPS.iter().map(|id| format!("{:#x}", id)).collect::<Vec<_>>(),
            "watchRpcUrl": watch_url,
            "inboxes": inboxes.iter().map(|(id, inbox)| (format!("{id:#x}"), serde_json::json!(inbox))).collect::<serde_json::Map<_, _>>(),
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

/// Prints one line per window that becomes fixed or is reorged, with its shared slots, and one
/// per endpoint change.
async fn report_progress(shared: Arc<SharedEngine>) {
    let mut events = shared.subscribe();
    let mut last = None;
    while let Ok(event) = events.recv().await {
        let event = &event.notification;
        if last == Some((event.kind, event.from_slot)) {
            continue;
        }
        last = Some((event.kind, event.from_slot));
        let rollups: Vec<ChainId> = SAMPLE_ROLLUPS.iter().map(|id| ChainId::from(*id)).collect();
        let engine = shared.read();
        let count = engine.config().clock.window_slots() as usize;
        let shared_slots: Vec<u64> = engine
            .schedule()
            .cross(&rollups, event.from_slot, count)
            .map(|slots| {
                slots.iter().filter(|s| s.shared_operator.is_some()).map(|s| s.slot.0).collect()
            })
            .unwrap_or_default();
        let verb = match event.kind {
            ChangeKind::Extended => "fixed",
            ChangeKind::Reorged => "REORGED",
            ChangeKind::Endpoint => {
                eprintln!(
                    "rollup {}: a served sequencer record changed (endpoint, bond, misses or exit window)",
                    event.chain_id
                );
                continue;
            }
        };
        let anchor =
            event.entries.first().map_or_else(|| "-".into(), |e| e.anchor.number.to_string());
        eprintln!(
            "window from slot {} {verb} (anchor block {anchor}); slots where one operator sequences all sample rollups: {shared_slots:?}",
            event.from_slot
        );
    }
}

/// Where the devnet's watcher runs.
struct WatcherArgs {
    l1_rpc: String,
    datadir: PathBuf,
    port: u16,
}

/// Runs `lookahead watch` as a child process with dev account [`devnet::WATCHER_ACCOUNT`]'s key
/// until the devnet stops (the child is killed with it; it resumes from its database).
async fn run_watcher(watcher: WatcherArgs, lookahead_rpc: String) {
    let result = async {
        std::fs::create_dir_all(&watcher.datadir)?;
        let key =
            &devnet::dev_signers(devnet::WATCHER_ACCOUNT + 1)[devnet::WATCHER_ACCOUNT as usize];
        let key_file = watcher.datadir.join("key");
        std::fs::write(&key_file, alloy_primitives::hex::encode_prefixed(key.to_bytes()))?;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("watch")
            .arg(format!("--lookahead-rpc={lookahead_rpc}"))
            .arg(format!("--l1-rpc={}", watcher.l1_rpc))
            .arg(format!("--key={}", key_file.display()))
            .arg(format!("--datadir={}", watcher.datadir.display()))
            .arg(format!("--http.port={}", watcher.port))
            // The sample sequencers are on loopback.
            .arg("--allow-private-endpoints")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        info!(port = watcher.port, "watcher started");
        child.wait().await
    }
    .await;
    match result {
        Ok(status) => warn!(%status, "the watcher stopped"),
        Err(error) => warn!(%error, "the watcher could not run"),
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
