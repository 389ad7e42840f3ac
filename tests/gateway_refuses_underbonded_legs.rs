//! The gateway does not route a leg to a record whose remaining bond is below its rollup's
//! `minBond` (SPEC §8): that record's promise would be backed by nothing. A real engine (a
//! rollup whose only sequencer was slashed, still selected in the fixed windows because its
//! forced exit takes effect three windows later) behind the real `lookahead_` server, and a
//! real gateway asking it over HTTP: an atomic bundle fails naming that leg with -39201 before
//! any lock, a best-effort bundle lists it among the failed legs.

mod common;

use alloy_primitives::{Address, Bytes, U256};
use common::chain;
use jsonrpsee::{
    core::client::Error as ClientError, http_client::HttpClientBuilder, server::ServerConfig,
};
use sequencer_lookahead::{
    ChainId, Engine, RegistryDomain, Slot,
    preconf::{
        api::{
            BUNDLE_FAILED, BundleMode, BundleRequest, BundleTx, FailedLeg, GatewayApiClient,
            UNDERBONDED,
        },
        endpoint::EndpointPolicy,
        gateway::{Gateway, GatewayConfig},
        limiter::ClientLimits,
    },
    rpc::{self, api::LookaheadApiClient, peer::PeerLimits},
    service::shared::SharedEngine,
};
use std::time::Duration;

/// Rollups 10 (operator 1) and 20 (operator 2), both with `minBond` 1 and bonds of 1; in block
/// 9 (window 2) a broken promise took operator 2's bond. Windows 2 and 3 are fixed.
fn engine() -> Engine {
    let mut specs = chain::plain(9);
    specs[0].events = vec![
        chain::rollup(10),
        chain::rollup(20),
        chain::sequencer(10, 0, 1, 0),
        chain::sequencer(20, 0, 2, 0),
    ];
    specs[8].events = vec![chain::slashed(20, 0, 8, 5)];
    let mut engine = Engine::new(chain::config(1));
    engine.apply(&chain::committed(&chain::extend(None, 1, &specs, 0))).unwrap();
    engine
}

fn bundle(mode: BundleMode) -> BundleRequest {
    let tx = |chain_id: u64| BundleTx {
        chain_id: ChainId::from(chain_id),
        raw_tx: Bytes::from_static(&[2, 0xc0]),
    };
    BundleRequest { txs: vec![tx(10), tx(20)], slot: Some(Slot(13)), mode }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leg_whose_record_lost_its_bond_is_not_routed() {
    let shared = SharedEngine::new(engine());
    let (lookahead_addr, lookahead_server) =
        rpc::server::serve("127.0.0.1:0".parse().unwrap(), shared).await.unwrap();
    let lookahead = HttpClientBuilder::default().build(format!("http://{lookahead_addr}")).unwrap();

    // What the gateway reads: the slashed record keeps its slot, with no bond behind it.
    let rollup = lookahead.get_rollup(ChainId::from(20u64)).await.unwrap();
    assert_eq!(rollup.min_bond, U256::from(1));
    let entry = lookahead.get_sequencer(ChainId::from(20u64), 13).await.unwrap();
    let slashed = entry.sequencer.expect("still selected in a fixed window");
    assert_eq!((slashed.operator, slashed.bond), (Address::repeat_byte(2), U256::ZERO));

    let config = GatewayConfig {
        domain: RegistryDomain::new(1, chain::REGISTRY),
        ttl_ms: 200,
        timeout: Duration::from_secs(2),
        clock: chain::config(1).clock,
        endpoints: EndpointPolicy { allow_private: true, allowed: Vec::new() },
        clients: ClientLimits::DEFAULT,
    };
    let gateway = Gateway::new(config, lookahead.clone(), None);
    let (gateway_addr, gateway_server) = gateway
        .serve("127.0.0.1:0".parse().unwrap(), ServerConfig::default(), PeerLimits::DEFAULT)
        .await
        .unwrap();
    let client = HttpClientBuilder::default().build(format!("http://{gateway_addr}")).unwrap();

    let Err(ClientError::Call(error)) = client.send_bundle(bundle(BundleMode::Atomic)).await else {
        panic!("an atomic bundle with an underbonded leg fails");
    };
    assert_eq!(error.code(), BUNDLE_FAILED);
    assert!(error.message().starts_with("route failed for rollup 0x14"), "{}", error.message());
    let data: Vec<FailedLeg> = serde_json::from_str(error.data().unwrap().get()).unwrap();
    assert_eq!(data.len(), 1, "only the underbonded leg, refused before any lock: {data:?}");
    assert_eq!(
        (data[0].chain_id, data[0].sequencer, data[0].code),
        (ChainId::from(20u64), Some(Address::repeat_byte(2)), UNDERBONDED)
    );
    assert!(data[0].message.contains("minBond"), "{}", data[0].message);

    // Best effort: the bonded leg is routed (no sequencer runs at its endpoint, so its lock
    // fails with another code), the underbonded one is reported.
    let receipt = client.send_bundle(bundle(BundleMode::BestEffort)).await.unwrap();
    assert!(receipt.promises.is_empty());
    let codes: Vec<_> = receipt.failed.iter().map(|leg| (leg.chain_id, leg.code)).collect();
    assert_eq!(codes.len(), 2, "{:?}", receipt.failed);
    assert_eq!(codes[0], (ChainId::from(20u64), UNDERBONDED));
    assert_eq!(codes[1].0, ChainId::from(10u64));
    assert_ne!(codes[1].1, UNDERBONDED, "{:?}", receipt.failed);

    gateway_server.stop().unwrap();
    lookahead_server.stop().unwrap();
}
