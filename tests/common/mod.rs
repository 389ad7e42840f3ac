//! Helpers shared by the integration tests: the registry contract on an in-process EVM,
//! realistic block streams, a simulated node that reorganises them, and an anvil devnet.

#![allow(dead_code, unreachable_pub)]

pub mod anvil;
pub mod attack;
pub mod chain;
pub mod evm;
pub mod hostile;
pub mod l1;
pub mod lying_node;
pub mod node;
pub mod preconf;
