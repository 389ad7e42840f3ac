//! The selection function (SPEC §5), bit-identical to `SequencerRegistry.sequencerForSeed`.
//!
//! For rollup `chainId`, slot `s` in window `W`, and the rollup's sequencer array `A` as of
//! window `W` — the indices with `existsFrom <= W`, a prefix — of length `L = L(W)`:
//!
//! ```text
//! draw(k) = uint256(keccak256(abi.encode(seed(W), chainId, uint256(s), uint256(k))))
//! for k in 0 .. MAX_DRAWS:  i = draw(k) % L; if A[i] is active in W: return A[i]
//! fallback: the first active record scanning i+1, i+2, ... (mod L) from the last draw
//! none active (or L == 0): no sequencer
//! ```
//!
//! The expected cost is one draw when most records are active; the scan bounds the worst case
//! by `L`, which the contract caps at [`MAX_SEQUENCERS`].
//!
//! Reducing over `L(W)` rather than the current length is what keeps a fixed schedule fixed: an
//! index pushed in window `X` exists only from `X + ACTIVATION_DELAY`, so no registration
//! included after `anchor(W)` changes the draws of window `W`.

use crate::core::{
    clock::SlotClock,
    primitives::{ChainId, Slot, Window},
};
use alloy_primitives::{Address, B256, U256, keccak256};
use serde::{Deserialize, Serialize};

/// Random draws before the deterministic fallback scan.
pub const MAX_DRAWS: u8 = 16;

/// The contract's cap on a rollup's sequencer array.
pub const MAX_SEQUENCERS: usize = 256;

/// What the selection reads of a sequencer record: its operator, active windows, and the
/// window from which its index is part of the array.
///
/// Records stay in the array after their bond is withdrawn (until the index is reused), with
/// the same windows, exactly as in the contract's storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SequencerRecord {
    /// The bonded account that the selection names.
    pub operator: Address,
    /// First window in which the record is active (inclusive).
    pub active_from: Window,
    /// First window in which it is no longer active (exclusive); `None` until an exit is
    /// requested.
    pub active_until: Option<Window>,
    /// First window in which the record's index counts towards `L(W)`: the window the index was
    /// pushed for, kept when the index is reused. Never decreases along the array.
    pub exists_from: Window,
}

impl SequencerRecord {
    /// A record at a newly pushed index, active (and existing) from `active_from`, with no exit
    /// requested.
    pub const fn new(operator: Address, active_from: Window) -> Self {
        Self { operator, active_from, active_until: None, exists_from: active_from }
    }

    /// `active_from <= window < active_until`.
    pub const fn is_active(&self, window: Window) -> bool {
        self.active_from.0 <= window.0
            && match self.active_until {
                Some(until) => window.0 < until.0,
                None => true,
            }
    }
}

impl AsRef<Self> for SequencerRecord {
    fn as_ref(&self) -> &Self {
        self
    }
}

/// The sequencer selected for a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Selected {
    /// Index of the record in the rollup's sequencer array.
    pub index: usize,
    /// The record's operator.
    pub operator: Address,
}

/// `uint256(keccak256(abi.encode(seed, chainId, uint256(slot), uint256(k))))`.
pub fn draw(seed: B256, chain_id: ChainId, slot: Slot, k: u8) -> U256 {
    U256::from_be_bytes(keccak256(DrawPreimage::new(seed, chain_id, slot).with_k(k)).0)
}

/// `L(W)`: how many of `records` (a rollup's sequencer array in index order) exist in `window`,
/// i.e. have `exists_from <= window`. They form a prefix; the newest usually exists already.
pub fn length_at<R: AsRef<SequencerRecord>>(records: &[R], window: Window) -> usize {
    let exists = |record: &R| record.as_ref().exists_from <= window;
    match records.last() {
        Some(newest) if !exists(newest) => records.partition_point(exists),
        _ => records.len(),
    }
}

/// Selects rollup `chain_id`'s sequencer for `slot` from `records` (the rollup's whole sequencer
/// array in index order) given the seed of the slot's window. Draws range over the array as of
/// the slot's window ([`length_at`]). `None` when no record is active.
pub fn select<R: AsRef<SequencerRecord>>(
    clock: &SlotClock,
    chain_id: ChainId,
    slot: Slot,
    seed: B256,
    records: &[R],
) -> Option<Selected> {
    let window = clock.window_of(slot);
    let length = length_at(records, window);
    if length == 0 {
        return None;
    }
    let active = |index: usize| {
        let record = records[index].as_ref();
        record.is_active(window).then_some(Selected { index, operator: record.operator })
    };

    let mut preimage = DrawPreimage::new(seed, chain_id, slot);
    let mut index = 0;
    for k in 0..MAX_DRAWS {
        index = reduce(&keccak256(preimage.with_k(k)), length);
        if let Some(selected) = active(index) {
            return Some(selected);
        }
    }
    (1..length).map(|step| (index + step) % length).find_map(active)
}

/// The 128-byte ABI encoding hashed by a draw; only the last byte changes between draws.
struct DrawPreimage([u8; 128]);

impl DrawPreimage {
    fn new(seed: B256, chain_id: ChainId, slot: Slot) -> Self {
        let mut bytes = [0u8; 128];
        bytes[..32].copy_from_slice(seed.as_slice());
        bytes[32..64].copy_from_slice(&chain_id.0.to_be_bytes::<32>());
        bytes[88..96].copy_from_slice(&slot.0.to_be_bytes());
        Self(bytes)
    }

