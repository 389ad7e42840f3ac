//! `lookahead gateway`: the bundle gateway as a process.

use crate::{
    limits::RpcLimits,
    upstream::{UpstreamArgs, run_until_shutdown},
};
use clap::Args;
use eyre::{WrapErr, bail};
use jsonrpsee::http_client::HttpClientBuilder;
use sequencer_lookahead::preconf::{
    api::MAX_TTL_MS,
    endpoint::EndpointPolicy,
    gateway::{Gateway, GatewayConfig},
    limiter::ClientLimits,
};
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};
use tracing::info;

#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    #[command(flatten)]
    upstream: UpstreamArgs,
    /// Address the `gateway_` RPC listens on.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    http_addr: IpAddr,
    /// Port of the `gateway_` RPC.
    #[arg(long = "http.port", default_value_t = 8548)]
    http_port: u16,
    /// Lock ttl asked of sequencers, in ms; a lock must be answered within it.
    #[arg(long, default_value_t = 500)]
    ttl_ms: u64,
    /// Timeout of every other call, in ms.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// A watcher's `watch_` RPC (`lookahead watch`): every promise returned is handed to it, so
    /// a sequencer that breaks one is slashed.
    #[arg(long)]
    watcher: Option<String>,
    /// Also dial sequencer endpoints at loopback, private, link-local and other non-public
    /// addresses (for devnets). Off by default: endpoints come from a permissionless registry.
    #[arg(long)]
    allow_private_endpoints: bool,
    /// A `host:port` dialled even though it is not public (a known sequencer on a private
    /// network); repeat for several.
    #[arg(long = "allow-endpoint")]
    allowed_endpoints: Vec<String>,
    /// Bundles one client (IP address) may send per second, on average.
    #[arg(long, default_value_t = 50)]
    bundles_per_second: u32,
    /// Bundles one client may send at once after being idle.
    #[arg(long, default_value_t = 100)]
    bundle_burst: u32,
    /// Bundles of one client in flight at once.
    #[arg(long, default_value_t = 16)]
    bundles_in_flight: u32,
    /// Clients tracked at once (idle ones are forgotten; new ones wait while all are busy).
    #[arg(long, default_value_t = 10_000)]
    max_clients: usize,
    #[command(flatten)]
    limits: RpcLimits,
}

/// Serves `gateway_sendBundle` until Ctrl-C.
pub(crate) async fn run(args: GatewayArgs) -> eyre::Result<()> {
    let timeout = Duration::from_millis(args.timeout_ms);
    let (lookahead, domain, clock) = args.upstream.connect(timeout).await?;
    if args.ttl_ms == 0 || args.ttl_ms > MAX_TTL_MS {
        bail!("--ttl-ms must be 1..={}", MAX_TTL_MS);
    }
    let watcher = args
        .watcher
        .as_deref()
        .map(|url| {
            HttpClientBuilder::default()
                .request_timeout(timeout)
                .build(url)
                .wrap_err_with(|| format!("while creating a client for the watcher at {url}"))
        })
        .transpose()?;
    let config = GatewayConfig {
        domain,
        ttl_ms: args.ttl_ms,
        timeout,
        clock,
        endpoints: EndpointPolicy {
            allow_private: args.allow_private_endpoints,
            allowed: args.allowed_endpoints.clone(),
        },
        clients: ClientLimits {
            per_second: args.bundles_per_second,
            burst: args.bundle_burst,
            in_flight: args.bundles_in_flight,
            max_clients: args.max_clients,
        },
    };
    let gateway = Gateway::new(config, lookahead, watcher);
    let (addr, server) = gateway
        .serve(
            SocketAddr::new(args.http_addr, args.http_port),
            args.limits.config(),
            args.limits.peers(),
        )
        .await
        .wrap_err("while starting the gateway RPC server")?;
    info!(%addr, registry = %domain.registry, l1_chain_id = domain.l1_chain_id, "gateway listening");
    run_until_shutdown(server, serde_json::json!({ "rpcUrl": format!("http://{addr}") })).await
}
