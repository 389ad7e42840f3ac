//! Checks a running `reth-lookahead` node (or any node serving `lookahead_` next to `eth_`):
//! every entry `lookahead_getSchedule` returns for the registered rollups over the next
//! windows equals the contract's own answer on that node (`sequencerFor` with the anchor's
//! RLP headers for the current and next window, `sequencerForSeed` before).
//!
//! Needs a node, so it is ignored by default:
//!
//! ```text
//! RETH_RPC_URL=http://127.0.0.1:8545 cargo test --test reth_node_matches_contract -- --ignored
//! ```

mod common;

use alloy::providers::{Provider, ProviderBuilder};
use common::anvil::OnChain;
use jsonrpsee::http_client::HttpClientBuilder;
use sequencer_lookahead::rpc::api::LookaheadApiClient;

#[tokio::test]
#[ignore = "needs a running reth-lookahead node: set RETH_RPC_URL"]
async fn the_nodes_schedule_equals_the_contracts() {
    let url = std::env::var("RETH_RPC_URL").unwrap_or_else(|_| "http://127.0.0.1:8545".into());
    let lookahead = HttpClientBuilder::default().build(&url).expect("a client");
    let provider = ProviderBuilder::new().connect(&url).await.expect("connects").erased();
    let status = lookahead.status().await.expect("lookahead_status on the node's own port");
    assert!(!status.engine.rollups.is_empty(), "the node mirrors no rollup yet");
    // From the next window on: no served window turns into a past one while this runs.
    let head_slot =
        status.engine.head.and_then(|head| head.slot).expect("the node has a head slot").0;
    let next_window_start =
        (head_slot / status.engine.window_slots + 1) * status.engine.window_slots;
    let mut served = Vec::new();
    for chain_id in status.engine.rollups {
        let entries = lookahead
            .get_schedule(chain_id, Some(next_window_start), Some(2 * status.engine.window_slots))
            .await
            .expect("lookahead_getSchedule")
            .decode()
            .expect("entries decode");
        served.extend(entries.into_iter().map(|entry| (chain_id, entry)));
    }
    // Every contract call reads one block, so the window cannot turn between them.
    let block = provider.get_block_number().await.expect("block number");
    let on_chain =
        OnChain { provider: &provider, registry: status.engine.registry, block: Some(block) };
    let mut checked = 0;
    for (chain_id, entry) in &served {
        on_chain.assert_matches_contract(*chain_id, entry).await;
        checked += 1;
    }
    assert!(checked > 0, "no entry was served");
    println!("{checked} entries equal the contract's answers");
}
