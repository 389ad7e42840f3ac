//! The registry mirror: rollups and their sequencer arrays, rebuilt from `SequencerRegistry`'s
//! events alone (SPEC §4). The mirror never replays contract logic — the events carry the
//! resulting values (`activeFrom`, `existsFrom`, `activeUntil`, the index) — so it stays
//! identical to the contract's storage as far as the selection reads it.
//!
//! Every [`Registry::apply`] returns an [`Undo`] that restores the exact previous state, which
//! is what lets the engine revert blocks on a reorg instead of recomputing from genesis.

use crate::core::{
    contract::SequencerRegistry::SequencerRegistryEvents,
    primitives::{ChainId, Window},
    selection::{MAX_SEQUENCERS, SequencerRecord},
};
use alloy_primitives::{Address, Log, U256};
use alloy_sol_types::SolEventInterface;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a log of the registry could not be applied to the mirror.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The log is not one of the registry's events, or its data does not decode.
    #[error("undecodable registry log: {0}")]
    Decode(String),
    /// An event names a rollup the mirror has not seen registered.
    #[error("event for unknown rollup {0}")]
    UnknownRollup(ChainId),
    /// `RollupRegistered` for a chain id that is registered already.
    #[error("rollup {0} registered twice")]
    RollupExists(ChainId),
    /// `InboxSet` replaces the newest inbox entry of a rollup that has none.
    #[error("rollup {0}: no inbox entry to replace")]
    NoInboxToReplace(ChainId),
    /// An event names an index beyond the rollup's array (or beyond its end for a new record).
    #[error("rollup {chain_id}: no sequencer at index {index}")]
    UnknownSequencer {
        /// The rollup.
        chain_id: ChainId,
        /// The index the event named.
        index: U256,
    },
}

/// A sequencer as the registry records it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sequencer {
    /// What the selection reads: operator and active windows.
    pub record: SequencerRecord,
    /// The key that signs this sequencer's preconfirmations.
    pub signer: Address,
    /// Where it serves its `preconf_` API.
    pub rpc_url: String,
    /// Whether its bond was withdrawn (the index is then free for reuse).
    pub withdrawn: bool,
    /// The bond still held, in wei: the registration's, less miss penalties; 0 once slashed or
    /// withdrawn (SPEC §8).
    pub bond: U256,
    /// Reported misses in the record's current span (SPEC §8); evicted at three.
    pub misses: u8,
}

impl AsRef<SequencerRecord> for Sequencer {
    fn as_ref(&self) -> &SequencerRecord {
        &self.record
    }
}

/// A registered rollup.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rollup {
    /// The account that may change `min_bond` and hand the role on.
    pub admin: Address,
    /// The account the admin role is offered to, until it accepts (two-step transfer).
    pub pending_admin: Option<Address>,
    /// The bond required of new registrations, in wei.
    pub min_bond: U256,
    /// The sequencer array in index order, as the selection indexes it.
    pub sequencers: Vec<Sequencer>,
    /// The rollup's inbox history, oldest first (SPEC §8): each entry is in force from its
    /// window until the next entry's.
    pub inboxes: Vec<InboxChange>,
}

impl Rollup {
    /// The inbox that judges the slots of `window`, as the contract's `inboxAt` answers: `None`
    /// when no entry is in force yet or the one in force names no inbox.
    pub fn inbox_at(&self, window: Window) -> Option<Address> {
        self.inboxes
            .iter()
            .rev()
            .find(|change| change.from_window <= window)
            .map(|change| change.inbox)
            .filter(|inbox| !inbox.is_zero())
    }
}

/// One entry of a rollup's inbox history: `InboxSet` as the mirror keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InboxChange {
    /// The `IRollupInbox` (zero: none).
    pub inbox: Address,
    /// The first window it judges.
    pub from_window: Window,
}

/// What restores the mirror to its state before one [`Registry::apply`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Undo {
    /// Remove a rollup that the event registered.
    RemoveRollup(ChainId),
    /// Restore a rollup's previous `min_bond`.
    MinBond(ChainId, U256),
    /// Restore a rollup's previous admin and pending admin.
    Admin(ChainId, Address, Option<Address>),
    /// Remove the record the event appended.
    PopSequencer(ChainId),
    /// Put back the record that was at `index`.
    RestoreSequencer(ChainId, usize, Box<Sequencer>),
    /// Remove the inbox entry the event appended.
    PopInbox(ChainId),
    /// Put back the newest inbox entry, which the event replaced.
    RestoreInbox(ChainId, InboxChange),
}

