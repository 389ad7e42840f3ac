//! What the follower and the devnet share: the RPC's flags, connecting to a node, and the loop
//! that opens the store, serves `lookahead_*` and follows the node until Ctrl-C or SIGTERM.

use alloy::providers::DynProvider;
use clap::Args;
use eyre::WrapErr;
use sequencer_lookahead::{
    Engine, EngineConfig, Store,
    core::engine::DEFAULT_MAX_REORG_DEPTH,
    rpc::{
        self,
        server::{ServeOptions, ServerLimits},
    },
    service::{
        follower::{self, Follower},
        metrics,
        shared::SharedEngine,
    },
};
use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::Arc,
    time::Duration,
};
use tracing::info;

/// Called once the RPC listens: with its address and the shared engine.
pub(crate) type OnReady = Box<dyn FnOnce(SocketAddr, Arc<SharedEngine>) + Send>;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address the lookahead RPC listens on (HTTP and WebSocket on one port).
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    pub(crate) http_addr: IpAddr,
    /// Port of the lookahead RPC.
    #[arg(long = "http.port", default_value_t = 8547)]
    pub(crate) http_port: u16,
    /// Seconds to wait for any request to the node.
    #[arg(long, default_value_t = 10)]
    pub(crate) timeout_secs: u64,
    /// Milliseconds between polls of the node (a WebSocket node also pushes new heads).
    #[arg(long, default_value_t = 1000)]
    pub(crate) poll_ms: u64,
    /// Unfinalized blocks kept for undo: a reorg deeper than this is refused (recovery: remove
    /// `<datadir>/lookahead.redb` and restart). Also bounds memory when the node reports no
    /// finality.
    #[arg(long, default_value_t = DEFAULT_MAX_REORG_DEPTH, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_reorg_depth: u64,
    /// Serve Prometheus metrics (`lookahead_*`) at this address, e.g. 127.0.0.1:9001.
    #[arg(long)]
    pub(crate) metrics: Option<SocketAddr>,
    /// Serve the schedule page at `http://<http.addr>:<http.port>/` (`--http.ui false` turns
    /// it off; JSON-RPC and `rpc.discover` are served either way).
    #[arg(long = "http.ui", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) http_ui: bool,
    /// Largest request to the lookahead RPC, in bytes (an HTTP body or a WebSocket message);
    /// larger ones are refused with HTTP 413. In bytes, not megabytes as in Reth.
    #[arg(long = "rpc.max-request-size", default_value_t = ServerLimits::DEFAULT_MAX_REQUEST_SIZE, value_parser = clap::value_parser!(u32).range(1024..))]
    pub(crate) max_request_size: u32,
    /// Largest response of the lookahead RPC, in bytes; a larger result is replaced by error
    /// -32008 (ask for fewer slots or rollups).
    #[arg(long = "rpc.max-response-size", default_value_t = ServerLimits::DEFAULT_MAX_RESPONSE_SIZE, value_parser = clap::value_parser!(u32).range(1024..))]
    pub(crate) max_response_size: u32,
    /// Calls in one JSON-RPC batch (0: batches are refused).
    #[arg(long = "rpc.max-batch-size", default_value_t = ServerLimits::DEFAULT_MAX_BATCH_SIZE)]
    pub(crate) max_batch_size: u32,
    /// HTTP requests in progress plus open WebSocket connections; more are refused (HTTP 429).
    #[arg(long = "rpc.max-connections", default_value_t = ServerLimits::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: u32,
    /// HTTP requests in progress plus open WebSockets of one client IP: its share of
    /// `--rpc.max-connections`; more get HTTP 429.
    #[arg(long = "rpc.max-connections-per-ip", default_value_t = ServerLimits::DEFAULT_MAX_CONNECTIONS_PER_IP, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections_per_ip: u32,
    /// TCP connections one client IP may keep open, idle or not; more are closed at once.
    #[arg(long = "rpc.max-sockets-per-ip", default_value_t = ServerLimits::DEFAULT_MAX_SOCKETS_PER_IP, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_sockets_per_ip: u32,
    /// HTTP/1 requests of one client IP served at once; the rest of its
    /// `--rpc.max-connections-per-ip` waits in line, so that a burst from one address is served
    /// between other clients' requests rather than ahead of them all (WebSocket calls and
    /// HTTP/2 streams are not in line).
    #[arg(long = "rpc.max-running-per-ip", default_value_t = ServerLimits::DEFAULT_MAX_RUNNING_PER_IP, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_running_per_ip: u32,
    /// Subscriptions one WebSocket connection may hold.
    #[arg(long = "rpc.max-subscriptions-per-connection", default_value_t = ServerLimits::DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION)]
    pub(crate) max_subscriptions_per_connection: u32,
    /// Heavy queries (`getCrossSchedule`, `nextSharedSlot`, `naive`) computed at once; more
    /// wait their turn while cheap ones are answered (as many `getSchedule`s may compute
    /// uncached windows besides). Default: half the cores, at least 1.
    #[arg(long = "rpc.heavy-queries", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(crate) heavy_queries: Option<u64>,
}

