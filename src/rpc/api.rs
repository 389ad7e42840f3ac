//! The `lookahead_` namespace's interface (SPEC §6): the jsonrpsee trait (server and typed
//! client), its result types and its error codes. Clients — the preconf sequencer and gateway,
//! tests, other services — depend on this module alone, never on the server.

use crate::core::{
    engine::EngineStatus,
    primitives::{ChainId, Slot},
    schedule::{RollupInfo, ScheduleEntry, ScheduleNotification, SequencerInfo},
};
use alloy_primitives::Address;
use jsonrpsee::{
    core::{RpcResult, SubscriptionResult},
    proc_macros::rpc,
};
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{IgnoredAny, SeqAccess, Visitor},
};
use serde_json::value::RawValue;
use std::{collections::BTreeMap, fmt, sync::Arc};

/// Unknown rollup (chain id not registered).
pub const UNKNOWN_ROLLUP: i32 = -39001;
/// Slot beyond the fixed horizon (seed not yet known).
pub const BEYOND_HORIZON: i32 = -39002;
/// Slot too old (pruned).
pub const TOO_OLD: i32 = -39003;
/// Not synced yet (registry deployment or first anchor not reached).
pub const NOT_SYNCED: i32 = -39004;

/// Every method of the namespace, as called over JSON-RPC.
pub const METHOD_NAMES: [&str; 10] = [
    "lookahead_status",
    "lookahead_getSchedule",
    "lookahead_getSequencer",
    "lookahead_getSequencers",
    "lookahead_getRollup",
    "lookahead_getCrossSchedule",
    "lookahead_nextSharedSlot",
    "lookahead_naive",
    "lookahead_subscribe",
    "lookahead_unsubscribe",
];

/// Slots returned when a schedule query gives no count: one mainnet window.
pub const DEFAULT_COUNT: u64 = 32;

/// Most chain ids one `lookahead_getCrossSchedule`, `lookahead_nextSharedSlot` or
/// `lookahead_subscribe` names; a longer list is -32602 (repeated ids count, and are then
/// served once). Four times what a gateway asks for (a bundle has at most 16 rollups); with
/// `count` at most 1024, a cross schedule computes at most 64 × 1024 entries.
pub const MAX_CHAIN_IDS: usize = 64;

/// A list of chain ids as a request gives it: the first [`MAX_CHAIN_IDS`] are read, the rest
/// only counted, so that a list of 100,000 ids is refused after one scan of its JSON rather
/// than after parsing every id. Serialized as the plain array of the ids read (a list read past
/// the cap is refused, never forwarded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainIdList {
    ids: Vec<ChainId>,
    given: usize,
}

impl ChainIdList {
    /// The ids without repeats, in the order given; `Err(given)`, the list's length, if it
    /// names more than [`MAX_CHAIN_IDS`] (repeats count).
    pub fn distinct(self) -> Result<Vec<ChainId>, usize> {
        if self.given > MAX_CHAIN_IDS {
            return Err(self.given);
        }
        let mut distinct = Vec::with_capacity(self.ids.len());
        for chain_id in self.ids {
            if !distinct.contains(&chain_id) {
                distinct.push(chain_id);
            }
        }
        Ok(distinct)
    }
}

impl From<Vec<ChainId>> for ChainIdList {
    fn from(ids: Vec<ChainId>) -> Self {
        Self { given: ids.len(), ids }
    }
}

impl Serialize for ChainIdList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.ids.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ChainIdList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ids;
        impl<'de> Visitor<'de> for Ids {
            type Value = ChainIdList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of chain ids")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ChainIdList, A::Error> {
                let mut list = ChainIdList::default();
                while list.given < MAX_CHAIN_IDS {
                    let Some(id) = seq.next_element()? else { return Ok(list) };
                    list.ids.push(id);
                    list.given += 1;
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    list.given += 1;
                }
                Ok(list)
            }
        }
        deserializer.deserialize_seq(Ids)
    }
}

/// `lookahead_status`: the engine's summary and whether its block source lost its node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookaheadStatus {
    /// Head, finality, registry, horizon, rollups and reorgs.
    #[serde(flatten)]
    pub engine: EngineStatus,
    /// True while the block source cannot reach its node: answers are from the last state.
    pub stale: bool,
}

/// `lookahead_getCrossSchedule` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossScheduleEntry {
    /// The slot.
    pub slot: Slot,
    /// Each requested rollup's entry, by chain id.
    pub entries: BTreeMap<ChainId, ScheduleEntry>,
    /// The operator that sequences every requested rollup in this slot, if one does.
    pub shared_operator: Option<Address>,
}

/// The `lookahead_` namespace.
#[rpc(server, client, namespace = "lookahead")]
pub trait LookaheadApi {
    /// Head, finality, horizon, rollups and reorg counters.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<LookaheadStatus>;

