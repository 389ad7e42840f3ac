//! `lookahead follow`: the lookahead for any Ethereum node's registry.

use crate::serve::{ServeArgs, connect, serve_and_follow};
use alloy_primitives::Address;
use clap::Args;
use eyre::{WrapErr, bail};
use sequencer_lookahead::{EngineConfig, Network, SlotClock, service::follower};
use std::{path::PathBuf, str::FromStr, time::Duration};

/// `--chain`: a public network's slot clock, or `dev` to take the registry's own.
#[derive(Clone, Copy, Debug)]
struct ChainPreset(Option<Network>);

impl FromStr for ChainPreset {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name.eq_ignore_ascii_case("dev") {
            return Ok(Self(None));
        }
        name.parse().map(|network| Self(Some(network))).map_err(|e| format!("{e}, or dev"))
    }
}

#[derive(Debug, Args)]
pub(crate) struct FollowArgs {
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
    /// Network preset for the slot clock (mainnet, sepolia, holesky, hoodi, or dev for none);
    /// checked against the registry's own getters.
    #[arg(long, default_value = "mainnet")]
    chain: ChainPreset,
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

/// Follows `--rpc-url` and serves the lookahead until Ctrl-C.
pub(crate) async fn run(args: FollowArgs) -> eyre::Result<()> {
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
    let preset = args.chain.0.map(Network::clock);
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
