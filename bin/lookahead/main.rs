//! `lookahead`: follow an Ethereum node's `SequencerRegistry` and serve the `lookahead_`
//! JSON-RPC namespace, run a local devnet with everything wired together, or run the reference
//! preconf sequencer or the bundle gateway. This file only parses; each subcommand's wiring is
//! in the module named after it.
//!
//! ```text
//! lookahead devnet
//! lookahead follow --rpc-url ws://127.0.0.1:8546 --registry 0x… --chain holesky
//! cast rpc --rpc-url http://127.0.0.1:8547 lookahead_getSchedule 0x65
//! ```

mod devnet;
mod follow;
mod gateway;
mod limits;
mod sequencer;
mod serve;
mod upstream;
mod watch;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;

/// jemalloc, as Reth uses: the servers allocate and free request bodies, JSON values and
/// promises on every call, from several threads, where glibc's allocator spends more.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its first allocation, before `main`. `_RJEM_MALLOC_CONF` in the
/// environment still overrides them. The `_rjem_` prefix is tikv-jemallocator's default build
/// on Linux.
///
/// Request bodies grow by reallocation as they arrive, and every client may send one up to the
/// size limit. With jemalloc's defaults, a freed range that merged with free neighbours into
/// 8 MiB or more went straight back to the kernel, skipping the decay. The next large body then
/// faulted in fresh pages: 6,600–8,400 page faults a second at each server under
/// `benches/hostile_load`'s attack, and about an eighth of the sequencers' CPU.
///
/// - `oversize_threshold:0` turns that off, and with it the arena kept for single allocations
///   of 8 MiB or more.
/// - `dirty_decay_ms:60000` hands unused pages back gradually over a minute rather than 10 s,
///   as the allocator is next used.
///
/// Together: 11–1,200 faults a second.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 = &b"oversize_threshold:0,dirty_decay_ms:60000\0"[0];

#[derive(Debug, Parser)]
#[command(name = "lookahead", version, about, long_about = None)]
/// Reorg-aware sequencer lookahead for rollups that pick their sequencer on Ethereum L1.
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Follow a node's registry and serve `lookahead_*` over HTTP and WebSocket.
    Follow(follow::FollowArgs),
    /// Start anvil, deploy the registry with sample rollups and sequencers, follow it and serve
    /// `lookahead_*`: the quickest way to see live schedules.
    Devnet(devnet::DevnetArgs),
    /// Run the reference preconf sequencer: `preconf_lock` / `confirm` / `release` /
    /// `getPromises` for the rollups whose registered signer is `--key`.
    Sequencer(sequencer::SequencerArgs),
    /// Run the bundle gateway: `gateway_sendBundle` routes a cross-rollup bundle to the slot's
    /// sequencers with lock, then confirm.
    Gateway(gateway::GatewayArgs),
    /// Run the watcher (SPEC §8): collect promises (`watch_submitPromise`, the sequencers'
    /// `preconf_getPromises`), slash the broken ones and report missed slots on L1.
    Watch(watch::WatchArgs),
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,lookahead=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match Cli::parse().command {
        Command::Follow(args) => follow::run(args).await,
        Command::Devnet(args) => devnet::run(args).await,
        Command::Sequencer(args) => sequencer::run(args).await,
        Command::Gateway(args) => gateway::run(args).await,
        Command::Watch(args) => watch::run(args).await,
    }
}
