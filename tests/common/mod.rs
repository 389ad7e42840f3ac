//! Helpers shared by the integration tests: the registry contract on an in-process EVM,
//! realistic block streams, and a simulated node that reorganises them.

#![allow(dead_code, unreachable_pub)]

pub mod chain;
pub mod evm;
pub mod node;
