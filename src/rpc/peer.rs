//! Serving JSON-RPC with each request tagged by its client's address, so quotas can be kept
//! per client (the peer IP) rather than per connection, which a client renews at will.
//!
//! jsonrpsee's `Server` does not hand the peer address to methods; this accepts the
//! connections itself and puts a [`Peer`] into every request's extensions, which jsonrpsee
//! passes on to the methods (`#[method(..., with_extensions)]`).
//!
//! It also bounds what one address may hold of the server ([`PeerLimits`]): jsonrpsee's
//! connection limit counts HTTP requests in progress and open WebSockets over all clients, so
//! one client that opens enough WebSockets, or requests whose body never ends, would take all of
//! it and leave every other client with HTTP 429; and nothing bounds the idle connections a
//! client keeps open, each a file descriptor of the server.

use hyper::body::Incoming;
use jsonrpsee::{
    Extensions, Methods,
    core::BoxError,
    server::{
        HttpResponse, ServerConfig, ServerHandle, StopHandle, http::response::too_many_requests,
        serve_with_graceful_shutdown, stop_channel, ws::is_upgrade_request,
    },
};
use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tracing::debug;

/// How long the accept loop pauses after a failed accept (e.g. out of file descriptors), rather
/// than retrying at once in a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

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

/// What one client IP may hold of a server started by [`serve_with_peers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerLimits {
    /// HTTP requests of one IP in progress at once (HTTP/2 streams included) plus its open
    /// WebSockets: its share of the server's connection limit, which counts the same. More get
    /// HTTP 429.
    pub connections: u32,
    /// TCP connections one IP may hold open, idle or not; more are closed as soon as they are
    /// accepted. Above [`Self::connections`]: HTTP clients keep idle connections in a pool.
    pub sockets: u32,
    /// HTTP/1 requests of one IP served at once (reading the body, parsing, the method); the
    /// others of its [`Self::connections`] wait in line, in arrival order. A burst from one
    /// address is then served a few requests at a time between other clients' requests, not
    /// all of it ahead of them. Calls over a WebSocket (bounded by the subscriptions and
    /// messages of one connection) and HTTP/2 streams (which share a connection's flow-control
    /// window, so cannot wait apart) are not in line.
    pub running: u32,
}

impl PeerLimits {
    /// The default: 64 requests in progress and WebSockets, 256 sockets, 16 requests served at
    /// once per client IP.
    pub const DEFAULT: Self = Self { connections: 64, sockets: 256, running: 16 };
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Serves `methods` on `addr` (HTTP and WebSocket) with `config`'s limits, tagging every
/// request with its [`Peer`]; each client IP holds at most `peers` of the server. Returns the
/// bound address and the handle that stops it.
pub async fn serve_with_peers(
    addr: SocketAddr,
    config: ServerConfig,
    peers: PeerLimits,
    methods: impl Into<Methods>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let methods: Methods = methods.into();
    let (stop, handle) = stop_channel();
    let builder = jsonrpsee::server::Server::builder().set_config(config).to_service_builder();
    let services = stop.clone();
    accept_with_peers(listener, peers, stop, move || {
        builder.clone().build(methods.clone(), services.clone())
    });
    Ok((bound, handle))
}

/// Accepts connections on `listener` until `stop`, and serves each with a service from
/// `service` (a jsonrpsee `TowerService`, with whatever middleware), tagging every request with
/// its [`Peer`] and holding each client IP to `peers`. Runs in a task of its own.
pub fn accept_with_peers<S, F>(
    listener: TcpListener,
    peers: PeerLimits,
    stop: StopHandle,
    service: F,
) where
    F: Fn() -> S + Send + 'static,
    S: tower::Service<http::Request<Incoming>, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let held = Arc::new(Held::new(peers));
    tokio::spawn(async move {
        loop {
            let (socket, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        debug!(target: "lookahead::rpc", %error, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                () = stop.clone().shutdown() => break,
            };
            // As jsonrpsee's own accept loop does: a response is sent as soon as it is written,
            // not held back by Nagle's algorithm until the client acknowledges earlier data.
            if let Err(error) = socket.set_nodelay(true) {
                debug!(target: "lookahead::rpc", %error, "cannot set TCP_NODELAY");
            }
            let peer = Peer(remote.ip());
            let Some(share) = held.take(peer.0, Kind::Socket) else {
                debug!(target: "lookahead::rpc", peer = %peer.0, "connection refused: the address holds its share");
                continue;
            };
            // What the socket holds goes with it: a connection upgraded to a WebSocket counts
            // until the WebSocket closes, not just until the upgrade is answered.
            let upgraded = Arc::new(Mutex::new(None));
            let socket = Counted { socket, _share: share, _upgraded: Arc::clone(&upgraded) };
            let service = Tagged { peer, held: Arc::clone(&held), upgraded, inner: service() };
            tokio::spawn(serve_with_graceful_shutdown(socket, service, stop.clone().shutdown()));
        }
    });
}

/// A client's socket, counted against its address while it is open, with the share of its
/// WebSocket once upgraded.
#[derive(Debug)]
struct Counted {
    socket: TcpStream,
    _share: Share,
    _upgraded: Arc<Mutex<Option<Share>>>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }
}

