//! What the preconf sequencer and the gateway share: where the schedule, the slot clock and the
//! promises' EIP-712 domain come from, and serving until shutdown.

use crate::serve::{connect, shutdown_signal};
use alloy::providers::Provider;
use clap::Args;
use eyre::WrapErr;
use jsonrpsee::{
    http_client::{HttpClient, HttpClientBuilder},
    server::ServerHandle,
};
use sequencer_lookahead::{
    RegistryDomain, SlotClock, rpc::api::LookaheadApiClient, service::follower,
};
use std::time::Duration;
use tracing::info;

/// Where the schedule and the slot clock come from.
#[derive(Debug, Args)]
pub(crate) struct UpstreamArgs {
    /// The lookahead RPC (`lookahead follow` / `lookahead devnet` / a Reth node with the ExEx).
    #[arg(long)]
    lookahead_rpc: String,
    /// An L1 node's RPC, to read the registry's slot clock and the L1 chain id (the promises'
    /// EIP-712 domain).
    #[arg(long)]
    l1_rpc: String,
}

impl UpstreamArgs {
    /// The lookahead RPC's URL.
    pub(crate) fn lookahead_rpc(&self) -> &str {
        &self.lookahead_rpc
    }

    /// The L1 node's RPC URL.
    pub(crate) fn l1_rpc(&self) -> &str {
        &self.l1_rpc
    }

    /// A lookahead client, the registry it follows (on its L1) and the registry's slot clock.
    pub(crate) async fn connect(
        &self,
        timeout: Duration,
    ) -> eyre::Result<(HttpClient, RegistryDomain, SlotClock)> {
        let lookahead = HttpClientBuilder::default()
            .request_timeout(timeout)
            .build(&self.lookahead_rpc)
            .wrap_err_with(|| format!("while creating a client for {}", self.lookahead_rpc))?;
        let status =
            lookahead.status().await.wrap_err("while asking the lookahead for its status")?;
        let l1 = connect(&self.l1_rpc).await?;
        let clock = follower::read_clock(&l1, status.engine.registry, Duration::from_secs(10))
            .await
            .wrap_err("while reading the registry's slot clock")?;
        let l1_chain_id = tokio::time::timeout(Duration::from_secs(10), l1.get_chain_id())
            .await
            .wrap_err("timed out asking the L1 node for its chain id")?
            .wrap_err("while asking the L1 node for its chain id")?;
        Ok((lookahead, RegistryDomain::new(l1_chain_id, status.engine.registry), clock))
    }
}

/// Prints the ready line, serves until Ctrl-C or SIGTERM, then stops the server.
pub(crate) async fn run_until_shutdown(
    server: ServerHandle,
    ready: serde_json::Value,
) -> eyre::Result<()> {
    println!("{ready}");
    shutdown_signal().await?;
    info!("shutting down");
    let _ = server.stop();
    server.stopped().await;
    Ok(())
}
