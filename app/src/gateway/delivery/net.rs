//! Where outbound HTTP may go (SSRF protection, SECURITY.md 31).
//!
//! Every HTTP provider's client resolves names through [`NetPolicy`], which drops
//! addresses in loopback, private, link-local (cloud metadata), shared, multicast and
//! reserved ranges unless the operator allowed them; literal IPs in URLs are checked the
//! same way before a request. Redirects are never followed, so an allowed host cannot
//! bounce a request somewhere else.

use super::DeliveryError;
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

/// Which networks outbound requests may reach. The default allows public addresses only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetPolicy {
    /// 127.0.0.0/8 and ::1 (tests, a gateway on the same host).
    pub allow_loopback: bool,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 and fc00::/7 (a gateway on the LAN).
    pub allow_private: bool,
}

/// How an address is classed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    Public,
    Loopback,
    Private,
    /// Link-local (cloud metadata lives here), unspecified, multicast, reserved: never.
    Forbidden,
}

fn class_v4(ip: Ipv4Addr) -> Range {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Range::Loopback
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Range::Private
    } else if ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
        || (a == 198 && (b == 18 || b == 19))
    {
        Range::Forbidden
    } else {
        Range::Public
    }
}

fn class_v6(ip: Ipv6Addr) -> Range {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return class_v4(v4);
    }
    let seg = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., high, low] = seg;
        return class_v4(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)));
    }
    if ip.is_loopback() {
        Range::Loopback
    } else if (seg[0] & 0xfe00) == 0xfc00 {
        Range::Private
    } else if ip.is_unspecified() || ip.is_multicast() || (seg[0] & 0xffc0) == 0xfe80 {
        Range::Forbidden
    } else {
        Range::Public
    }
}

impl NetPolicy {
    /// Whether a request may go to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let range = match ip {
            IpAddr::V4(v4) => class_v4(v4),
            IpAddr::V6(v6) => class_v6(v6),
        };
        match range {
            Range::Public => true,
            Range::Loopback => self.allow_loopback,
            Range::Private => self.allow_private,
            Range::Forbidden => false,
        }
    }

    /// Refuses a URL that is not http(s) or names a literal IP outside the policy. Names
    /// are checked when they resolve (see [`NetPolicy::client`]).
    pub fn check_url(&self, url: &str) -> Result<(), DeliveryError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| DeliveryError::Rejected("the provider URL does not parse".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DeliveryError::Rejected(
                "the provider URL must be http or https".into(),
            ));
        }
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
            None => {
                return Err(DeliveryError::Rejected(
                    "the provider URL has no host".into(),
                ))
            }
        };
        match ip {
            Some(ip) if !self.allows(ip) => Err(DeliveryError::Rejected(format!(
                "the provider URL points at {ip}, a network this server may not reach"
            ))),
            _ => Ok(()),
        }
    }

    /// An HTTP client that resolves names through this policy, never follows redirects,
    /// and gives up after `timeout`.
    pub fn client(
        &self,
        timeout: Duration,
        max_conns: usize,
    ) -> Result<reqwest::Client, DeliveryError> {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(max_conns.max(1))
            .dns_resolver(Arc::new(GuardedResolver(*self)))
            .build()
            .map_err(|e| DeliveryError::Rejected(e.to_string()))
    }
}

/// Resolves with the system resolver and keeps only addresses the policy allows, so a
/// name cannot smuggle a request to an internal address (nor rebind to one later).
struct GuardedResolver(NetPolicy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                all.into_iter().filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(
                    format!("{host} resolves only to addresses this server may not reach").into(),
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses_pass_and_internal_ones_do_not() {
        let p = NetPolicy::default();
        for ok in ["93.184.216.34", "2606:2800:220:1::1", "1.1.1.1"] {
            assert!(p.allows(ip(ok)), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!p.allows(ip(bad)), "{bad}");
        }
    }

    #[test]
    fn the_operator_opens_loopback_and_private_separately() {
        let loopback = NetPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert!(loopback.allows(ip("127.0.0.1")));
        assert!(loopback.allows(ip("::1")));
        assert!(!loopback.allows(ip("10.0.0.1")));
        let private = NetPolicy {
            allow_loopback: false,
            allow_private: true,
        };
        assert!(private.allows(ip("10.0.0.1")));
        assert!(private.allows(ip("fd12::1")));
        assert!(!private.allows(ip("127.0.0.1")));
        let both = NetPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        assert!(!both.allows(ip("169.254.169.254")), "metadata stays closed");
    }

    #[test]
    fn literal_ips_in_urls_are_checked() {
        let p = NetPolicy::default();
        assert!(p.check_url("http://127.0.0.1:8080/x").is_err());
        assert!(p.check_url("http://[::1]/x").is_err());
        assert!(p
            .check_url("http://169.254.169.254/latest/meta-data")
            .is_err());
        assert!(p.check_url("file:///etc/passwd").is_err());
        assert!(p.check_url("https://api.twilio.com/2010-04-01").is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let client = NetPolicy::default()
            .client(Duration::from_secs(2), 1)
            .unwrap();
        let err = client.get("http://localhost:9/").send().await.unwrap_err();
        let chain = format!("{:?}", err);
        assert!(chain.contains("may not reach"), "{chain}");
    }
}
