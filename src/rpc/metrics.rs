//! The RPC's request metrics: a jsonrpsee middleware that counts and times every call of the
//! `lookahead_` namespace by method (`lookahead_rpc_requests_total{method, outcome}`,
//! `lookahead_rpc_request_duration_seconds{method}`), through the `metrics` facade.

use crate::rpc::api::METHOD_NAMES;
use jsonrpsee::{
    MethodResponse,
    core::middleware::{Batch, Notification, RpcServiceT},
    types::Request,
};
use std::{future::Future, time::Instant};

/// A jsonrpsee RPC middleware that counts and times every call by method. Method names
/// outside the `lookahead_` namespace are recorded as `other` (so no client can grow the label
/// set), or not at all on a server that counts its own methods (Reth's).
#[derive(Clone, Debug)]
pub struct RpcMetrics<S> {
    service: S,
    count_others: bool,
}

impl<S> RpcMetrics<S> {
    /// Wraps `service`; use with `RpcServiceBuilder::new().layer_fn(RpcMetrics::new)`.
    pub const fn new(service: S) -> Self {
        Self { service, count_others: true }
    }

    /// Wraps `service`, recording only the `lookahead_` methods.
    pub const fn lookahead_only(service: S) -> Self {
        Self { service, count_others: false }
    }
}

impl<S> RpcServiceT for RpcMetrics<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse> + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let service = self.service.clone();
        let method = method_label(request.method_name());
        let record = self.count_others || method != OTHER;
        async move {
            if !record {
                return service.call(request).await;
            }
            let start = Instant::now();
            let response = service.call(request).await;
            let outcome = if response.is_success() { "ok" } else { "error" };
            metrics::counter!("lookahead_rpc_requests_total", "method" => method, "outcome" => outcome)
                .increment(1);
            metrics::histogram!("lookahead_rpc_request_duration_seconds", "method" => method)
                .record(start.elapsed().as_secs_f64());
            response
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        self.service.batch(batch)
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(notification)
    }
}

/// The label of methods outside the namespace.
const OTHER: &str = "other";

/// The method's name if it is one of ours, else [`OTHER`].
fn method_label(method: &str) -> &'static str {
    METHOD_NAMES.into_iter().find(|known| *known == method).unwrap_or(OTHER)
}
