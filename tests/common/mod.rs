//! Helpers shared by the integration tests: the registry contract on an in-process EVM, and
//! realistic block streams for the engine.

#![allow(dead_code, unreachable_pub)]

pub mod chain;
pub mod evm;
