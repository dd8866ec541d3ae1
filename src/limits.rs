//! Rate limits, in memory on each node. A whole campus, an EZproxy or a WebVPN is one address,
//! so an address is not one person:
//!
//! - **credential guessing**: after `limits.auth_failures_per_minute` refused credentials
//!   (any 401: a wrong bearer token, sign-in token or SUSHI key) from an address (an IPv6
//!   client by its /64), a credential from it gets 429 until the minute is over, the right one
//!   included, so guessing gains nothing — unless that credential was *proven* from that
//!   address before (accepted within the last `PROVEN_FOR`): the librarian who was working
//!   behind the campus NAT goes on while a student's wrong tokens lock only the unproven. Staff
//!   signed in by their campus sign-on present no credential to Spindle and are never locked.
//! - **expensive requests** (search, zips, SUSHI reports, exports, CSV tables): at most
//!   `limits.expensive_per_minute` per key, then 429. The key is the credential when it is a
//!   proven one (each librarian or harvester their own allowance), else the address; an
//!   address in a member's network ranges (a campus behind NAT) has
//!   `limits.expensive_per_minute_member_network`.
//!
//! Downloads and pages are not limited here: they are cheap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Beyond this many addresses tracked, expired windows are swept out.
const SWEEP_AT: usize = 100_000;

/// How long a credential accepted from an address stays proven there.
pub const PROVEN_FOR: Duration = Duration::from_secs(3600);

/// What a limit counts: an address (see [`key`]), or a credential by its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Address(IpAddr),
    Credential([u8; 32]),
}

/// Fixed one-minute windows of counts per key.
pub struct Limiter {
    max: u32,
    windows: Mutex<HashMap<Key, (Instant, u32)>>,
}

/// The address a limit counts: an IPv4 address, or an IPv6 address's /64 (one subscriber).
pub fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Limiter {
    /// `max` per minute; 0 turns the limit off.
    pub fn new(max: u32) -> Self {
        Self {
            max,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `ip` may go on, if it is over the limit now.
    pub fn over(&self, ip: IpAddr) -> Option<u64> {
        if self.max == 0 {
            return None;
        }
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (start, count) = windows.get(&Key::Address(key(ip)))?;
        let left = WINDOW.checked_sub(start.elapsed())?;
        (*count >= self.max).then(|| left.as_secs().max(1))
    }

    /// Counts one for `ip`; returns the seconds to wait if that was one too many.
    pub fn hit(&self, ip: IpAddr) -> Option<u64> {
        self.hit_key(Key::Address(key(ip)), self.max)
    }

    /// Counts one for `k` against `max` (0: no limit); the seconds to wait if that was one
    /// too many.
    pub fn hit_key(&self, k: Key, max: u32) -> Option<u64> {
        if max == 0 {
            return None;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        let now = Instant::now();
        let entry = windows.entry(k).or_insert((now, 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        (entry.1 > max).then(|| WINDOW.saturating_sub(entry.0.elapsed()).as_secs().max(1))
    }
}

/// Credentials accepted from an address, and when.
#[derive(Default)]
pub struct Proven(Mutex<HashMap<(IpAddr, [u8; 32]), Instant>>);

impl Proven {
    /// Notes that `credential` (its hash) was accepted from `ip`.
    pub fn note(&self, ip: IpAddr, credential: [u8; 32]) {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, at| at.elapsed() < PROVEN_FOR);
        }
        seen.insert((key(ip), credential), Instant::now());
    }

    /// Whether `credential` was accepted from `ip` within [`PROVEN_FOR`].
    pub fn holds(&self, ip: IpAddr, credential: &[u8; 32]) -> bool {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(&(key(ip), *credential))
            .is_some_and(|at| at.elapsed() < PROVEN_FOR)
    }
}

/// The limiters of a node.
pub struct Limits {
    pub auth_failures: Limiter,
    /// Counted against `limits.expensive_per_minute` or, for an address in a member's network
    /// ranges, `expensive_per_minute_member_network` (the middleware says which).
    pub expensive: Limiter,
    pub proven: Proven,
}

impl Limits {
    pub fn new(config: &crate::config::LimitsConfig) -> Self {
        Self {
            auth_failures: Limiter::new(config.auth_failures_per_minute),
            expensive: Limiter::new(config.expensive_per_minute),
            proven: Proven::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_per_ipv6_subnet() {
        let l = Limiter::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "192.0.2.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for _ in 0..3 {
            assert_eq!(l.hit(a), None);
        }
        assert!(l.over(a).is_some());
        assert!(l.hit(a).is_some_and(|w| (1..=60).contains(&w)));
        assert_eq!(l.over(b), None);
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for _ in 0..3 {
            l.hit(v6("2001:db8:1:2::1"));
        }
        assert!(l.over(v6("2001:db8:1:2:ffff::9")).is_some(), "same /64");
        assert_eq!(l.over(v6("2001:db8:1:3::1")), None);
        assert_eq!(Limiter::new(0).hit(a), None, "0 turns it off");
    }

    #[test]
    fn a_credential_is_proven_only_from_its_address() {
        let p = Proven::default();
        let a: IpAddr = IpAddr::from([192, 0, 2, 1]);
        let b: IpAddr = IpAddr::from([192, 0, 2, 2]);
        p.note(a, [7; 32]);
        assert!(p.holds(a, &[7; 32]));
        assert!(!p.holds(b, &[7; 32]));
        assert!(!p.holds(a, &[8; 32]));
        let l = Limiter::new(2);
        let k = Key::Credential([7; 32]);
        assert_eq!(l.hit_key(k, 2), None);
        assert_eq!(l.hit_key(k, 2), None);
        assert!(l.hit_key(k, 2).is_some());
        assert_eq!(l.hit(a), None, "an address's window is its own");
    }
}
