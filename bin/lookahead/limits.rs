//! The JSON-RPC server limits of the `preconf_`, `gateway_` and `watch_` servers, as flags with
//! safe defaults: a server whose endpoint is public must bound what one client can make it hold.

use clap::Args;
use jsonrpsee::server::{BatchRequestConfig, ServerConfig};
use sequencer_lookahead::rpc::peer::PeerLimits;

/// Server limits.
#[derive(Clone, Copy, Debug, Args)]
pub(crate) struct RpcLimits {
    /// Largest request body, in bytes (a lock of 256 transactions of 16 KiB fits).
    #[arg(long = "rpc.max-request-size", default_value_t = 4 * 1024 * 1024)]
    max_request_size: u32,
    /// Largest response body, in bytes.
    #[arg(long = "rpc.max-response-size", default_value_t = 4 * 1024 * 1024)]
    max_response_size: u32,
    /// HTTP requests in progress plus open WebSockets, over all clients; more are refused (HTTP
    /// 429).
    #[arg(long = "rpc.max-connections", default_value_t = 512)]
    max_connections: u32,
    /// HTTP requests in progress plus open WebSockets of one client IP: its share of
    /// `--rpc.max-connections`; more get HTTP 429.
    #[arg(long = "rpc.max-connections-per-ip", default_value_t = PeerLimits::DEFAULT.connections, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_ip: u32,
    /// TCP connections one client IP may keep open, idle or not; more are closed at once.
    #[arg(long = "rpc.max-sockets-per-ip", default_value_t = PeerLimits::DEFAULT.sockets, value_parser = clap::value_parser!(u32).range(1..))]
    max_sockets_per_ip: u32,
    /// HTTP/1 requests of one client IP served at once; the rest of its
    /// `--rpc.max-connections-per-ip` waits in line, so that a burst from one address is served
    /// between other clients' requests rather than ahead of them all (WebSocket calls and
    /// HTTP/2 streams are not in line).
    #[arg(long = "rpc.max-running-per-ip", default_value_t = PeerLimits::DEFAULT.running, value_parser = clap::value_parser!(u32).range(1..))]
    max_running_per_ip: u32,
    /// Calls in one JSON-RPC batch (0: batches are refused).
    #[arg(long = "rpc.max-batch-size", default_value_t = 16)]
    max_batch_size: u32,
}

impl RpcLimits {
    /// The jsonrpsee server configuration of these limits.
    pub(crate) fn config(self) -> ServerConfig {
        let batches = match self.max_batch_size {
            0 => BatchRequestConfig::Disabled,
            size => BatchRequestConfig::Limit(size),
        };
        ServerConfig::builder()
            .max_request_body_size(self.max_request_size)
            .max_response_body_size(self.max_response_size)
            .max_connections(self.max_connections)
            .set_batch_request_config(batches)
            .build()
    }

    /// What one client IP may hold of the server.
    pub(crate) fn peers(self) -> PeerLimits {
        PeerLimits {
            connections: self.max_connections_per_ip,
            sockets: self.max_sockets_per_ip,
            running: self.max_running_per_ip,
        }
    }
}