    /// `count` slots (default 32, at most 1024) of a rollup's schedule from `fromSlot`
    /// (default: the slot after the head's), cut at the fixed horizon.
    #[method(name = "getSchedule")]
    async fn get_schedule(
        &self,
        chain_id: ChainId,
        from_slot: Option<u64>,
        count: Option<u64>,
    ) -> RpcResult<ScheduleEntries>;

    /// A rollup's sequencer in one slot.
    #[method(name = "getSequencer")]
    fn get_sequencer(&self, chain_id: ChainId, slot: u64) -> RpcResult<ScheduleEntry>;

    /// The records active in `window` (default: the head's window).
    #[method(name = "getSequencers")]
    fn get_sequencers(
        &self,
        chain_id: ChainId,
        window: Option<u64>,
    ) -> RpcResult<Vec<SequencerInfo>>;

    /// A rollup's admin, `minBond`, array length and the inbox in force for the head's window.
    #[method(name = "getRollup")]
    fn get_rollup(&self, chain_id: ChainId) -> RpcResult<RollupInfo>;

    /// Several rollups' schedules side by side (at most [`MAX_CHAIN_IDS`] ids), with the
    /// shared operator of each slot.
    #[method(name = "getCrossSchedule")]
    fn get_cross_schedule(
        &self,
        chain_ids: ChainIdList,
        from_slot: Option<u64>,
        count: Option<u64>,
    ) -> RpcResult<Vec<CrossScheduleEntry>>;

    /// The first slot within the horizon where one operator sequences every listed rollup (at
    /// most [`MAX_CHAIN_IDS`] ids).
    #[method(name = "nextSharedSlot")]
    fn next_shared_slot(
        &self,
        chain_ids: ChainIdList,
        from_slot: Option<u64>,
    ) -> RpcResult<Option<Slot>>;

    /// The original proposal's lookahead: `n` slots drawn from the head's `prevrandao`.
    #[method(name = "naive")]
    fn naive(&self, chain_id: ChainId, n: u64) -> RpcResult<Vec<Option<SequencerInfo>>>;

    /// `lookahead_subscribe("schedule", [chainId]?)`: pushes `extended`, `reorged` and
    /// `endpoint` changes (a served record's endpoint, bond, misses or exit window changed),
    /// of the listed rollups (at most [`MAX_CHAIN_IDS`]) or of all. Ends with an error when the
    /// lookahead reloaded its state after a failed database write: re-subscribe and re-read.
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = ScheduleNotification)]
    async fn subscribe_schedule(
        &self,
        kind: String,
        chain_ids: Option<ChainIdList>,
    ) -> SubscriptionResult;
}

/// `lookahead_getSchedule`'s result: the entries as JSON, assembled on the server from
/// per-window entries serialized once (the same upcoming windows are asked for again and
/// again). [`ScheduleEntries::decode`] gives the typed entries.
#[derive(Clone, Debug)]
pub struct ScheduleEntries(pub(crate) Parts);

#[derive(Clone, Debug)]
pub(crate) enum Parts {
    /// On the server: slices of cached windows, written out without copying or re-parsing.
    Served(Vec<(SerializedWindow, std::ops::Range<usize>)>),
    /// On a client: the JSON array as received.
    Received(Box<RawValue>),
}

impl ScheduleEntries {
    /// The entries.
    pub fn decode(&self) -> Result<Vec<ScheduleEntry>, serde_json::Error> {
        match &self.0 {
            Parts::Received(raw) => serde_json::from_str(raw.get()),
            Parts::Served(_) => serde_json::from_str(&serde_json::to_string(self)?),
        }
    }
}

impl Serialize for ScheduleEntries {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match &self.0 {
            Parts::Received(raw) => raw.serialize(serializer),
            Parts::Served(parts) => {
                let mut seq = serializer.serialize_seq(None)?;
                for (window, range) in parts {
                    for entry in &window[range.clone()] {
                        seq.serialize_element(&**entry)?;
                    }
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ScheduleEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(|raw| Self(Parts::Received(raw)))
    }
}

/// One window's entries, each serialized to JSON.
pub(crate) type SerializedWindow = Arc<[Box<RawValue>]>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_lists_past_the_cap_are_counted_not_read() {
        let list: ChainIdList = serde_json::from_str(r#"["0x65", "0x66", "0x65"]"#).unwrap();
        assert_eq!(list.clone().distinct(), Ok(vec![ChainId::from(101), ChainId::from(102)]));
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            serde_json::to_string(&list.ids).unwrap()
        );

        // Past the cap, anything is only counted, even what is not a chain id.
        let mut long = vec![serde_json::json!("0x65"); MAX_CHAIN_IDS];
        long.extend([serde_json::json!({"not": "an id"}), serde_json::json!("0x66")]);
        let list: ChainIdList = serde_json::from_value(serde_json::Value::from(long)).unwrap();
        assert_eq!(list.ids.len(), MAX_CHAIN_IDS);
        assert_eq!(list.distinct(), Err(MAX_CHAIN_IDS + 2));

        assert!(serde_json::from_str::<ChainIdList>(r#"["0x65", "nope"]"#).is_err());
    }
}