impl Undo {
    /// The rollup this undo restores.
    pub const fn chain_id(&self) -> ChainId {
        match self {
            Self::RemoveRollup(chain_id)
            | Self::MinBond(chain_id, _)
            | Self::Admin(chain_id, ..)
            | Self::PopSequencer(chain_id)
            | Self::RestoreSequencer(chain_id, ..)
            | Self::PopInbox(chain_id)
            | Self::RestoreInbox(chain_id, _) => *chain_id,
        }
    }
}

/// The mirror of all rollups, by chain id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    rollups: BTreeMap<ChainId, Rollup>,
}

impl Registry {
    /// A mirror holding these rollups (as persisted).
    pub const fn from_rollups(rollups: BTreeMap<ChainId, Rollup>) -> Self {
        Self { rollups }
    }

    /// The rollup registered under `chain_id`.
    pub fn rollup(&self, chain_id: ChainId) -> Option<&Rollup> {
        self.rollups.get(&chain_id)
    }

    /// All rollups, ordered by chain id.
    pub fn rollups(&self) -> impl Iterator<Item = (ChainId, &Rollup)> {
        self.rollups.iter().map(|(id, rollup)| (*id, rollup))
    }

    /// Applies one event and returns how to undo it; `None` for an event that changes nothing
    /// the mirror keeps (`SeedCheckpointed`).
    pub fn apply(
        &mut self,
        event: &SequencerRegistryEvents,
    ) -> Result<Option<Undo>, RegistryError> {
        let undo = match event {
            SequencerRegistryEvents::SeedCheckpointed(_) => return Ok(None),
            SequencerRegistryEvents::RollupRegistered(e) => {
                let chain_id = ChainId(e.chainId);
                if self.rollups.contains_key(&chain_id) {
                    return Err(RegistryError::RollupExists(chain_id));
                }
                let rollup = Rollup {
                    admin: e.admin,
                    pending_admin: None,
                    min_bond: e.minBond,
                    sequencers: Vec::new(),
                    inboxes: Vec::new(),
                };
                self.rollups.insert(chain_id, rollup);
                Ok(Undo::RemoveRollup(chain_id))
            }
            SequencerRegistryEvents::MinBondUpdated(e) => {
                let chain_id = ChainId(e.chainId);
                let rollup = self.rollup_mut(chain_id)?;
                let previous = std::mem::replace(&mut rollup.min_bond, e.minBond);
                Ok(Undo::MinBond(chain_id, previous))
            }
            SequencerRegistryEvents::AdminTransferStarted(e) => {
                let chain_id = ChainId(e.chainId);
                let rollup = self.rollup_mut(chain_id)?;
                let undo = Undo::Admin(chain_id, rollup.admin, rollup.pending_admin);
                rollup.pending_admin = (!e.pendingAdmin.is_zero()).then_some(e.pendingAdmin);
                Ok(undo)
            }
            SequencerRegistryEvents::AdminTransferred(e) => {
                let chain_id = ChainId(e.chainId);
                let rollup = self.rollup_mut(chain_id)?;
                let undo = Undo::Admin(chain_id, rollup.admin, rollup.pending_admin);
                rollup.admin = e.newAdmin;
                rollup.pending_admin = None;
                Ok(undo)
            }
            SequencerRegistryEvents::SequencerRegistered(e) => {
                let chain_id = ChainId(e.chainId);
                let sequencer = Sequencer {
                    record: SequencerRecord {
                        operator: e.operator,
                        active_from: Window(e.activeFrom),
                        active_until: None,
                        exists_from: Window(e.existsFrom),
                    },
                    signer: e.signer,
                    rpc_url: e.rpcUrl.clone(),
                    withdrawn: false,
                    bond: e.bond,
                    misses: 0,
                };
                let sequencers = &mut self.rollup_mut(chain_id)?.sequencers;
                match index_in(e.index, sequencers.len() + 1) {
                    Some(index) if index == sequencers.len() && index < MAX_SEQUENCERS => {
                        sequencers.push(sequencer);
                        Ok(Undo::PopSequencer(chain_id))
                    }
                    Some(index) if index < sequencers.len() => {
                        let previous = std::mem::replace(&mut sequencers[index], sequencer);
                        Ok(Undo::RestoreSequencer(chain_id, index, Box::new(previous)))
                    }
                    _ => Err(RegistryError::UnknownSequencer { chain_id, index: e.index }),
                }
            }
            SequencerRegistryEvents::EndpointUpdated(e) => {
                self.update(ChainId(e.chainId), e.index, |s| s.rpc_url.clone_from(&e.rpcUrl))
            }
            SequencerRegistryEvents::ExitRequested(e) => {
                self.update(ChainId(e.chainId), e.index, |s| {
                    s.record.active_until = Some(Window(e.activeUntil));
                })
            }
            SequencerRegistryEvents::Withdrawn(e) => {
                self.update(ChainId(e.chainId), e.index, |s| {
                    s.withdrawn = true;
                    s.bond = U256::ZERO;
                })
            }
            SequencerRegistryEvents::InboxSet(e) => {
                let chain_id = ChainId(e.chainId);
                let inboxes = &mut self.rollup_mut(chain_id)?.inboxes;
                let change = InboxChange { inbox: e.inbox, from_window: Window(e.fromWindow) };
                match (e.replacesLast, inboxes.last_mut()) {
                    (true, Some(last)) => {
                        Ok(Undo::RestoreInbox(chain_id, std::mem::replace(last, change)))
                    }
                    (true, None) => Err(RegistryError::NoInboxToReplace(chain_id)),
                    (false, _) => {
                        inboxes.push(change);
                        Ok(Undo::PopInbox(chain_id))
                    }
                }
            }
            SequencerRegistryEvents::Slashed(e) => self.update(ChainId(e.chainId), e.index, |s| {
                s.bond = U256::ZERO;
                s.record.active_until = Some(Window(e.activeUntil));
            }),
            SequencerRegistryEvents::MissReported(e) => {
                self.update(ChainId(e.chainId), e.index, |s| {
                    s.bond = s.bond.saturating_sub(e.penalty);
                    s.misses = e.misses;
                })
            }
            SequencerRegistryEvents::Evicted(e) => self.update(ChainId(e.chainId), e.index, |s| {
                s.record.active_until = Some(Window(e.activeUntil));
            }),
        };
        undo.map(Some)
    }

