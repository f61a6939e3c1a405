//! The client's address when Sealform runs behind reverse proxies (a load balancer, a TLS terminator).
//!
//! The audit trail records where each request came from, and the failed-sign-in, failed-key and public-submission
//! limits count per address. Behind a proxy the connection's peer is the proxy, so every client would share one
//! address: one attacker could lock everyone out, and the trail would name the proxy. `X-Forwarded-For` names the
//! client, but any client can send that header, so it is believed only from the proxies the operator lists
//! (`trusted_proxies`), and only as far as the chain of listed proxies reaches: read from the right, the first
//! address that is not a listed proxy is the client. From anyone else the header is ignored.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The address ranges of the reverse proxies whose `X-Forwarded-For` is believed. Empty by default: the
/// connection's peer is the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.7`, `::1`) and ranges (`10.0.0.0/8`, `fd00::/8`).
    ///
    /// # Errors
    /// Names the first entry that is neither, or a range of every address (which would let any client choose the
    /// address the audit trail records).
    pub fn parse<T: AsRef<str>>(entries: &[T]) -> Result<Self, String> {
        let parse_one = |entry: &str| {
            let entry = entry.trim();
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{entry:?} is neither an address nor a range like 10.0.0.0/8"))?;
            if net.prefix_len() == 0 {
                return Err(format!("{entry:?} trusts every address: any client could then choose its own"));
            }
            Ok(net)
        };
        entries.iter().map(|e| parse_one(e.as_ref())).collect::<Result<_, _>>().map(Self)
    }

    /// The ranges, as configured, for `config show`.
    #[must_use]
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a request that came from `peer` carrying these `X-Forwarded-For` values (in header
    /// order). Walks the list from the right past listed proxies; an entry that is not an address ends the walk
    /// at the last proxy believed (whoever wrote it is not to be trusted further).
    #[must_use]
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, IPv6 possibly in brackets; a port is allowed and dropped.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok()))?;
    Some(ip.to_canonical())
}

/// The client's address as resolved by [`resolve`]; read through [`crate::auth::client_ip`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientIp(pub(crate) IpAddr);

/// Middleware: records the request's client address, believing `X-Forwarded-For` only from trusted proxies.
pub(crate) async fn resolve(State(proxies): State<Arc<TrustedProxies>>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let forwarded = request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let client = proxies.client(peer, forwarded);
        request.extensions_mut().insert(ClientIp(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_listed_proxy() {
        let spoofed = ["203.0.113.9"];
        assert_eq!(TrustedProxies::default().client(ip("198.51.100.7"), spoofed.into_iter()), ip("198.51.100.7"));
        let listed = proxies(&["10.0.0.0/8"]);
        assert_eq!(listed.client(ip("198.51.100.7"), spoofed.into_iter()), ip("198.51.100.7"), "a client, not ours");
        assert_eq!(listed.client(ip("10.1.2.3"), spoofed.into_iter()), ip("203.0.113.9"), "from our proxy");
    }

    #[test]
    fn the_walk_stops_at_the_first_address_that_is_not_a_listed_proxy() {
        let listed = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // The client forged a first entry; two of our proxies appended theirs.
        let chain = ["1.1.1.1, 203.0.113.9", "192.0.2.1"];
        assert_eq!(listed.client(ip("10.0.0.5"), chain.into_iter()), ip("203.0.113.9"));
        // Only our proxies: the leftmost is as far as the chain reaches.
        assert_eq!(listed.client(ip("10.0.0.5"), ["10.9.9.9, 192.0.2.1"].into_iter()), ip("10.9.9.9"));
        // No header from our proxy: the proxy itself.
        assert_eq!(listed.client(ip("10.0.0.5"), std::iter::empty()), ip("10.0.0.5"));
    }

    #[test]
    fn garbage_ends_the_walk_at_the_last_proxy_believed() {
        let listed = proxies(&["10.0.0.0/8"]);
        assert_eq!(listed.client(ip("10.0.0.5"), ["203.0.113.9, <script>"].into_iter()), ip("10.0.0.5"));
        assert_eq!(listed.client(ip("10.0.0.5"), ["nonsense, 10.0.0.6"].into_iter()), ip("10.0.0.6"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_understood() {
        let listed = proxies(&["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(listed.client(ip("::ffff:10.0.0.5"), ["203.0.113.9:4711"].into_iter()), ip("203.0.113.9"));
        assert_eq!(listed.client(ip("fd00::1"), ["[2001:db8::7]"].into_iter()), ip("2001:db8::7"));
        assert_eq!(listed.client(ip("fd00::1"), ["[2001:db8::7]:443"].into_iter()), ip("2001:db8::7"));
    }

    #[test]
    fn entries_are_addresses_or_ranges() {
        assert_eq!(
            proxies(&["10.0.0.7", " ::1 ", "10.0.0.0/8"]).to_strings(),
            ["10.0.0.7/32", "::1/128", "10.0.0.0/8"]
        );
        let err = TrustedProxies::parse(&["10.0.0.0/33"]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!(TrustedProxies::parse(&["proxy.example"]).is_err());
        assert!(TrustedProxies::parse(&["0.0.0.0/0"]).unwrap_err().contains("every address"));
        assert!(TrustedProxies::parse(&["::/0"]).is_err());
    }
}
