//! Where a request comes from: the client's address (behind trusted proxies only), and the
//! members whose network ranges hold it.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;

pub use crate::config::parse_cidrs;
use crate::db::{Db, DbError};

/// The members' network ranges, reloaded from the database at most every 30 s (and at once
/// after they change on this node). When the database does not answer, the ranges last
/// loaded are kept: readers are still attributed (and counted) through a database restart.
pub struct Networks {
    loaded: Mutex<Option<Loaded>>,
}

/// Each member's ranges as loaded (shared, so a lookup copies nothing), and when: None once
/// they changed on this node.
struct Loaded {
    at: Option<Instant>,
    nets: Arc<Vec<(IpNet, i64)>>,
}

impl Networks {
    pub(super) fn new() -> Self {
        Self {
            loaded: Mutex::new(None),
        }
    }

    pub fn invalidate(&self) {
        if let Ok(mut l) = self.loaded.lock()
            && let Some(loaded) = l.as_mut()
        {
            loaded.at = None;
        }
    }

    /// The members whose ranges hold `ip`, ascending.
    pub async fn members_for(&self, db: &Db, ip: IpAddr) -> Result<Vec<i64>, DbError> {
        let (fresh, last) = match self.loaded.lock().ok().as_deref() {
            Some(Some(l)) => (
                l.at.is_some_and(|at| at.elapsed() < Duration::from_secs(30)),
                Some(Arc::clone(&l.nets)),
            ),
            _ => (false, None),
        };
        let nets = match (fresh, last) {
            (true, Some(n)) => n,
            (_, last) => match crate::db::usage::networks(db).await {
                Ok(rows) => {
                    let n: Arc<Vec<(IpNet, i64)>> = Arc::new(
                        rows.into_iter()
                            .filter_map(|(m, c)| c.parse::<IpNet>().ok().map(|net| (net, m)))
                            .collect(),
                    );
                    if let Ok(mut l) = self.loaded.lock() {
                        *l = Some(Loaded {
                            at: Some(Instant::now()),
                            nets: Arc::clone(&n),
                        });
                    }
                    n
                }
                Err(e) => match last {
                    Some(n) => {
                        tracing::debug!(error = %e, "reloading network ranges; keeping the last ones");
                        n
                    }
                    None => return Err(e),
                },
            },
        };
        let ip = canonical(ip);
        let mut out: Vec<i64> = nets
            .iter()
            .filter(|(net, _)| net.contains(&ip))
            .map(|(_, m)| *m)
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// A reader's address and the members whose ranges hold it: worked out once per request
/// (by the usage middleware) for both the access decision and the event.
#[derive(Debug, Clone)]
pub struct Reader {
    pub ip: IpAddr,
    pub members: Vec<i64>,
    /// The member the reader signed in with (its campus sign-on), if they did.
    pub signed_on: Option<i64>,
}

/// IPv4-mapped IPv6 addresses as IPv4, so v4 ranges match them.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: the socket peer, or, when the peer is a trusted proxy, the
/// last address in its header that is not itself a trusted proxy.
pub fn client_ip(
    trusted_proxies: &[IpNet],
    peer: Option<IpAddr>,
    header: Option<&str>,
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let mut chosen = peer;
    if let Some(h) = header {
        for hop in h.rsplit(',') {
            let hop = hop
                .trim()
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("");
            let Ok(ip) = hop.parse::<IpAddr>().map(canonical) else {
                break;
            };
            chosen = ip;
            if !trusted(&ip) {
                break;
            }
        }
    }
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addresses_behind_trusted_proxies_only() {
        let trusted = parse_cidrs(&["10.0.0.0/8".to_string()]).expect("cidrs");
        let client =
            |peer: &str, header: Option<&str>| client_ip(&trusted, peer.parse().ok(), header);
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        // An untrusted peer's header is ignored.
        assert_eq!(
            client("203.0.113.9", Some("198.51.100.1")),
            ip("203.0.113.9")
        );
        // A trusted proxy: the last hop that is not a proxy.
        assert_eq!(
            client("10.0.0.2", Some("1.2.3.4, 198.51.100.1, 10.0.0.7")),
            ip("198.51.100.1")
        );
        assert_eq!(client("10.0.0.2", Some("garbage")), ip("10.0.0.2"));
        assert_eq!(client("::ffff:10.0.0.2", None), ip("10.0.0.2"));
        assert_eq!(client_ip(&trusted, None, Some("1.2.3.4")), None);
        assert!(parse_cidrs(&["300.1.1.1/8".to_string()]).is_err());
        assert_eq!(
            parse_cidrs(&["2001:db8::1/32".into(), "192.0.2.7".into()]).expect("ok"),
            vec![
                "2001:db8::/32".parse::<IpNet>().expect("net"),
                "192.0.2.7/32".parse::<IpNet>().expect("net")
            ]
        );
    }
}
