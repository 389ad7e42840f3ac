//! Serving JSON-RPC with each request tagged by its client's address, so quotas can be kept
//! per client (the peer IP) rather than per connection, which a client renews at will.
//!
//! jsonrpsee's `Server` does not hand the peer address to methods; this accepts the
//! connections itself and puts a [`Peer`] into every request's extensions, which jsonrpsee
//! passes on to the methods (`#[method(..., with_extensions)]`).

use jsonrpsee::{
    Extensions, Methods,
    server::{ServerConfig, ServerHandle, serve_with_graceful_shutdown, stop_channel},
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::TcpListener;
use tracing::debug;

/// The client of a request: the IP address its connection comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer(pub IpAddr);

impl Peer {
    /// The peer of a request, from its extensions; the unspecified address if the server did
    /// not record one (a server not started by [`serve_with_peers`]).
    pub fn of(extensions: &Extensions) -> Self {
        extensions.get::<Self>().copied().unwrap_or(Self(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }
}

/// Serves `methods` on `addr` (HTTP and WebSocket) with `config`'s limits, tagging every
/// request with its [`Peer`]. Returns the bound address and the handle that stops it.
pub async fn serve_with_peers(
    addr: SocketAddr,
    config: ServerConfig,
    methods: impl Into<Methods>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let methods: Methods = methods.into();
    let (stop, handle) = stop_channel();
    let builder = jsonrpsee::server::Server::builder().set_config(config).to_service_builder();
    tokio::spawn(async move {
        loop {
            let (socket, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        debug!(target: "lookahead::rpc", %error, "accept failed");
                        continue;
                    }
                },
                () = stop.clone().shutdown() => break,
            };
            let service = Tagged {
                peer: Peer(remote.ip()),
                inner: builder.clone().build(methods.clone(), stop.clone()),
            };
            tokio::spawn(serve_with_graceful_shutdown(socket, service, stop.clone().shutdown()));
        }
    });
    Ok((bound, handle))
}

/// A connection's service that puts its [`Peer`] into every request.
#[derive(Clone, Debug)]
struct Tagged<S> {
    peer: Peer,
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Tagged<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.peer);
        self.inner.call(request)
    }
}
