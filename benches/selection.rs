//! Selections per second against raw keccak256 of the same 128-byte input on the same core.
//!
//! A selection is one keccak of `abi.encode(seed, chainId, slot, k)` plus a modulo and a record
//! check when the first draw hits an active record (the common case); the goal is at least 70 %
//! of the raw keccak rate. The sparse case (one active record in 256) shows the fallback scan.

use alloy_primitives::{Address, B256, keccak256};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sequencer_lookahead::{ChainId, SequencerRecord, Slot, SlotClock, Window, select};
use std::hint::black_box;

fn selection(c: &mut Criterion) {
    let clock = SlotClock::MAINNET;
    let chain_id = ChainId::from(10u64);
    let seed = B256::repeat_byte(0x42);
    let active: Vec<_> =
        (0..16u8).map(|i| SequencerRecord::new(Address::repeat_byte(i), Window(0))).collect();
    let mut sparse = vec![
        SequencerRecord {
            operator: Address::ZERO,
            active_from: Window(0),
            active_until: Some(Window(0)),
            exists_from: Window(0),
        };
        256
    ];
    sparse[137] = SequencerRecord::new(Address::repeat_byte(7), Window(0));

    let mut group = c.benchmark_group("selection");
    group.throughput(Throughput::Elements(1));
    group.bench_function("keccak256 of the 128-byte draw input", |b| {
        let mut input = [0u8; 128];
        input[..32].copy_from_slice(seed.as_slice());
        let mut slot = 0u64;
        b.iter(|| {
            slot += 1;
            input[88..96].copy_from_slice(&slot.to_be_bytes());
            black_box(keccak256(black_box(&input)))
        })
    });
    for (name, records) in [
        ("select, 16 active records", &active),
        ("select, 1 active record in 256 (fallback scan)", &sparse),
    ] {
        group.bench_function(name, |b| {
            let mut slot = 0u64;
            b.iter(|| {
                slot += 1;
                black_box(select(&clock, chain_id, Slot(black_box(slot)), seed, records))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, selection);
criterion_main!(benches);
