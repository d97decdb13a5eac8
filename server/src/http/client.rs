//! Who the client is: the peer's address, or, when the peer is a proxy the operator
//! trusts (`[app] trusted_proxies`), the address its `X-Forwarded-For` names. Every
//! per-IP limit and every audit record keys on [`ClientIp`]; a header from anyone else is
//! ignored, so a client cannot pick its own address.

use super::HttpSettings;
use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{request::Parts, HeaderMap, StatusCode},
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

/// The client's address as the rate limits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Resolves the request's [`ClientIp`] once, for every handler after it.
pub async fn resolve(
    State(http): State<Arc<HttpSettings>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        let ip = client_ip(peer.ip(), req.headers(), &http.trusted_proxies);
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .or_else(|| {
                let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
                Some(ClientIp(peer.ip().to_canonical()))
            })
            .ok_or((
                StatusCode::INTERNAL_SERVER_ERROR,
                "the client's address is not known",
            ))
    }
}

/// The client behind `peer`: walking `X-Forwarded-For` from the nearest hop back, the
/// first address that is not a trusted proxy. A hop that is not an address ends the walk
/// at the last address known, so garbage in the header never yields an address of the
/// client's choosing; when every hop is trusted, the farthest one.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(list) => list.split(',').map(parse_hop).collect(),
            Err(_) => vec![None],
        })
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

/// One hop of `X-Forwarded-For`: an address, with or without a port (`[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Parses `[app] trusted_proxies`: addresses (`10.0.0.7`) and networks (`10.0.0.0/8`).
pub fn parse_trusted(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|e| parse_trusted(e).unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_peer_that_is_not_trusted_is_the_client_whatever_it_forwards() {
        let h = headers(&["203.0.113.9"]);
        assert_eq!(client_ip(ip("198.51.100.1"), &h, &[]), ip("198.51.100.1"));
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1"]);
        // The client put a lie first; the proxy appended what it saw.
        let h = headers(&["1.1.1.1, 203.0.113.9", "10.1.2.3"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // A port, IPv6 in brackets, an IPv4-mapped IPv6 peer.
        let h = headers(&["[2001:db8::5]:4711"]);
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("2001:db8::5")
        );
        let h = headers(&["203.0.113.9:5000"]);
        assert_eq!(client_ip(ip("10.9.9.9"), &h, &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn garbage_or_nothing_forwarded_leaves_the_last_known_address() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
        let h = headers(&["203.0.113.9, not-an-address, 10.0.0.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.2"));
        let h = headers(&["10.0.0.3, 10.0.0.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.3"));
    }

    #[test]
    fn trusted_entries_are_addresses_or_networks() {
        assert!(parse_trusted("10.0.0.0/8").is_some());
        assert!(parse_trusted(" 192.168.1.1 ").is_some());
        assert!(parse_trusted("::1").is_some());
        assert!(parse_trusted("fd00::/8").is_some());
        assert!(parse_trusted("10.0.0.0/33").is_none());
        assert!(parse_trusted("proxy.example").is_none());
        assert!(parse_trusted("").is_none());
    }

    proptest! {
        /// Whatever a client writes in the header, the address chosen is the peer's or one
        /// that some hop wrote, never one that only the client wrote after an untrusted hop;
        /// and with no trusted proxies it is always the peer.
        #[test]
        fn the_header_never_overrides_an_untrusted_peer(
            forwarded in proptest::collection::vec("[0-9a-f.:, \\[\\]x/-]{0,40}", 0..4),
            peer in any::<[u8; 4]>(),
        ) {
            let mut h = HeaderMap::new();
            for v in &forwarded {
                if let Ok(v) = v.parse() {
                    h.append("x-forwarded-for", v);
                }
            }
            let peer = IpAddr::from(peer);
            prop_assert_eq!(client_ip(peer, &h, &[]), peer);
            let trusted = nets(&["0.0.0.0/0"]);
            let chosen = client_ip(peer, &h, &trusted);
            let written: Vec<IpAddr> = forwarded
                .iter()
                .flat_map(|v| v.split(','))
                .filter_map(parse_hop)
                .collect();
            prop_assert!(chosen == peer || written.contains(&chosen));
        }
    }
}
