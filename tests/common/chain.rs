//! Realistic block streams for the engine: linked headers with random `prevrandao`, real
//! registry logs (ABI-encoded events in the logs bloom), spoofed and garbage logs.

use alloy_primitives::{Address, B256, Bloom, IntoLogData, Log, LogData, U256, keccak256};
use alloy_sol_types::SolEvent;
use sequencer_lookahead::{
    Block, Chain, EngineConfig, Notification, SlotClock,
    core::contract::SequencerRegistry::{self, SequencerRegistryEvents},
};
use std::sync::Arc;

/// The registry address the streams use.
pub const REGISTRY: Address = Address::repeat_byte(0x42);
/// A contract that emits the registry's events without being the registry.
pub const SPOOFER: Address = Address::repeat_byte(0x66);
/// Genesis of the test clock; 12-second slots, 4-slot (48-second) windows.
pub const GENESIS: u64 = 1_700_000_000;

/// The engine configuration of the streams: the registry deployed at `deployment_block`.
pub fn config(deployment_block: u64) -> EngineConfig {
    EngineConfig {
        registry: REGISTRY,
        deployment_block,
        clock: SlotClock::new(GENESIS, 12, 4).expect("non-zero timing"),
    }
}

/// What goes into one block.
#[derive(Clone, Debug, Default)]
pub struct BlockSpec {
    /// Seconds after the parent.
    pub gap: u64,
    /// Registry events, emitted by the registry.
    pub events: Vec<SequencerRegistryEvents>,
    /// Also emit each event from [`SPOOFER`].
    pub spoofed: bool,
    /// Also emit an undecodable log from the registry.
    pub garbage: bool,
}

/// The child of `parent` (or a first block `number` at `GENESIS`) built from `spec`; `fork`
/// makes siblings on different forks differ in hash and `prevrandao`.
pub fn child(parent: Option<&Block>, number: u64, spec: &BlockSpec, fork: u64) -> Block {
    let (parent_hash, timestamp) = match parent {
        Some(parent) => (parent.hash, parent.timestamp + spec.gap),
        None => (B256::ZERO, GENESIS + spec.gap),
    };
    let mut logs = Vec::new();
    for event in &spec.events {
        let data = encode(event);
        logs.push(Log { address: REGISTRY, data: data.clone() });
        if spec.spoofed {
            logs.push(Log { address: SPOOFER, data });
        }
    }
    if spec.garbage {
        let topic = SequencerRegistry::Withdrawn::SIGNATURE_HASH;
        logs.push(Log::new_unchecked(REGISTRY, vec![topic], vec![0xde, 0xad].into()));
    }
    let mut logs_bloom = Bloom::ZERO;
    logs_bloom.accrue_logs(&logs);
    let hash = keccak256(
        [
            parent_hash.as_slice(),
            &number.to_be_bytes(),
            &fork.to_be_bytes(),
            &timestamp.to_be_bytes(),
        ]
        .concat(),
    );
    Block { number, hash, parent_hash, timestamp, prevrandao: keccak256(hash), logs_bloom, logs }
}

/// `count` empty blocks, one per 12-second slot.
pub fn plain(count: usize) -> Vec<BlockSpec> {
    vec![BlockSpec { gap: 12, ..Default::default() }; count]
}

/// Builds consecutive children of `parent` from `specs`.
pub fn extend(
    parent: Option<&Block>,
    first_number: u64,
    specs: &[BlockSpec],
    fork: u64,
) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let block = child(blocks.last().or(parent), first_number + i as u64, spec, fork);
        blocks.push(block);
    }
    blocks
}

fn encode(event: &SequencerRegistryEvents) -> LogData {
    event.to_log_data()
}

/// `Committed { new }` of `blocks`.
pub fn committed(blocks: &[Block]) -> Notification {
    Notification::Committed { new: Arc::new(Chain::new(blocks.to_vec()).expect("linked blocks")) }
}

/// `Reverted { old }` of `blocks`.
pub fn reverted(blocks: &[Block]) -> Notification {
    Notification::Reverted { old: Arc::new(Chain::new(blocks.to_vec()).expect("linked blocks")) }
}

/// `Reorged { old, new }`.
pub fn reorged(old: &[Block], new: &[Block]) -> Notification {
    Notification::Reorged {
        old: Arc::new(Chain::new(old.to_vec()).expect("linked blocks")),
        new: Arc::new(Chain::new(new.to_vec()).expect("linked blocks")),
    }
}