/// What each client IP holds: its sockets, its requests in progress plus WebSockets, and the
/// permits its requests are served with. An address is in the map only while it holds
/// something (a request waiting for a permit holds its share), so the map is no larger than the
/// connections open and an address has one line at a time.
#[derive(Debug)]
struct Held {
    limits: PeerLimits,
    by_ip: Mutex<HashMap<IpAddr, Holding>>,
}

/// What one client IP holds.
#[derive(Debug)]
struct Holding {
    /// Counts by [`Kind`].
    counts: [u32; 2],
    /// Its requests being served ([`PeerLimits::running`] permits); the others wait for one.
    running: Arc<Semaphore>,
}

impl Holding {
    /// Nothing held yet; `running` requests served at once (at least one).
    fn new(running: u32) -> Self {
        let running =
            usize::try_from(running).unwrap_or(usize::MAX).clamp(1, Semaphore::MAX_PERMITS);
        Self { counts: [0, 0], running: Arc::new(Semaphore::new(running)) }
    }
}

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An open TCP connection.
    Socket = 0,
    /// An HTTP request in progress, or an open WebSocket.
    Connection = 1,
}

impl Held {
    fn new(limits: PeerLimits) -> Self {
        Self { limits, by_ip: Mutex::new(HashMap::new()) }
    }

    /// Counts one more `kind` for `ip`, unless it holds its share; given back when the
    /// returned guard is dropped.
    fn take(self: &Arc<Self>, ip: IpAddr, kind: Kind) -> Option<Share> {
        let limit = match kind {
            Kind::Socket => self.limits.sockets,
            Kind::Connection => self.limits.connections,
        };
        let mut by_ip = self.by_ip.lock().expect("not poisoned");
        let held = by_ip.entry(ip).or_insert_with(|| Holding::new(self.limits.running));
        if held.counts[kind as usize] >= limit {
            if held.counts == [0, 0] {
                by_ip.remove(&ip);
            }
            return None;
        }
        held.counts[kind as usize] += 1;
        let running = Arc::clone(&held.running);
        Some(Share { held: Arc::clone(self), ip, kind, running })
    }
}

/// A socket, request or WebSocket of a client IP, counted until dropped.
#[derive(Debug)]
struct Share {
    held: Arc<Held>,
    ip: IpAddr,
    kind: Kind,
    /// The IP's permits to be served.
    running: Arc<Semaphore>,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut by_ip = self.held.by_ip.lock().expect("not poisoned");
        if let Some(held) = by_ip.get_mut(&self.ip) {
            held.counts[self.kind as usize] = held.counts[self.kind as usize].saturating_sub(1);
            if held.counts == [0, 0] {
                by_ip.remove(&self.ip);
            }
        }
    }
}

/// A connection's service that puts its [`Peer`] into every request and counts the request
/// against the peer's share while it is in progress, or for as long as the socket stays open
/// if it asks for a WebSocket.
#[derive(Clone, Debug)]
struct Tagged<S> {
    peer: Peer,
    held: Arc<Held>,
    upgraded: Arc<Mutex<Option<Share>>>,
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Tagged<S>
where
    S: tower::Service<http::Request<B>, Response = HttpResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(share) = self.held.take(self.peer.0, Kind::Connection) else {
            debug!(target: "lookahead::rpc", peer = %self.peer.0, "request refused: the address holds its share");
            return Box::pin(async { Ok(too_many_requests()) });
        };
        request.extensions_mut().insert(self.peer);
        if is_upgrade_request(&request) {
            // A WebSocket: counted until its socket closes; its calls are not in line.
            *self.upgraded.lock().expect("not poisoned") = Some(share);
            return Box::pin(self.inner.call(request));
        }
        // The streams of one HTTP/2 connection share its flow-control window: a stream left
        // waiting would hold body data that the streams being served need. Not in line.
        let in_line = !matches!(request.version(), http::Version::HTTP_2 | http::Version::HTTP_3);
        // Called only once served: jsonrpsee takes a permit of its connection limit as it is
        // called, which a request waiting in line must not hold. Its `poll_ready` is always
        // ready, so a clone is as ready as the service.
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let serving =
                if in_line { Some(Arc::clone(&share.running).acquire_owned().await) } else { None };
            let response = inner.call(request).await;
            drop((serving, share));
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_it_back() {
        let held = Arc::new(Held::new(PeerLimits { connections: 1, sockets: 2, running: 1 }));
        let first = held.take(ip(1), Kind::Socket).unwrap();
        let second = held.take(ip(1), Kind::Socket).unwrap();
        assert!(held.take(ip(1), Kind::Socket).is_none());
        let other = held.take(ip(2), Kind::Socket).unwrap();
        let request = held.take(ip(1), Kind::Connection).unwrap();
        assert!(held.take(ip(1), Kind::Connection).is_none());
        drop(first);
        let third = held.take(ip(1), Kind::Socket).unwrap();
        drop((second, third, other, request));
        assert!(held.by_ip.lock().unwrap().is_empty(), "nothing held, nothing remembered");
    }

    #[test]
    fn a_refused_address_leaves_no_entry() {
        let held = Arc::new(Held::new(PeerLimits { connections: 0, sockets: 0, running: 1 }));
        assert!(held.take(ip(1), Kind::Connection).is_none());
        assert!(held.take(ip(1), Kind::Socket).is_none());
        assert!(held.by_ip.lock().unwrap().is_empty());
    }
}
