//! Helpers shared by the integration tests: the registry contract on an in-process EVM.

#![allow(dead_code, unreachable_pub)]

pub mod evm;
