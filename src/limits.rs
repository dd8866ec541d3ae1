//! Rate limits per client address (an IPv6 client by its /64), in memory on each node:
//!
//! - **credential guessing**: after `limits.auth_failures_per_minute` refused credentials
//!   (any 401: a wrong bearer token, sign-in token or SUSHI key), every request from that
//!   address that brings credentials gets 429 until the minute is over — the right token
//!   included, so guessing gains nothing;
//! - **expensive requests** (search, zips, SUSHI reports, exports, CSV tables): at most
//!   `limits.expensive_per_minute` per address, then 429.
//!
//! Downloads and pages are not limited here: they are cheap, and a campus proxy puts many
//! readers behind one address unless it is a trusted proxy (`http.trusted_proxies`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Beyond this many addresses tracked, expired windows are swept out.
const SWEEP_AT: usize = 100_000;

/// Fixed one-minute windows of counts per address.
pub struct Limiter {
    max: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// The address a limit counts: an IPv4 address, or an IPv6 address's /64 (one subscriber).
fn key(ip: IpAddr) -> IpAddr {
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
        let (start, count) = windows.get(&key(ip))?;
        let left = WINDOW.checked_sub(start.elapsed())?;
        (*count >= self.max).then(|| left.as_secs().max(1))
    }

    /// Counts one for `ip`; returns the seconds to wait if that was one too many.
    pub fn hit(&self, ip: IpAddr) -> Option<u64> {
        if self.max == 0 {
            return None;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        let now = Instant::now();
        let entry = windows.entry(key(ip)).or_insert((now, 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        (entry.1 > self.max).then(|| WINDOW.saturating_sub(entry.0.elapsed()).as_secs().max(1))
    }
}

/// The two limiters of a node.
pub struct Limits {
    pub auth_failures: Limiter,
    pub expensive: Limiter,
}

impl Limits {
    pub fn new(config: &crate::config::LimitsConfig) -> Self {
        Self {
            auth_failures: Limiter::new(config.auth_failures_per_minute),
            expensive: Limiter::new(config.expensive_per_minute),
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
}
