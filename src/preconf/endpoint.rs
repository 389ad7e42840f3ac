//! Which sequencer endpoints a gateway or a watcher dials. The endpoints come from a
//! permissionless registry: anyone can register `http://127.0.0.1:6379` or a name that resolves
//! into the operator's private network, and have the gateway talk to it. So only `http(s)` URLs
//! are dialled, by default only to public addresses, and what is sent or read is bounded.
//!
//! A name is resolved when it is checked; a name whose DNS answer changes between the check and
//! the connection (DNS rebinding) is left to an egress firewall.

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

/// The largest request sent to a sequencer, in bytes.
pub const MAX_REQUEST_BYTES: u32 = 4 * 1024 * 1024;
/// The largest response read from a sequencer, in bytes.
pub const MAX_RESPONSE_BYTES: u32 = 1024 * 1024;

/// Which endpoints may be dialled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// Also loopback, private, link-local and other non-public addresses (for devnets).
    pub allow_private: bool,
    /// `host:port`s dialled even when non-public: known sequencers on a private network.
    pub allowed: Vec<String>,
}

/// Why an endpoint is not dialled.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Not an `http://` or `https://` URL with a host.
    #[error("{0:?} is not an http(s) URL")]
    NotHttp(String),
    /// The host does not resolve.
    #[error("{host} does not resolve: {reason}")]
    Unresolved {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The host is, or resolves to, a non-public address.
    #[error("{host} is {ip}, a non-public address (allowed only with --allow-private-endpoints)")]
    Private {
        /// The host.
        host: String,
        /// The address.
        ip: IpAddr,
    },
    /// The client could not be built.
    #[error("{0}")]
    Client(String),
}

impl EndpointPolicy {
    /// Checks `url` against the policy (resolving its host) and returns a client for it with
    /// bounded request and response sizes and `timeout`.
    pub async fn dial(&self, url: &str, timeout: Duration) -> Result<HttpClient, EndpointError> {
        self.check(url, timeout).await?;
        HttpClientBuilder::default()
            .request_timeout(timeout)
            .max_request_size(MAX_REQUEST_BYTES)
            .max_response_size(MAX_RESPONSE_BYTES)
            .build(url)
            .map_err(|e| EndpointError::Client(e.to_string()))
    }

    /// Checks `url` against the policy.
    pub async fn check(&self, url: &str, timeout: Duration) -> Result<(), EndpointError> {
        let not_http = || EndpointError::NotHttp(url.to_owned());
        let uri: http::Uri = url.parse().map_err(|_| not_http())?;
        let port = match uri.scheme_str() {
            Some("http") => uri.port_u16().unwrap_or(80),
            Some("https") => uri.port_u16().unwrap_or(443),
            _ => return Err(not_http()),
        };
        let host = uri.host().filter(|host| !host.is_empty()).ok_or_else(not_http)?;
        if self.allow_private
            || self.allowed.iter().any(|allowed| *allowed == format!("{host}:{port}"))
        {
            return Ok(());
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => {
                let unresolved =
                    |reason: String| EndpointError::Unresolved { host: host.to_owned(), reason };
                let lookup = tokio::net::lookup_host((bare, port));
                tokio::time::timeout(timeout, lookup)
                    .await
                    .map_err(|_| unresolved("timed out".into()))?
                    .map_err(|e| unresolved(e.to_string()))?
                    .map(|addr| addr.ip())
                    .collect()
            }
        };
        match addresses.into_iter().find(|ip| !is_public(*ip)) {
            Some(ip) => Err(EndpointError::Private { host: host.to_owned(), ip }),
            None => Ok(()),
        }
    }
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local, shared (CGNAT),
/// unique-local, multicast, documentation or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn only_public_http_endpoints_are_dialled_by_default() {
        let policy = EndpointPolicy::default();
        for refused in [
            "http://127.0.0.1:9601",
            "http://localhost:9601",
            "http://10.1.2.3",
            "http://172.16.0.1",
            "https://192.168.1.1",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1",
            "http://0.0.0.0:80",
            "http://[::1]:8545",
            "http://[fe80::1]",
            "http://[fd00::1]",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert!(
                matches!(policy.check(refused, TIMEOUT).await, Err(EndpointError::Private { .. })),
                "{refused} is refused"
            );
        }
        for not_http in
            ["ftp://1.1.1.1", "file:///etc/passwd", "1.1.1.1:80", "http://", "ws://1.1.1.1"]
        {
            assert!(policy.check(not_http, TIMEOUT).await.is_err(), "{not_http} is refused");
        }
        for public in ["http://1.1.1.1:9601", "https://8.8.8.8", "http://[2606:4700::1111]:80"] {
            assert!(policy.check(public, TIMEOUT).await.is_ok(), "{public} is dialled");
        }
    }

    #[tokio::test]
    async fn a_devnet_may_allow_private_endpoints() {
        let policy = EndpointPolicy { allow_private: true, allowed: Vec::new() };
        assert!(policy.check("http://127.0.0.1:9601", TIMEOUT).await.is_ok());
        assert!(policy.check("ftp://127.0.0.1", TIMEOUT).await.is_err());
    }

    #[tokio::test]
    async fn known_private_endpoints_may_be_allowed_one_by_one() {
        let policy =
            EndpointPolicy { allow_private: false, allowed: vec!["127.0.0.1:9601".into()] };
        assert!(policy.check("http://127.0.0.1:9601", TIMEOUT).await.is_ok());
        assert!(policy.check("http://127.0.0.1:9602", TIMEOUT).await.is_err());
        assert!(policy.check("http://127.0.0.1:6379", TIMEOUT).await.is_err());
    }
}
