//! Helpers shared by the integration tests: the registry contract on an in-process EVM, and a
//! minimal mirror of its sequencer arrays built from the contract's own events.

#![allow(dead_code, unreachable_pub)]

pub mod evm;
pub mod mirror;
