//! Engine costs (criterion):
//!
//! - one mainnet-like block without registry logs (150 receipts, 400 logs, a bloom as full as
//!   mainnet's) applied as a `Committed` notification, next to a bare loop that only reads the
//!   header fields and checks the bloom for the registry;
//! - a reorg of depth 64 (revert 64 blocks, apply 64 others) on an engine with a week of history
//!   since the registry's deployment, next to recomputing that state from scratch.

#[path = "../tests/common/chain.rs"]
#[allow(dead_code, unreachable_pub)]
mod chain;

use alloy_primitives::{Address, BloomInput, Log, LogData, keccak256};
use chain::{BlockSpec, REGISTRY};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sequencer_lookahead::{Block, Engine, Notification};
use std::{hint::black_box, time::Instant};

const LOGS_PER_BLOCK: usize = 400;
const POOL: usize = 512;
/// Blocks in a week of 12-second slots.
const WEEK: usize = 7 * 24 * 300;

/// A block of `LOGS_PER_BLOCK` logs from 150 other contracts with 1–4 topics each.
fn mainnet_like(parent: &Block, salt: u64) -> Block {
    let mut block = chain::child(
        Some(parent),
        parent.number + 1,
        &BlockSpec { gap: 12, ..Default::default() },
        salt,
    );
    block.logs = (0..LOGS_PER_BLOCK as u64)
        .map(|i| {
            let seed = keccak256([block.hash.as_slice(), &i.to_be_bytes()].concat());
            let address = Address::from_slice(&seed[..20]);
            let topics =
                (0..1 + i % 4).map(|t| keccak256([seed.as_slice(), &[t as u8]].concat())).collect();
            Log { address, data: LogData::new_unchecked(topics, vec![0u8; 64].into()) }
        })
        .collect();
    block.logs_bloom.accrue_logs(&block.logs);
    block
}

fn committed_one(block: &Block) -> Notification {
    chain::committed(std::slice::from_ref(block))
}

fn per_block(c: &mut Criterion) {
    let genesis = chain::child(None, 1, &BlockSpec { gap: 12, ..Default::default() }, 0);
    let mut blocks = vec![genesis];
    for i in 0..POOL {
        let next = mainnet_like(blocks.last().expect("non-empty"), i as u64);
        blocks.push(next);
    }
    let registry_hash = keccak256(REGISTRY);
    // The same blocks with the bloom bits of the registry cleared: the engine reads no log.
    let sparse: Vec<_> = blocks
        .iter()
        .map(|block| {
            let mut block = block.clone();
            while block.logs_bloom.contains_input(BloomInput::Hash(registry_hash)) {
                block.logs.pop();
                block.logs_bloom = Default::default();
                block.logs_bloom.accrue_logs(&block.logs);
            }
            block
        })
        .collect();
    let bloom_hits = blocks[1..]
        .iter()
        .filter(|b| b.logs_bloom.contains_input(BloomInput::Hash(registry_hash)))
        .count();
    println!("registry passes the bloom of {bloom_hits} of {POOL} mainnet-like blocks");

    let mut group = c.benchmark_group("engine per block");
    for (name, scan) in [
        ("bare loop: read header, check bloom", false),
        ("bare loop + scan log addresses when the bloom passes", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters as usize {
                    let block = &blocks[1 + i % POOL];
                    black_box((block.number, block.hash, block.parent_hash, block.timestamp));
                    black_box(block.prevrandao);
                    let passes = block.logs_bloom.contains_input(BloomInput::Hash(registry_hash));
                    if black_box(passes) && scan {
                        black_box(block.logs.iter().any(|log| log.address == REGISTRY));
                    }
                }
                start.elapsed()
            })
        });
    }
    for (name, blocks) in [
        ("engine: apply Committed(1 block), no registry logs", &blocks),
        ("engine: same, bloom excluding the registry", &sparse),
    ] {
        group.bench_function(name, |b| apply_each(b, blocks));
    }
    group.finish();
}

/// Applies the pool's blocks one notification each, on fresh engines every `POOL` blocks.
fn apply_each(b: &mut criterion::Bencher<'_>, blocks: &[Block]) {
    let notifications: Vec<_> = blocks[1..].iter().map(committed_one).collect();
    b.iter_custom(|iters| {
        let mut total = std::time::Duration::ZERO;
        let mut remaining = iters as usize;
        while remaining > 0 {
            let run = remaining.min(POOL);
            let mut engine = Engine::new(chain::config(1));
            engine.apply(&committed_one(&blocks[0])).expect("first block");
            let start = Instant::now();
            for notification in &notifications[..run] {
                black_box(engine.apply(notification).expect("applies"));
            }
            total += start.elapsed();
            remaining -= run;
        }
        total
    })
}

/// A week of blocks with a registry event every 50 blocks, and two 64-block forks of its tip.
fn history() -> (Vec<Block>, Vec<Block>) {
    let mut specs = vec![BlockSpec { gap: 12, ..Default::default() }; WEEK];
    for (i, spec) in specs.iter_mut().enumerate().step_by(50) {
        let rollup = 1 + (i / 50) as u64 % 100;
        spec.events = if i < 5_000 {
            vec![chain::rollup(rollup)]
        } else {
            vec![chain::sequencer(rollup, 0, (i % 251) as u8, (i / 4_000) as u64)]
        };
    }
    let canonical = chain::extend(None, 1, &specs, 0);
    let parent = &canonical[WEEK - 65];
    let fork = chain::extend(Some(parent), parent.number + 1, &specs[WEEK - 64..], 1);
    (canonical, fork)
}

fn reorg(c: &mut Criterion) {
    let (canonical, fork) = history();
    let tip = &canonical[WEEK - 64..];
    let away = chain::reorged(tip, &fork);
    let back = chain::reorged(&fork, tip);
    let whole = chain::committed(&canonical);

    let mut group = c.benchmark_group("engine reorg");
    group.sample_size(20);
    group.bench_function("reorg depth 64 (revert 64 + apply 64), week of history", |b| {
        let mut engine = Engine::new(chain::config(1));
        engine.apply(&whole).expect("history applies");
        let mut forward = true;
        b.iter(|| {
            let notification = if forward { &away } else { &back };
            forward = !forward;
            black_box(engine.apply(notification).expect("reorg applies"))
        })
    });
    group.bench_function("recompute from scratch over the week", |b| {
        b.iter_batched(
            || Engine::new(chain::config(1)),
            |mut engine| {
                engine.apply(&whole).expect("history applies");
                engine
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, per_block, reorg);
criterion_main!(benches);
