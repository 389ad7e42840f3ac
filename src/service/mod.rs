//! The services around the engine: the I/O shells that feed it and share it.
//!
//! - [`shared`]: the engine shared by a block source and the RPC, with change broadcasts.
//! - [`follower`]: the block source for any Ethereum node over JSON-RPC.
//! - [`metrics`]: the engine's and the follower's `lookahead_*` metrics.
//! - [`deadline`]: the deadline every request to another process gets.
//! - [`l1`]: block headers for the registry's proofs, and locally signed transactions.

pub mod deadline;
pub mod follower;
pub mod l1;
pub mod metrics;
pub mod shared;
