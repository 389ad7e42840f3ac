//! `reth-lookahead`: a Reth node whose execution extension runs the lookahead engine, and whose
//! own RPC server answers the `lookahead_` namespace next to `eth_`.
//!
//! ```text
//! reth-lookahead node --chain holesky --http --ws --lookahead.registry 0x…
//! cast rpc --rpc-url http://127.0.0.1:8545 lookahead_getSchedule 0x65
//! ```
//!
//! Only the host glue lives here: [`exex`] converts Reth's notifications to the engine's and
//! acknowledges blocks once they are durable; `main` extends Reth's CLI and wires the engine,
//! its database (`<datadir>/lookahead/`) and the RPC module into the node.

mod exex;

use alloy_primitives::Address;
use clap::Parser;
use eyre::{WrapErr, bail};
use reth_ethereum::{
    cli::{Cli, chainspec::EthereumChainSpecParser},
    node::{EthereumNode, builder::NodeHandleFor},
};
use sequencer_lookahead::{
    EngineConfig, SlotClock, Store, rpc::LookaheadApiServer, rpc::LookaheadRpc,
    shared::SharedEngine,
};

/// The lookahead's flags, added to `reth node`.
#[derive(Debug, Clone, clap::Args)]
struct LookaheadArgs {
    /// The `SequencerRegistry` address.
    #[arg(long = "lookahead.registry")]
    registry: Address,
    /// The registry's deployment block; earlier blocks are skipped.
    #[arg(long = "lookahead.from-block", default_value_t = 0)]
    from_block: u64,
    /// Genesis time of the slot clock (required on chains without a preset, e.g. `--dev`).
    #[arg(long = "lookahead.genesis-time")]
    genesis_time: Option<u64>,
    /// Seconds per slot (required on chains without a preset).
    #[arg(long = "lookahead.slot-seconds")]
    slot_seconds: Option<u64>,
    /// Slots per window.
    #[arg(long = "lookahead.window-slots", default_value_t = 32)]
    window_slots: u64,
}

impl LookaheadArgs {
    /// The slot clock: the chain's preset, with any flag overriding it.
    fn clock(&self, chain_id: u64) -> eyre::Result<SlotClock> {
        let preset = match chain_id {
            1 => Some(SlotClock::MAINNET),
            11_155_111 => Some(SlotClock::SEPOLIA),
            17_000 => Some(SlotClock::HOLESKY),
            560_048 => Some(SlotClock::HOODI),
            _ => None,
        };
        let (Some(genesis_time), Some(slot_seconds)) = (
            self.genesis_time.or(preset.map(|p| p.genesis_time())),
            self.slot_seconds.or(preset.map(|p| p.slot_seconds())),
        ) else {
            bail!(
                "chain {chain_id} has no slot clock preset: pass --lookahead.genesis-time and --lookahead.slot-seconds"
            );
        };
        Ok(SlotClock::new(genesis_time, slot_seconds, self.window_slots)?)
    }
}

fn main() -> eyre::Result<()> {
    Cli::<EthereumChainSpecParser, LookaheadArgs>::parse().run(async move |builder, args| {
        let chain_id = builder.config().chain.chain().id();
        let config = EngineConfig {
            registry: args.registry,
            deployment_block: args.from_block,
            clock: args.clock(chain_id)?,
        };
        let datadir = builder.config().datadir().data_dir().join("lookahead");
        std::fs::create_dir_all(&datadir)
            .wrap_err_with(|| format!("while creating {}", datadir.display()))?;
        let path = datadir.join("lookahead.redb");
        let (store, engine) = Store::open(&path, config)
            .wrap_err_with(|| format!("while opening {}", path.display()))?;
        let shared = SharedEngine::new(engine);
        let rpc = LookaheadRpc::new(shared.clone());

        let handle: NodeHandleFor<EthereumNode> = builder
            .node(EthereumNode::default())
            .extend_rpc_modules(move |ctx| {
                ctx.modules.merge_configured(rpc.into_rpc())?;
                Ok(())
            })
            .install_exex("lookahead", async move |ctx| Ok(exex::run(ctx, shared, store)))
            .launch_with_debug_capabilities()
            .await?;
        handle.wait_for_node_exit().await
    })
}
