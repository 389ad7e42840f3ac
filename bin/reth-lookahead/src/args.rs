//! The lookahead's flags, added to `reth node`.

use alloy_primitives::Address;
use eyre::bail;
use sequencer_lookahead::{
    EngineConfig, Network, SlotClock, core::engine::DEFAULT_MAX_REORG_DEPTH, devnet,
};

/// `--lookahead.*`: which registry to follow and on which slot clock.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Lookahead")]
pub(crate) struct LookaheadArgs {
    /// The `SequencerRegistry` address (with `--lookahead.devnet`: where dev account 0's first
    /// deployment lands).
    #[arg(long = "lookahead.registry", required_unless_present = "devnet")]
    registry: Option<Address>,
    /// The registry's deployment block; earlier blocks are skipped.
    #[arg(long = "lookahead.from-block", default_value_t = 0)]
    from_block: u64,
    /// Genesis time of the slot clock (default: the chain's preset; with `--lookahead.devnet`
    /// the dev genesis block's time).
    #[arg(long = "lookahead.genesis-time")]
    genesis_time: Option<u64>,
    /// Seconds per slot (default: the chain's preset; with `--lookahead.devnet`
    /// `--dev.block-time`, else 1).
    #[arg(long = "lookahead.slot-seconds")]
    slot_seconds: Option<u64>,
    /// Slots per window.
    #[arg(long = "lookahead.window-slots", default_value_t = 32)]
    window_slots: u64,
    /// Unfinalized blocks kept for undo: a reorg deeper than this is refused (recovery: stop,
    /// remove `<datadir>/lookahead/lookahead.redb`, restart). Also bounds memory when the chain
    /// does not finalize.
    #[arg(long = "lookahead.max-reorg-depth", default_value_t = DEFAULT_MAX_REORG_DEPTH, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_reorg_depth: u64,
    /// Also serve the lookahead (HTTP and WebSocket, `lookahead_*` and `rpc.discover`) with the
    /// live schedule page at `GET /` on this address, e.g. 127.0.0.1:8547. The node's own RPC
    /// port serves `lookahead_*` and `rpc.discover` either way.
    #[arg(long = "lookahead.http-ui")]
    pub(crate) http_ui: Option<std::net::SocketAddr>,
    /// With `--dev` and `--http`: deploy the registry and register sample rollups (0x65, 0x66,
    /// 0x67) and sequencers from the dev accounts once the node runs, unless already deployed.
    #[arg(long = "lookahead.devnet")]
    pub(crate) devnet: bool,
}

impl LookaheadArgs {
    /// What the engine follows: the registry from the flags (or the dev deployment's address),
    /// on the chain's slot clock with any flag overriding it.
    pub(crate) fn engine_config(
        &self,
        chain_id: u64,
        genesis_timestamp: u64,
        dev_block_time: Option<u64>,
    ) -> eyre::Result<EngineConfig> {
        let preset = Network::from_chain_id(chain_id).map(Network::clock);
        let dev = self.devnet.then_some((genesis_timestamp, dev_block_time.unwrap_or(1)));
        let (Some(genesis_time), Some(slot_seconds)) = (
            self.genesis_time.or(preset.map(|p| p.genesis_time())).or(dev.map(|d| d.0)),
            self.slot_seconds.or(preset.map(|p| p.slot_seconds())).or(dev.map(|d| d.1)),
        ) else {
            bail!(
                "chain {chain_id} has no slot clock preset: pass --lookahead.genesis-time and --lookahead.slot-seconds"
            );
        };
        let registry = match (self.registry, self.devnet) {
            (Some(registry), _) => registry,
            (None, true) => devnet::dev_signers(1)[0].address().create(0),
            (None, false) => bail!("--lookahead.registry is required"),
        };
        Ok(EngineConfig {
            registry,
            deployment_block: self.from_block,
            clock: SlotClock::new(genesis_time, slot_seconds, self.window_slots)?,
        })
    }
}