/// `RollupRegistered(chainId)`.
pub fn rollup(chain_id: u64) -> SequencerRegistryEvents {
    SequencerRegistryEvents::RollupRegistered(SequencerRegistry::RollupRegistered {
        chainId: U256::from(chain_id),
        admin: Address::repeat_byte(0xad),
        minBond: U256::from(1),
    })
}

/// `SequencerRegistered(chainId, index, operator)` active (and existing) from `active_from`.
pub fn sequencer(
    chain_id: u64,
    index: u64,
    operator: u8,
    active_from: u64,
) -> SequencerRegistryEvents {
    SequencerRegistryEvents::SequencerRegistered(SequencerRegistry::SequencerRegistered {
        chainId: U256::from(chain_id),
        index: U256::from(index),
        operator: Address::repeat_byte(operator),
        signer: Address::repeat_byte(operator ^ 0xff),
        rpcUrl: format!("http://127.0.0.1:{}", 9000 + u16::from(operator)),
        activeFrom: active_from,
        existsFrom: active_from,
        bond: U256::from(1),
    })
}

/// `ExitRequested(chainId, index, activeUntil)`.
pub fn exit(chain_id: u64, index: u64, active_until: u64) -> SequencerRegistryEvents {
    SequencerRegistryEvents::ExitRequested(SequencerRegistry::ExitRequested {
        chainId: U256::from(chain_id),
        index: U256::from(index),
        activeUntil: active_until,
    })
}

/// `Withdrawn(chainId, index)`.
pub fn withdrawn(chain_id: u64, index: u64) -> SequencerRegistryEvents {
    SequencerRegistryEvents::Withdrawn(SequencerRegistry::Withdrawn {
        chainId: U256::from(chain_id),
        index: U256::from(index),
        amount: U256::from(1),
    })
}

/// `EndpointUpdated(chainId, index)`.
pub fn endpoint(chain_id: u64, index: u64, url: &str) -> SequencerRegistryEvents {
    SequencerRegistryEvents::EndpointUpdated(SequencerRegistry::EndpointUpdated {
        chainId: U256::from(chain_id),
        index: U256::from(index),
        rpcUrl: url.into(),
    })
}

/// `InboxSet(chainId, inbox)` in force from `from_window`; `replaces_last` replaces the newest
/// entry of the rollup's inbox history instead of appending.
pub fn inbox_set(
    chain_id: u64,
    inbox: u8,
    from_window: u64,
    replaces_last: bool,
) -> SequencerRegistryEvents {
    SequencerRegistryEvents::InboxSet(SequencerRegistry::InboxSet {
        chainId: U256::from(chain_id),
        inbox: Address::repeat_byte(inbox),
        fromWindow: from_window,
        replacesLast: replaces_last,
    })
}

/// `Slashed(chainId, index, slot)`: a broken promise took the record's bond; active until
/// `active_until`.
pub fn slashed(chain_id: u64, index: u64, slot: u64, active_until: u64) -> SequencerRegistryEvents {
    SequencerRegistryEvents::Slashed(SequencerRegistry::Slashed {
        chainId: U256::from(chain_id),
        index: U256::from(index),
        slot,
        promiseDigest: keccak256(slot.to_be_bytes()),
        amount: U256::from(1),
        challenger: Address::repeat_byte(0xc1),
        activeUntil: active_until,
    })
}

/// `MissReported(chainId, index, slot, penalty, misses)`.
pub fn miss_reported(
    chain_id: u64,
    index: u64,
    slot: u64,
    penalty: u64,
    misses: u8,
) -> SequencerRegistryEvents {
    SequencerRegistryEvents::MissReported(SequencerRegistry::MissReported {
        chainId: U256::from(chain_id),
        index: U256::from(index),
        slot,
        penalty: U256::from(penalty),
        misses,
    })
}

/// `Evicted(chainId, index, activeUntil)`.
pub fn evicted(chain_id: u64, index: u64, active_until: u64) -> SequencerRegistryEvents {
    SequencerRegistryEvents::Evicted(SequencerRegistry::Evicted {
        chainId: U256::from(chain_id),
        index: U256::from(index),
        activeUntil: active_until,
    })
}

/// `SeedCheckpointed(window)`: changes nothing the mirror keeps.
pub fn seed_checkpointed(window: u64) -> SequencerRegistryEvents {
    SequencerRegistryEvents::SeedCheckpointed(SequencerRegistry::SeedCheckpointed {
        window,
        seed: keccak256(window.to_be_bytes()),
        anchorNumber: U256::from(window),
        anchorHash: B256::repeat_byte(0xa7),
    })
}