    /// Reverses one [`Registry::apply`]; undos must be applied newest first.
    pub fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::RemoveRollup(chain_id) => {
                self.rollups.remove(&chain_id);
            }
            Undo::MinBond(chain_id, min_bond) => {
                if let Some(rollup) = self.rollups.get_mut(&chain_id) {
                    rollup.min_bond = min_bond;
                }
            }
            Undo::Admin(chain_id, admin, pending_admin) => {
                if let Some(rollup) = self.rollups.get_mut(&chain_id) {
                    rollup.admin = admin;
                    rollup.pending_admin = pending_admin;
                }
            }
            Undo::PopSequencer(chain_id) => {
                if let Some(rollup) = self.rollups.get_mut(&chain_id) {
                    rollup.sequencers.pop();
                }
            }
            Undo::RestoreSequencer(chain_id, index, sequencer) => {
                if let Some(slot) =
                    self.rollups.get_mut(&chain_id).and_then(|r| r.sequencers.get_mut(index))
                {
                    *slot = *sequencer;
                }
            }
            Undo::PopInbox(chain_id) => {
                if let Some(rollup) = self.rollups.get_mut(&chain_id) {
                    rollup.inboxes.pop();
                }
            }
            Undo::RestoreInbox(chain_id, change) => {
                if let Some(last) =
                    self.rollups.get_mut(&chain_id).and_then(|r| r.inboxes.last_mut())
                {
                    *last = change;
                }
            }
        }
    }

    fn rollup_mut(&mut self, chain_id: ChainId) -> Result<&mut Rollup, RegistryError> {
        self.rollups.get_mut(&chain_id).ok_or(RegistryError::UnknownRollup(chain_id))
    }

    /// Changes the record at `index` in place, remembering its previous value.
    fn update(
        &mut self,
        chain_id: ChainId,
        index: U256,
        change: impl FnOnce(&mut Sequencer),
    ) -> Result<Undo, RegistryError> {
        let sequencers = &mut self.rollup_mut(chain_id)?.sequencers;
        let position = index_in(index, sequencers.len())
            .ok_or(RegistryError::UnknownSequencer { chain_id, index })?;
        let sequencer = &mut sequencers[position];
        let previous = Box::new(sequencer.clone());
        change(sequencer);
        Ok(Undo::RestoreSequencer(chain_id, position, previous))
    }
}

/// Decodes a log if, and only if, it was emitted by `registry`; `Ok(None)` for other emitters.
pub fn decode_log(
    log: &Log,
    registry: Address,
) -> Result<Option<SequencerRegistryEvents>, RegistryError> {
    if log.address != registry {
        return Ok(None);
    }
    SequencerRegistryEvents::decode_log(log)
        .map(|decoded| Some(decoded.data))
        .map_err(|err| RegistryError::Decode(err.to_string()))
}

