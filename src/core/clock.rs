//! Slot and window arithmetic (SPEC §2).
//!
//! `slot(block) = (block.timestamp - genesis_time) / slot_seconds` and
//! `window(slot) = slot / window_slots`. The contract takes the same three numbers as immutable
//! constructor arguments; off-chain components read them from the deployed registry and refuse
//! to run if their own configuration disagrees, so both sides always compute the same slots.

use crate::core::primitives::{Slot, Window};
use core::num::NonZeroU64;
use serde::{Deserialize, Serialize};

/// Slots per window unless configured otherwise: one epoch.
pub const DEFAULT_WINDOW_SLOTS: u64 = 32;

/// Seconds per slot on every public network.
pub const DEFAULT_SLOT_SECONDS: u64 = 12;

/// Why a [`SlotClock`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// A slot must last at least one second.
    #[error("slot_seconds must be greater than zero")]
    ZeroSlotSeconds,
    /// A window must hold at least one slot.
    #[error("window_slots must be greater than zero")]
    ZeroWindowSlots,
}

/// The time base of one network: its genesis time, slot length and window size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotClock {
    genesis_time: u64,
    slot_seconds: NonZeroU64,
    window_slots: NonZeroU64,
}

impl SlotClock {
    /// Ethereum mainnet (beacon genesis 2020-12-01), 32-slot windows.
    pub const MAINNET: Self = Self::preset(1_606_824_023);
    /// Sepolia, 32-slot windows.
    pub const SEPOLIA: Self = Self::preset(1_655_733_600);
    /// Holesky, 32-slot windows.
    pub const HOLESKY: Self = Self::preset(1_695_902_400);
    /// Hoodi, 32-slot windows.
    pub const HOODI: Self = Self::preset(1_742_213_400);

    const fn preset(genesis_time: u64) -> Self {
        match Self::new(genesis_time, DEFAULT_SLOT_SECONDS, DEFAULT_WINDOW_SLOTS) {
            Ok(clock) => clock,
            Err(_) => panic!("preset timing is non-zero"),
        }
    }

    /// A clock with `genesis_time` (Unix seconds of slot 0), `slot_seconds` and `window_slots`.
    pub const fn new(
        genesis_time: u64,
        slot_seconds: u64,
        window_slots: u64,
    ) -> Result<Self, ClockError> {
        let Some(slot_seconds) = NonZeroU64::new(slot_seconds) else {
            return Err(ClockError::ZeroSlotSeconds);
        };
        let Some(window_slots) = NonZeroU64::new(window_slots) else {
            return Err(ClockError::ZeroWindowSlots);
        };
        Ok(Self { genesis_time, slot_seconds, window_slots })
    }

    /// Unix time of slot 0.
    pub const fn genesis_time(&self) -> u64 {
        self.genesis_time
    }

    /// Seconds per slot.
    pub const fn slot_seconds(&self) -> u64 {
        self.slot_seconds.get()
    }

    /// Slots per window.
    pub const fn window_slots(&self) -> u64 {
        self.window_slots.get()
    }

    /// The slot a block with this timestamp belongs to; `None` before genesis.
    pub const fn slot_at(&self, timestamp: u64) -> Option<Slot> {
        match timestamp.checked_sub(self.genesis_time) {
            Some(elapsed) => Some(Slot(elapsed / self.slot_seconds.get())),
            None => None,
        }
    }

    /// The window a slot belongs to.
    pub const fn window_of(&self, slot: Slot) -> Window {
        Window(slot.0 / self.window_slots.get())
    }

    /// The first slot of `window`; `None` if it does not fit a `u64`.
    pub const fn first_slot(&self, window: Window) -> Option<Slot> {
        match window.0.checked_mul(self.window_slots.get()) {
            Some(slot) => Some(Slot(slot)),
            None => None,
        }
    }

    /// Unix time at which `window` starts; `None` if it does not fit a `u128`.
    pub const fn window_start(&self, window: Window) -> Option<u128> {
        let slots = window.0 as u128 * self.window_slots.get() as u128;
        match slots.checked_mul(self.slot_seconds.get() as u128) {
            Some(seconds) => seconds.checked_add(self.genesis_time as u128),
            None => None,
        }
    }

    /// The time that separates `window`'s anchor from its successor (SPEC §3): anchor(W) is the
    /// last canonical block with a timestamp *before* window W-1 starts, so W's seed is fixed as
    /// soon as the first block of window W-1 exists. `None` for windows 0 and 1, which have no
    /// anchor (the contract reverts with `NoAnchorWindow`).
    pub const fn anchor_boundary(&self, window: Window) -> Option<u128> {
        match window.0 {
            0 | 1 => None,
            w => self.window_start(Window(w - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_timing() {
        assert_eq!(SlotClock::new(0, 0, 32), Err(ClockError::ZeroSlotSeconds));
        assert_eq!(SlotClock::new(0, 12, 0), Err(ClockError::ZeroWindowSlots));
    }

    #[test]
    fn mainnet_slots_and_windows() {
        let clock = SlotClock::MAINNET;
        assert_eq!(clock.slot_at(1_606_824_022), None);
        assert_eq!(clock.slot_at(1_606_824_023), Some(Slot(0)));
        assert_eq!(clock.slot_at(1_606_824_023 + 12 * 64 + 11), Some(Slot(64)));
        assert_eq!(clock.window_of(Slot(63)), Window(1));
        assert_eq!(clock.window_of(Slot(64)), Window(2));
        assert_eq!(clock.first_slot(Window(2)), Some(Slot(64)));
        assert_eq!(clock.window_start(Window(2)), Some(1_606_824_023 + 64 * 12));
    }

    #[test]
    fn anchor_boundary_is_the_start_of_the_previous_window() {
        let clock = SlotClock::new(1000, 2, 4).unwrap();
        assert_eq!(clock.anchor_boundary(Window(0)), None);
        assert_eq!(clock.anchor_boundary(Window(1)), None);
        assert_eq!(clock.anchor_boundary(Window(2)), Some(1008));
        assert_eq!(clock.anchor_boundary(Window(10)), Some(1072));
    }

    #[test]
    fn window_start_never_overflows() {
        let clock = SlotClock::new(u64::MAX, u64::MAX, u64::MAX).unwrap();
        assert_eq!(clock.window_start(Window(u64::MAX)), None);
        assert_eq!(clock.first_slot(Window(2)), None);
        let w = clock.window_of(Slot(u64::MAX));
        assert_eq!(w, Window(1));
        assert!(clock.window_start(w).is_some());
    }
}