    fn with_k(&mut self, k: u8) -> &[u8; 128] {
        self.0[127] = k;
        &self.0
    }
}

/// `uint256(hash) % length` for a non-zero `length`, without a 256-bit division.
fn reduce(hash: &B256, length: usize) -> usize {
    let modulus = length as u128;
    let remainder = hash.0.chunks_exact(8).fold(0u128, |remainder, limb| {
        let limb = u64::from_be_bytes(limb.try_into().expect("chunks of 8 bytes"));
        ((remainder << 64) | u128::from(limb)) % modulus
    });
    remainder as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::SolValue;
    use proptest::prelude::*;

    fn clock() -> SlotClock {
        SlotClock::new(0, 12, 32).unwrap()
    }

    fn record(byte: u8, from: u64, until: Option<u64>) -> SequencerRecord {
        SequencerRecord {
            operator: Address::repeat_byte(byte),
            active_from: Window(from),
            active_until: until.map(Window),
            exists_from: Window(0),
        }
    }

    fn existing_from(windows: &[u64]) -> Vec<SequencerRecord> {
        windows
            .iter()
            .map(|&w| SequencerRecord { exists_from: Window(w), ..record(1, 0, None) })
            .collect()
    }

    #[test]
    fn length_at_counts_the_existing_prefix() {
        let records = existing_from(&[0, 0, 3, 3, 5]);
        let lengths: Vec<_> = (0..7).map(|w| length_at(&records, Window(w))).collect();
        assert_eq!(lengths, [2, 2, 2, 4, 4, 5, 5]);
        assert_eq!(length_at::<SequencerRecord>(&[], Window(9)), 0);
    }

    #[test]
    fn indices_that_do_not_exist_yet_change_nothing() {
        let mut records: Vec<_> = (0..5).map(|i| record(i, 0, None)).collect();
        let before: Vec<_> = (0..32 * 4)
            .map(|slot| select(&clock(), ChainId::from(7u64), Slot(slot), B256::ZERO, &records))
            .collect();
        for i in 0..20 {
            records.push(SequencerRecord { exists_from: Window(4), ..record(100 + i, 4, None) });
        }
        let after: Vec<_> = (0..32 * 4)
            .map(|slot| select(&clock(), ChainId::from(7u64), Slot(slot), B256::ZERO, &records))
            .collect();
        assert_eq!(before, after, "windows 0..=3 select over the first five records only");
    }

    #[test]
    fn draw_is_keccak_of_abi_encoding() {
        let (seed, chain_id, slot) = (B256::repeat_byte(3), ChainId::from(10u64), Slot(999));
        let expected =
            keccak256((seed, chain_id.0, U256::from(slot.0), U256::from(5u64)).abi_encode());
        assert_eq!(draw(seed, chain_id, slot, 5), U256::from_be_bytes(expected.0));
    }

    #[test]
    fn empty_set_has_no_sequencer() {
        let none: [SequencerRecord; 0] = [];
        assert_eq!(select(&clock(), ChainId::from(1u64), Slot(100), B256::ZERO, &none), None);
    }

    #[test]
    fn activity_is_half_open() {
        let r = record(1, 3, Some(5));
        assert!(!r.is_active(Window(2)));
        assert!(r.is_active(Window(3)));
        assert!(r.is_active(Window(4)));
        assert!(!r.is_active(Window(5)));
        assert!(record(1, 3, None).is_active(Window(u64::MAX)));
        assert!(!record(1, 3, Some(3)).is_active(Window(3)));
    }

    #[test]
    fn fallback_scan_finds_the_only_active_record() {
        let mut records: Vec<_> = (0..200).map(|_| record(9, 0, Some(0))).collect();
        records[137] = record(7, 0, None);
        for slot in 0..500 {
            let selected = select(&clock(), ChainId::from(10u64), Slot(slot), B256::ZERO, &records);
            assert_eq!(selected, Some(Selected { index: 137, operator: Address::repeat_byte(7) }));
        }
    }

    #[test]
    fn nobody_when_all_inactive() {
        let records = [record(1, 10, None), record(2, 0, Some(1))];
        assert_eq!(select(&clock(), ChainId::from(1u64), Slot(32 * 5), B256::ZERO, &records), None);
    }

    proptest! {
        #[test]
        fn reduce_matches_u256_modulo(bytes in any::<[u8; 32]>(), length in 1usize..=4096) {
            let hash = B256::from(bytes);
            let expected = U256::from_be_bytes(bytes) % U256::from(length);
            prop_assert_eq!(U256::from(reduce(&hash, length)), expected);
        }

        #[test]
        fn selected_record_is_active(
            windows in proptest::collection::vec((0u64..8, proptest::option::of(0u64..8)), 0..40),
            slot in 0u64..(32 * 10),
            seed in any::<[u8; 32]>(),
        ) {
            let records: Vec<_> =
                windows.iter().map(|&(from, until)| record(1, from, until)).collect();
            let window = clock().window_of(Slot(slot));
            let selected = select(&clock(), ChainId::from(5u64), Slot(slot), seed.into(), &records);
            match selected {
                Some(s) => prop_assert!(records[s.index].is_active(window)),
                None => prop_assert!(records.iter().all(|r| !r.is_active(window))),
            }
        }
    }
}
