//! The schedule page: one static HTML page, its script and its style sheet, compiled into the
//! binary, served by the lookahead's own RPC port next to JSON-RPC. [`SchedulePageLayer`] is an
//! HTTP middleware for jsonrpsee's server: it answers `GET /` (and `GET /ui`, `GET
//! /schedule.js`, `GET /schedule.css`) and passes everything else — JSON-RPC `POST`s and
//! WebSocket upgrades, which are `GET /` too — to the server.
//!
//! The page asks the same origin over WebSocket: `lookahead_status` every two seconds,
//! `lookahead_getSchedule` per rollup for the served windows, and `lookahead_subscribe
//! ("schedule")` for the windows that become fixed or are reorged.

use futures::future::{Either, Ready, ready};
use http::{
    HeaderValue, Method, Request, Response, StatusCode,
    header::{
        CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, UPGRADE, X_CONTENT_TYPE_OPTIONS,
    },
};
use jsonrpsee::server::{HttpBody, HttpResponse};
use std::task::{Context, Poll};

/// The page.
pub const INDEX_HTML: &str = include_str!("ui/index.html");
/// Its script.
pub const SCHEDULE_JS: &str = include_str!("ui/schedule.js");
/// Its style sheet.
pub const SCHEDULE_CSS: &str = include_str!("ui/schedule.css");

/// What the page may load and connect to: itself, and the WebSocket of its own origin.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; \
                      form-action 'none'; frame-ancestors 'none'";

/// The file served at `path`, with its content type, if `path` is one of the page's.
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/" | "/ui" | "/ui/" | "/index.html" => Some((INDEX_HTML, "text/html; charset=utf-8")),
        "/schedule.js" => Some((SCHEDULE_JS, "text/javascript; charset=utf-8")),
        "/schedule.css" => Some((SCHEDULE_CSS, "text/css; charset=utf-8")),
        _ => None,
    }
}

/// The page's response to `request`, or `None` when the request is not for the page (a
/// JSON-RPC call, a WebSocket upgrade, another path).
fn page_response<B>(request: &Request<B>) -> Option<HttpResponse> {
    if request.method() != Method::GET || request.headers().contains_key(UPGRADE) {
        return None;
    }
    let (body, content_type) = asset(request.uri().path())?;
    let mut response = Response::new(HttpBody::from(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    Some(response)
}

/// The HTTP middleware layer that serves the schedule page (when enabled) in front of the
/// JSON-RPC server: `ServiceBuilder::new().layer(SchedulePageLayer::new(true))`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedulePageLayer {
    enabled: bool,
}

impl SchedulePageLayer {
    /// Serves the page if `enabled`; else passes every request through.
    pub const fn new(enabled: bool) -> Self {
        Self { enabled }
    }
}

impl<S> tower::Layer<S> for SchedulePageLayer {
    type Service = SchedulePage<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SchedulePage { inner, enabled: self.enabled }
    }
}

/// The service [`SchedulePageLayer`] wraps the server in.
#[derive(Clone, Debug)]
pub struct SchedulePage<S> {
    inner: S,
    enabled: bool,
}

impl<S, B> tower::Service<Request<B>> for SchedulePage<S>
where
    S: tower::Service<Request<B>, Response = HttpResponse>,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Either<Ready<Result<HttpResponse, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.enabled.then(|| page_response(&request)).flatten() {
            Some(response) => Either::Left(ready(Ok(response))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request<()> {
        Request::builder().method(Method::GET).uri(path).body(()).expect("a valid request")
    }

    #[test]
    fn serves_the_page_and_its_files() {
        for (path, kind) in [
            ("/", "text/html"),
            ("/ui", "text/html"),
            ("/schedule.js", "text/javascript"),
            ("/schedule.css", "text/css"),
        ] {
            let response = page_response(&get(path)).expect("served");
            let content_type = response.headers()[CONTENT_TYPE].to_str().expect("ascii");
            assert!(content_type.starts_with(kind), "{path}: {content_type}");
        }
    }

    #[test]
    fn passes_json_rpc_and_websocket_upgrades_through() {
        let post = Request::builder().method(Method::POST).uri("/").body(()).expect("request");
        assert!(page_response(&post).is_none());
        let upgrade = Request::builder()
            .method(Method::GET)
            .uri("/")
            .header(UPGRADE, "websocket")
            .body(())
            .expect("request");
        assert!(page_response(&upgrade).is_none());
        assert!(page_response(&get("/elsewhere")).is_none());
    }

    #[test]
    fn the_page_loads_only_its_own_files() {
        assert!(INDEX_HTML.contains("schedule.js") && INDEX_HTML.contains("schedule.css"));
        for file in [INDEX_HTML, SCHEDULE_JS, SCHEDULE_CSS] {
            assert!(!file.contains("https://"), "the page must not load anything from elsewhere");
        }
    }
}
