//! Heap held by an engine mirroring 100 rollups × 256 sequencers with one day of unfinalized
//! history (7,200 blocks, so 7,200 undo-journal entries), measured with a counting allocator.
//! Run: `cargo bench --bench memory`.

#[path = "../tests/common/chain.rs"]
#[allow(dead_code, unreachable_pub)]
mod chain;

use chain::BlockSpec;
use sequencer_lookahead::{ChainId, Engine};
use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering},
};

const ROLLUPS: u64 = 100;
const SEQUENCERS: u64 = 256;
const DAY: usize = 24 * 300;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    // Registrations first (one block per rollup), then a day of plain blocks.
    let mut specs: Vec<BlockSpec> = (1..=ROLLUPS)
        .map(|rollup| BlockSpec {
            gap: 12,
            events: std::iter::once(chain::rollup(rollup))
                .chain((0..SEQUENCERS).map(|i| chain::sequencer(rollup, i, (i % 250) as u8 + 1, 0)))
                .collect(),
            ..Default::default()
        })
        .collect();
    specs.extend(vec![BlockSpec { gap: 12, ..Default::default() }; DAY]);
    let blocks = chain::extend(None, 1, &specs, 0);
    let notifications: Vec<_> = blocks.chunks(64).map(chain::committed).collect();
    drop(blocks);

    let before = LIVE.load(Ordering::Relaxed);
    let mut engine = Engine::new(chain::config(1));
    for notification in &notifications {
        engine.apply(notification).expect("applies");
    }
    let held = LIVE.load(Ordering::Relaxed) - before;

    let sequencers: usize = (1..=ROLLUPS)
        .map(|id| {
            engine.state().registry.rollup(ChainId::from(id)).map_or(0, |r| r.sequencers.len())
        })
        .sum();
    println!(
        "engine heap: {:.1} MiB for {ROLLUPS} rollups, {sequencers} sequencers, {} journal entries, {} anchors",
        held as f64 / (1024.0 * 1024.0),
        engine.state().journal.entries().len(),
        engine.state().anchors.len(),
    );
}
