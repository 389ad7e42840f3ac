//! The `lookahead_` JSON-RPC namespace (SPEC §6).
//!
//! - [`api`]: the interface — the jsonrpsee trait with its typed client, result types and error
//!   codes. What clients (the preconf services, tests) depend on.
//! - [`error`]: the one JSON-RPC error helper, and the mapping of query errors to codes.
//! - [`server`]: [`LookaheadRpc`](server::LookaheadRpc) over a shared engine, and [`serve`](server::serve).
//! - [`metrics`]: the request-metrics middleware, for this server and Reth's.
//! - [`peer`]: serving with each request tagged by its client's IP, for per-client quotas.
//! - [`openrpc`]: the OpenRPC document of every namespace, served by `rpc.discover`.
//! - [`ui`]: the schedule page, an HTTP middleware that serves it next to JSON-RPC.
//!
//! Errors: -32602 for invalid params (the message says which), -39001 unknown rollup, -39002
//! slot beyond the fixed horizon, -39003 slot too old, -39004 not synced yet.

pub mod api;
pub mod error;
pub mod metrics;
pub mod openrpc;
pub mod peer;
pub mod server;
pub mod ui;
