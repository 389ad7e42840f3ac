//! `reth-lookahead`: a Reth node whose execution extension runs the lookahead engine, and whose
//! own RPC server answers the `lookahead_` namespace next to `eth_`.
//!
//! ```text
//! reth-lookahead node --chain holesky --http --ws --lookahead.registry 0x…
//! reth-lookahead node --dev --dev.block-time 1s --http --lookahead.devnet
//! cast rpc --rpc-url http://127.0.0.1:8545 lookahead_getSchedule 0x65
//! ```
//!
//! Only the host glue lives here: [`exex`] converts Reth's notifications to the engine's and
//! acknowledges blocks once they are durable; [`args`] holds the flags; `main` wires the engine,
//! its database (`<datadir>/lookahead/`), the RPC module and its metrics into the node, and with
//! `--lookahead.devnet` deploys the registry and sample sequencers onto the dev chain.

mod args;
mod exex;

use alloy_primitives::Address;
use args::LookaheadArgs;
use clap::Parser;
use eyre::{WrapErr, bail};
use jsonrpsee::server::middleware::rpc::RpcService;
use reth_ethereum::{
    cli::{Cli, chainspec::EthereumChainSpecParser},
    node::{EthereumAddOns, EthereumNode},
};
use sequencer_lookahead::{
    EngineConfig, SlotClock, Store, devnet,
    rpc::{
        metrics::RpcMetrics,
        openrpc,
        server::{LookaheadRpc, ServeOptions, serve_with},
    },
    service::{follower, shared::SharedEngine},
};
use std::time::Duration;
use tower::layer::layer_fn;
use tracing::{error, info, warn};

fn main() -> eyre::Result<()> {
    Cli::<EthereumChainSpecParser, LookaheadArgs>::parse().run(async move |builder, args| {
        let node_config = builder.config();
        let chain_id = node_config.chain.chain().id();
        if args.devnet && !node_config.dev.dev {
            bail!("--lookahead.devnet deploys onto the dev chain: it needs --dev");
        }
        let dev_block_time = node_config.dev.block_time.map(|time| time.as_secs().max(1));
        let config = args.engine_config(
            chain_id,
            node_config.chain.genesis().timestamp,
            dev_block_time,
        )?;
        let datadir = node_config.datadir().data_dir().join("lookahead");
        std::fs::create_dir_all(&datadir)
            .wrap_err_with(|| format!("while creating {}", datadir.display()))?;
        let path = datadir.join("lookahead.redb");
        let (store, mut engine) = Store::open(&path, config)
            .wrap_err_with(|| format!("while opening {}", path.display()))?;
        engine.set_max_reorg_depth(args.max_reorg_depth);
        info!(target: "lookahead", path = %path.display(), registry = %config.registry, head = ?engine.head().map(|h| h.number), "lookahead engine opened");
        let shared = SharedEngine::new(engine);
        let rpc = openrpc::with_discover(LookaheadRpc::new(shared.clone()).into_module(), &["lookahead"])?;
        // Kept until the node exits: dropping the handle stops that server.
        let _schedule_page = match args.http_ui {
            Some(addr) => {
                let options = ServeOptions { ui: true, ..ServeOptions::default() };
                let (addr, server) = serve_with(addr, shared.clone(), options)
                    .await
                    .wrap_err_with(|| format!("while starting the schedule page on {addr}"))?;
                info!(target: "lookahead", %addr, "schedule page at http://{addr}/");
                Some(server)
            }
            None => None,
        };

        let handle = builder
            .with_types::<EthereumNode>()
            .with_components(EthereumNode::components())
            .with_add_ons(
                EthereumAddOns::default()
                    .with_rpc_middleware(layer_fn(RpcMetrics::<RpcService>::lookahead_only)),
            )
            .extend_rpc_modules(move |ctx| {
                ctx.modules.merge_configured(rpc)?;
                Ok(())
            })
            .install_exex("lookahead", async move |ctx| Ok(exex::run(ctx, shared, store)))
            .launch_with_debug_capabilities()
            .await?;

        let url = handle.node.rpc_server_handle().http_url();
        if args.devnet {
            let Some(url) = url.clone() else {
                bail!("--lookahead.devnet sends its transactions over HTTP: add --http");
            };
            tokio::spawn(async move {
                if let Err(error) = deploy_samples(&url, config).await {
                    error!(target: "lookahead", %error, "devnet setup failed");
                }
            });
        }
        tokio::select! {
            exit = handle.wait_for_node_exit() => exit,
            mismatch = guard_clock(url, config) => Err(mismatch),
        }
    })
}

/// Ends only when the deployed registry's clock (`genesisTime()`, `slotSeconds()`,
/// `windowSlots()`) is not the one the engine was configured with, or cannot be read: the node
/// then stops, since its schedules would differ from the contract's (SPEC §2). Checked over the
/// node's own HTTP RPC once the registry is deployed (a syncing node may not have it yet).
async fn guard_clock(url: Option<String>, config: EngineConfig) -> eyre::Report {
    let Some(url) = url else {
        warn!(target: "lookahead", "without --http the registry's clock is not checked against --lookahead.* and the chain preset");
        return std::future::pending().await;
    };
    match verify_clock(&url, config).await {
        Ok(()) => std::future::pending().await,
        Err(error) => error.wrap_err("the lookahead's slot clock does not match the registry"),
    }
}

/// Waits for the registry's code, then compares its clock with the configured one.
async fn verify_clock(url: &str, config: EngineConfig) -> eyre::Result<()> {
    let provider = follower::connect(url).await?;
    while !devnet::has_code(&provider, config.registry).await? {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let clock = follower::read_clock(&provider, config.registry, Duration::from_secs(10)).await?;
    if clock != config.clock {
        bail!(
            "the registry at {} has {clock:?}, but the engine was configured with {:?} (--chain, --lookahead.genesis-time/slot-seconds/window-slots)",
            config.registry,
            config.clock
        );
    }
    info!(target: "lookahead", registry = %config.registry, ?clock, "the registry's clock matches the configuration");
    Ok(())
}

/// Deploys the registry (unless it is there already, after a restart) and registers the sample
/// rollups and sequencers, signing with the dev accounts.
async fn deploy_samples(url: &str, config: EngineConfig) -> eyre::Result<()> {
    let (provider, accounts) = devnet::connect_dev(url).await?;
    if !devnet::has_code(&provider, config.registry).await? {
        let (registry, deployment_block, clock) = devnet::deploy_registry(
            &provider,
            accounts[0],
            config.clock.slot_seconds(),
            config.clock.window_slots(),
        )
        .await?;
        check_deployment(config, registry, clock)?;
        devnet::register_samples(&provider, registry, &accounts, devnet::SAMPLE_PORT_BASE).await?;
        info!(target: "lookahead", %registry, deployment_block, rollups = ?devnet::SAMPLE_ROLLUPS, "registry deployed and sample sequencers registered; active 3 windows from now");
    } else {
        info!(target: "lookahead", registry = %config.registry, "registry already deployed");
    }
    Ok(())
}

/// The registry must land where, and with the clock, the engine was configured to follow.
fn check_deployment(config: EngineConfig, registry: Address, clock: SlotClock) -> eyre::Result<()> {
    if registry != config.registry || clock != config.clock {
        bail!(
            "the registry landed at {registry} with clock {clock:?}, but the engine follows {} with {:?}: was dev account 0 used before?",
            config.registry,
            config.clock
        );
    }
    Ok(())
}
