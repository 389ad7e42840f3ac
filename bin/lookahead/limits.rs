//! The JSON-RPC server limits of the `preconf_` and `gateway_` servers, as flags with safe
//! defaults: a server whose endpoint is public must bound what one client can make it hold.

use clap::Args;
use jsonrpsee::server::{BatchRequestConfig, ServerConfig};

/// Server limits.
#[derive(Clone, Copy, Debug, Args)]
pub(crate) struct RpcLimits {
    /// Largest request body, in bytes (a lock of 256 transactions of 16 KiB fits).
    #[arg(long = "rpc.max-request-size", default_value_t = 4 * 1024 * 1024)]
    max_request_size: u32,
    /// Largest response body, in bytes.
    #[arg(long = "rpc.max-response-size", default_value_t = 4 * 1024 * 1024)]
    max_response_size: u32,
    /// Open connections, over all clients; more are refused (HTTP 429).
    #[arg(long = "rpc.max-connections", default_value_t = 512)]
    max_connections: u32,
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
}
