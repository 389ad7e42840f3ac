//! Each rollup's sequencer array, rebuilt from nothing but the registry's events: the
//! differential tests prove that the events carry all the selection needs.

use alloy_primitives::{Log, U256};
use alloy_sol_types::SolEventInterface;
use sequencer_lookahead::{
    SequencerRecord, Window, contract::SequencerRegistry::SequencerRegistryEvents,
};
use std::collections::HashMap;

/// Sequencer arrays by chain id.
#[derive(Debug, Default)]
pub struct Mirror {
    rollups: HashMap<U256, Vec<SequencerRecord>>,
}

impl Mirror {
    /// Applies one registry log.
    pub fn apply(&mut self, log: &Log) {
        let event = SequencerRegistryEvents::decode_log(log)
            .expect("registry log decodes")
            .data;
        match event {
            SequencerRegistryEvents::RollupRegistered(e) => {
                self.rollups.insert(e.chainId, Vec::new());
            }
            SequencerRegistryEvents::SequencerRegistered(e) => {
                let records = self
                    .rollups
                    .get_mut(&e.chainId)
                    .expect("rollup registered first");
                let index = usize::try_from(e.index).expect("index fits usize");
                let record = SequencerRecord::new(e.operator, Window(e.activeFrom));
                if index == records.len() {
                    records.push(record);
                } else {
                    records[index] = record;
                }
            }
            SequencerRegistryEvents::ExitRequested(e) => {
                let index = usize::try_from(e.index).expect("index fits usize");
                self.rollups.get_mut(&e.chainId).expect("known rollup")[index].active_until =
                    Some(Window(e.activeUntil));
            }
            SequencerRegistryEvents::MinBondUpdated(_)
            | SequencerRegistryEvents::EndpointUpdated(_)
            | SequencerRegistryEvents::Withdrawn(_) => {}
        }
    }

    /// The sequencer array of `chain_id` (empty for an unknown rollup).
    pub fn records(&self, chain_id: U256) -> &[SequencerRecord] {
        self.rollups.get(&chain_id).map_or(&[], Vec::as_slice)
    }
}
