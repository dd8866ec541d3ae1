//! Where the catalogue clients may connect. A librarian types a catalogue's address; without a
//! check, linking would make the server send requests wherever that address leads — its own
//! loopback services, the cloud's metadata service, the machines beside it. Every address is
//! checked when a connection is about to be made, after name resolution (so a name that
//! resolves, or later re-resolves, to a refused address does not pass), for literal addresses
//! and for every redirect: loopback, link-local, private, shared (CGNAT), multicast and
//! unspecified addresses are refused unless the operator allows their network
//! (`linking.allow_networks`: members' catalogues often sit on campus private networks), and
//! the cloud metadata addresses always are. A refusal happens before any connection and says
//! which address and why; nothing of what is there is ever read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Allowed networks, as `a.b.c.d/len` or `x::/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = text.split_once('/').unwrap_or((text, ""));
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a network (a.b.c.d/len or x::/len)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has no valid prefix length"))?
        };
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Cloud metadata services: never, whatever is allowed (AWS, GCP, Azure, OpenStack at
/// 169.254.169.254; Alibaba Cloud at 100.100.100.200; AWS over IPv6).
const METADATA: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// What kind of address a non-public one is, or None for a public address.
fn special(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_private() {
                Some("private")
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                Some("shared (CGNAT)")
            } else if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if v4.is_multicast() || v4.is_broadcast() || o[0] >= 240 {
                Some("multicast or reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private")
            } else if v6.is_multicast() {
                Some("multicast or reserved")
            } else {
                None
            }
        }
    }
}

/// Why an address was not connected to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{host} is {ip}, a {kind} address: Spindle does not connect there{}",
    if *.kind == "cloud metadata" { "" } else { " unless the operator allows its network (linking.allow_networks)" }
)]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub kind: &'static str,
}

/// The rule, with the networks the operator allows.
#[derive(Debug, Clone, Default)]
pub struct Egress {
    allow: Arc<Vec<Network>>,
}

impl Egress {
    pub fn new(allow: Vec<Network>) -> Self {
        Self {
            allow: Arc::new(allow),
        }
    }

    /// Anything but the metadata services: for tests whose servers are on loopback.
    pub fn allow_all() -> Self {
        Self::new(vec![
            Network::parse("0.0.0.0/0").unwrap_or(Network {
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                prefix: 0,
            }),
            Network {
                addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                prefix: 0,
            },
        ])
    }

    /// Whether `ip` (what `host` resolved to) may be connected to.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        let refused = |kind| {
            Err(Refused {
                host: host.to_string(),
                ip,
                kind,
            })
        };
        if METADATA.contains(&canonical(ip)) {
            return refused("cloud metadata");
        }
        match special(ip) {
            Some(kind) if !self.allow.iter().any(|n| n.contains(ip)) => refused(kind),
            _ => Ok(()),
        }
    }

    /// The URL's host, when it is an address rather than a name (names are checked when
    /// they are resolved).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), Refused> {
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        match literal {
            Some(ip) => self.check(url.host_str().unwrap_or_default(), ip),
            None => Ok(()),
        }
    }

    /// A client builder that resolves names through this rule and checks every redirect.
    pub fn client(&self) -> reqwest::ClientBuilder {
        // reqwest is built without a crypto provider: ring's is the process's (a no-op when
        // one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let redirects = self.clone();
        reqwest::Client::builder()
            .dns_resolver(Arc::new(self.clone()))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("more than 5 redirects")
                } else if let Err(e) = redirects.check_url(attempt.url()) {
                    attempt.error(e)
                } else {
                    attempt.follow()
                }
            }))
    }
}

impl Resolve for Egress {
    fn resolve(&self, name: Name) -> Resolving {
        let rule = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // Every address the name has must pass: a client may try any of them.
            for a in &found {
                rule.check(&host, a.ip())?;
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The refusal somewhere in a request error's causes, if that is what stopped it.
pub fn refusal(e: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<Refused>() {
            return Some(r.clone());
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn only_public_addresses_by_default() {
        let e = Egress::default();
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "169.254.169.254",
            "169.254.1.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::",
        ] {
            assert!(e.check("h", ip(refused)).is_err(), "{refused}");
        }
        for allowed in ["202.112.0.1", "8.8.8.8", "2001:da8::1", "100.128.0.1"] {
            assert!(e.check("h", ip(allowed)).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn allowed_networks_but_never_metadata() {
        let e = Egress::new(vec![
            Network::parse("10.0.0.0/8").expect("net"),
            Network::parse("127.0.0.1").expect("net"),
            Network::parse("169.254.0.0/16").expect("net"),
        ]);
        assert!(e.check("h", ip("10.20.30.40")).is_ok());
        assert!(e.check("h", ip("127.0.0.1")).is_ok());
        assert!(e.check("h", ip("::ffff:127.0.0.1")).is_ok());
        assert!(e.check("h", ip("127.0.0.2")).is_err());
        assert!(e.check("h", ip("192.168.0.1")).is_err());
        let r = e
            .check("meta", ip("169.254.169.254"))
            .expect_err("metadata");
        assert_eq!(r.kind, "cloud metadata");
        assert!(
            Egress::allow_all()
                .check("h", ip("169.254.169.254"))
                .is_err()
        );
        assert!(Egress::allow_all().check("h", ip("127.0.0.1")).is_ok());
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("x/8").is_err());
    }

    #[test]
    fn literal_urls_are_checked() {
        let e = Egress::default();
        for u in [
            "http://127.0.0.1:9/sru",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001/",
            "http://2130706433/",
        ] {
            let url = reqwest::Url::parse(u).expect("url");
            assert!(e.check_url(&url).is_err(), "{u}");
        }
        let url = reqwest::Url::parse("http://catalogue.example.edu/sru").expect("url");
        assert!(e.check_url(&url).is_ok());
    }
}
