//! The `lookahead_*` metrics, recorded through the `metrics` facade: the follower's binary
//! exports them with its own Prometheus endpoint (`--metrics`), the Reth node with Reth's. The
//! RPC's own request metrics are recorded by [`crate::rpc::metrics::RpcMetrics`].
//!
//! | metric | kind | meaning |
//! |--------|------|---------|
//! | `lookahead_blocks_processed_total` | counter | blocks applied |
//! | `lookahead_reorgs_total` | counter | reverts and reorgs |
//! | `lookahead_deepest_reorg_blocks` | gauge | the deepest, in blocks |
//! | `lookahead_registry_events_applied_total` | counter | registry events applied |
//! | `lookahead_logs_skipped_total` | counter | registry logs skipped |
//! | `lookahead_head_block` | gauge | the engine's head |
//! | `lookahead_follower_lag_blocks` | gauge | node head minus engine head |
//! | `lookahead_rpc_requests_total{method, outcome}` | counter | RPC calls, `ok` or `error` |
//! | `lookahead_rpc_request_duration_seconds{method}` | histogram | RPC latency |

use crate::core::engine::Engine;

/// Publishes the engine's counters and head.
pub fn record_engine(engine: &Engine) {
    let stats = engine.stats();
    metrics::counter!("lookahead_blocks_processed_total").absolute(stats.blocks_processed);
    metrics::counter!("lookahead_reorgs_total").absolute(stats.reorgs);
    metrics::gauge!("lookahead_deepest_reorg_blocks").set(stats.deepest_reorg as f64);
    metrics::counter!("lookahead_registry_events_applied_total").absolute(stats.events_applied);
    metrics::counter!("lookahead_logs_skipped_total").absolute(stats.logs_skipped);
    if let Some(head) = engine.head() {
        metrics::gauge!("lookahead_head_block").set(head.number as f64);
    }
}

/// Publishes how far the engine's head is behind the node's.
pub fn record_lag(node_head: u64, engine_head: u64) {
    metrics::gauge!("lookahead_follower_lag_blocks")
        .set(node_head.saturating_sub(engine_head) as f64);
}