impl ServeArgs {
    /// The lookahead RPC's limits.
    fn limits(&self) -> ServerLimits {
        let defaults = ServerLimits::default();
        ServerLimits {
            max_request_size: self.max_request_size,
            max_response_size: self.max_response_size,
            max_batch_size: self.max_batch_size,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_sockets_per_ip: self.max_sockets_per_ip,
            max_running_per_ip: self.max_running_per_ip,
            max_subscriptions_per_connection: self.max_subscriptions_per_connection,
            heavy_queries: self
                .heavy_queries
                .and_then(|heavy| usize::try_from(heavy).ok())
                .unwrap_or(defaults.heavy_queries),
        }
    }
}

/// A provider for the node at `url` (HTTP or WebSocket).
pub(crate) async fn connect(url: &str) -> eyre::Result<DynProvider> {
    follower::connect(url).await.wrap_err_with(|| format!("while connecting to {url}"))
}

/// Opens the store, serves the RPC, follows the node until Ctrl-C.
pub(crate) async fn serve_and_follow(
    provider: DynProvider,
    config: EngineConfig,
    datadir: &Path,
    serve: &ServeArgs,
    on_ready: Option<OnReady>,
) -> eyre::Result<()> {
    if let Some(addr) = serve.metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .wrap_err_with(|| format!("while starting the metrics endpoint on {addr}"))?;
        info!(%addr, "Prometheus metrics listening");
    }
    std::fs::create_dir_all(datadir)
        .wrap_err_with(|| format!("while creating {}", datadir.display()))?;
    let path = datadir.join("lookahead.redb");
    let (store, mut engine): (Store, Engine) =
        Store::open(&path, config).wrap_err_with(|| format!("while opening {}", path.display()))?;
    engine.set_max_reorg_depth(serve.max_reorg_depth);
    if let Some(head) = engine.head() {
        info!(number = head.number, hash = %head.hash, "resuming from the database");
    }
    metrics::record_engine(&engine);
    let shared = SharedEngine::new(engine);
    let options = ServeOptions { ui: serve.http_ui, limits: serve.limits() };
    let (addr, server) = rpc::server::serve_with(
        SocketAddr::new(serve.http_addr, serve.http_port),
        Arc::clone(&shared),
        options,
    )
    .await
    .wrap_err("while starting the lookahead RPC server")?;
    info!(%addr, "lookahead RPC listening (HTTP and WebSocket)");
    if serve.http_ui {
        info!(url = %format!("http://{addr}/"), "schedule page");
    }
    if let Some(on_ready) = on_ready {
        on_ready(addr, Arc::clone(&shared));
    }
    let timeout = Duration::from_secs(serve.timeout_secs);
    let follower = Follower::new(provider, shared, store, config.deployment_block, timeout);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let following = tokio::spawn(follower.run(Duration::from_millis(serve.poll_ms), async {
        let _ = stopped.await;
    }));
    shutdown_signal().await?;
    info!("shutting down");
    let _ = stop.send(());
    following.await.wrap_err("the follower task failed")?;
    let _ = server.stop();
    server.stopped().await;
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn shutdown_signal() -> eyre::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .wrap_err("while installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.wrap_err("while waiting for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}