/// `index` as a position below `bound`, if it is one.
fn index_in(index: U256, bound: usize) -> Option<usize> {
    usize::try_from(index).ok().filter(|&i| i < bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::contract::SequencerRegistry;
    use alloy_sol_types::SolEvent;

    const CHAIN: u64 = 10;

    fn registered(index: u64, operator: u8) -> SequencerRegistryEvents {
        SequencerRegistryEvents::SequencerRegistered(SequencerRegistry::SequencerRegistered {
            chainId: U256::from(CHAIN),
            index: U256::from(index),
            operator: Address::repeat_byte(operator),
            signer: Address::repeat_byte(operator),
            rpcUrl: format!("http://127.0.0.1:{operator}"),
            activeFrom: 3,
            existsFrom: 3,
            bond: U256::from(1),
        })
    }

    fn rollup() -> SequencerRegistryEvents {
        SequencerRegistryEvents::RollupRegistered(SequencerRegistry::RollupRegistered {
            chainId: U256::from(CHAIN),
            admin: Address::repeat_byte(0xad),
            minBond: U256::from(1),
        })
    }

    fn exit(index: u64) -> SequencerRegistryEvents {
        SequencerRegistryEvents::ExitRequested(SequencerRegistry::ExitRequested {
            chainId: U256::from(CHAIN),
            index: U256::from(index),
            activeUntil: 6,
        })
    }

    fn admin_offered(to: u8) -> SequencerRegistryEvents {
        SequencerRegistryEvents::AdminTransferStarted(SequencerRegistry::AdminTransferStarted {
            chainId: U256::from(CHAIN),
            admin: Address::repeat_byte(0xad),
            pendingAdmin: Address::repeat_byte(to),
        })
    }

    fn admin_accepted(by: u8) -> SequencerRegistryEvents {
        SequencerRegistryEvents::AdminTransferred(SequencerRegistry::AdminTransferred {
            chainId: U256::from(CHAIN),
            previousAdmin: Address::repeat_byte(0xad),
            newAdmin: Address::repeat_byte(by),
        })
    }

    #[test]
    fn undo_restores_every_intermediate_state() {
        let events = [
            rollup(),
            registered(0, 1),
            admin_offered(0xbe),
            registered(1, 2),
            exit(0),
            admin_accepted(0xbe),
            registered(0, 3),
        ];
        let mut registry = Registry::default();
        let mut states = vec![registry.clone()];
        let mut undos = Vec::new();
        for event in &events {
            undos.push(registry.apply(event).unwrap().unwrap());
            states.push(registry.clone());
        }
        let sequencers = &registry.rollup(ChainId::from(CHAIN)).unwrap().sequencers;
        assert_eq!(sequencers[0].record.operator, Address::repeat_byte(3), "index 0 reused");
        assert_eq!(sequencers.len(), 2);
        let rollup = registry.rollup(ChainId::from(CHAIN)).unwrap();
        assert_eq!((rollup.admin, rollup.pending_admin), (Address::repeat_byte(0xbe), None));

        while let Some(undo) = undos.pop() {
            states.pop();
            registry.undo(undo);
            assert_eq!(&registry, states.last().unwrap());
        }
    }

    #[test]
    fn inconsistent_events_are_errors_not_panics() {
        let mut registry = Registry::default();
        assert_eq!(
            registry.apply(&registered(0, 1)),
            Err(RegistryError::UnknownRollup(ChainId::from(CHAIN)))
        );
        registry.apply(&rollup()).unwrap();
        assert_eq!(
            registry.apply(&rollup()),
            Err(RegistryError::RollupExists(ChainId::from(CHAIN)))
        );
        assert!(matches!(
            registry.apply(&registered(5, 1)),
            Err(RegistryError::UnknownSequencer { .. })
        ));
        assert!(matches!(registry.apply(&exit(0)), Err(RegistryError::UnknownSequencer { .. })));
    }

    #[test]
    fn only_the_registry_address_counts() {
        let registry = Address::repeat_byte(0x11);
        let SequencerRegistryEvents::ExitRequested(event) = exit(0) else { unreachable!() };
        let data = event.encode_log_data();
        let genuine = Log { address: registry, data: data.clone() };
        let spoofed = Log { address: Address::repeat_byte(0x22), data };
        assert_eq!(decode_log(&genuine, registry).unwrap(), Some(exit(0)));
        assert_eq!(decode_log(&spoofed, registry).unwrap(), None);

        let garbage =
            Log::new_unchecked(registry, vec![event.encode_topics()[0].0], vec![1, 2].into());
        assert!(matches!(decode_log(&garbage, registry), Err(RegistryError::Decode(_))));
    }
}
