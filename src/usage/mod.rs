//! Usage statistics (COUNTER R5.1). Every reader action on a disc (landing view, folder
//! browse, image or file download, launch, search, refusal) becomes one pseudonymous event:
//! the member(s) the reader's address belongs to, HMACs of the reader's identity under a key
//! that changes every day (and is deleted two days later), never an address. Recording never
//! blocks or fails a request: events go through a bounded queue to a writer that stores them
//! in batches (at least every `stats.flush_ms`, and at shutdown). The rollup (`rollup.rs`)
//! turns closed days into COUNTER figures; `crate::sushi` serves them.

pub mod count;
pub mod robots;
pub mod rollup;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::db::usage::EventRow;
use crate::db::{Db, DbError};
use crate::metrics::Metrics;
pub use count::Action;

pub use crate::calendar::DAY_MS;
use crate::calendar::Day;

/// The hour of day (UTC) of a time in Unix milliseconds.
pub fn hour_of(ts_ms: i64) -> i64 {
    ts_ms.rem_euclid(DAY_MS) / 3_600_000
}

pub use crate::calendar::now_ms;

/// Who a reader is, for counting: a session cookie when the browser keeps one, else the
/// address and user agent (COUNTER's surrogate).
#[derive(Debug, Clone)]
pub struct Visitor {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
    pub cookie: Option<String>,
}

impl Visitor {
    /// The identity behind double-click detection.
    fn who(&self) -> String {
        match &self.cookie {
            Some(c) => format!("c:{c}"),
            None => format!(
                "a:{}\0{}",
                self.ip,
                self.user_agent.as_deref().unwrap_or("")
            ),
        }
    }

    /// COUNTER's session surrogate before hashing: `cookie|date` with a session cookie,
    /// else `ip|user-agent|date|hour`.
    pub fn session_surrogate(&self, ts_ms: i64) -> String {
        match &self.cookie {
            Some(c) => format!("{c}|{}", Day::of_ms(ts_ms)),
            None => format!(
                "{}|{}|{}|{}",
                self.ip,
                self.user_agent.as_deref().unwrap_or(""),
                Day::of_ms(ts_ms),
                hour_of(ts_ms)
            ),
        }
    }
}

/// The keyed hash of `parts`, each ended by a NUL (so no two splits hash alike).
fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let pieces: Vec<&[u8]> = parts.iter().flat_map(|p| [*p, b"\0".as_slice()]).collect();
    crate::auth::hmac_hex(key, &pieces, 16)
}

/// The keyed hashes an event carries instead of an identity: the double-click key (and the
/// same under the previous day's key, near midnight) and the session key.
pub fn pseudonyms(
    key: &[u8],
    prev_key: Option<&[u8]>,
    visitor: &Visitor,
    ts_ms: i64,
    url_key: &str,
) -> (String, Option<String>, String) {
    let who = visitor.who();
    let dc = |k: &[u8]| hmac_hex(k, &[who.as_bytes(), url_key.as_bytes()]);
    (
        dc(key),
        prev_key.map(dc),
        hmac_hex(key, &[visitor.session_surrogate(ts_ms).as_bytes()]),
    )
}

/// The daily keys, shared by every node through the database and cached here.
#[derive(Default)]
pub struct Keys {
    cache: Mutex<HashMap<Day, Vec<u8>>>,
}

impl Keys {
    pub async fn get(&self, db: &Db, day: Day) -> Result<Vec<u8>, DbError> {
        if let Some(k) = self.cache.lock().ok().and_then(|c| c.get(&day).cloned()) {
            return Ok(k);
        }
        let candidate = crate::auth::random_hex(32);
        let stored = crate::db::usage::day_key(db, &day.to_string(), &candidate).await?;
        let key = hex::decode(&stored)
            .or_else(|_| hex::decode(&candidate))
            .unwrap_or_default();
        if let Ok(mut c) = self.cache.lock() {
            let oldest = Day::of_ms(now_ms() - 2 * DAY_MS);
            c.retain(|d, _| *d >= oldest);
            c.insert(day, key.clone());
        }
        Ok(key)
    }
}

/// The members' network ranges, reloaded from the database at most every 30 s (and at once
/// after they change on this node).
/// Each member's ranges as loaded, and when (shared, so a lookup copies nothing).
type Loaded = Option<(Instant, Arc<Vec<(IpNet, i64)>>)>;

pub struct Networks {
    loaded: Mutex<Loaded>,
}

impl Networks {
    fn new() -> Self {
        Self {
            loaded: Mutex::new(None),
        }
    }

    pub fn invalidate(&self) {
        if let Ok(mut l) = self.loaded.lock() {
            *l = None;
        }
    }

    /// The members whose ranges hold `ip`, ascending.
    pub async fn members_for(&self, db: &Db, ip: IpAddr) -> Result<Vec<i64>, DbError> {
        let fresh = self.loaded.lock().ok().and_then(|l| {
            l.as_ref()
                .filter(|(at, _)| at.elapsed() < Duration::from_secs(30))
                .map(|(_, n)| Arc::clone(n))
        });
        let nets = match fresh {
            Some(n) => n,
            None => {
                let n: Arc<Vec<(IpNet, i64)>> = Arc::new(
                    crate::db::usage::networks(db)
                        .await?
                        .into_iter()
                        .filter_map(|(m, c)| c.parse::<IpNet>().ok().map(|net| (net, m)))
                        .collect(),
                );
                if let Ok(mut l) = self.loaded.lock() {
                    *l = Some((Instant::now(), Arc::clone(&n)));
                }
                n
            }
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
}

/// IPv4-mapped IPv6 addresses as IPv4, so v4 ranges match them.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses CIDRs (a bare address is a /32 or /128).
pub fn parse_cidrs(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    format!(
                        "{s:?} is not an address range (CIDR such as 192.0.2.0/24 or 2001:db8::/32)"
                    )
                })
        })
        .collect()
}

enum Msg {
    Event(Box<EventRow>),
    Flush(oneshot::Sender<()>),
}

/// The bounded queue to the event writer.
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    last_warning: AtomicI64,
}

impl Recorder {
    /// Starts the writer (on the current runtime).
    fn start(
        db: Db,
        config: &Config,
        recorded: prometheus_client::metrics::counter::Counter,
        dropped: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        let (tx, rx) = mpsc::channel(config.stats.queue.max(1));
        let every = Duration::from_millis(config.stats.flush_ms.max(10));
        tokio::spawn(write_forever(db, rx, every, recorded, dropped));
        Self {
            tx,
            last_warning: AtomicI64::new(0),
        }
    }

    /// Queues an event; when the queue is full the event is dropped, counted and logged
    /// (at most once a minute), and the request goes on.
    pub fn record(&self, event: EventRow, metrics: &Metrics) {
        if self.tx.try_send(Msg::Event(Box::new(event))).is_err() {
            metrics.usage_dropped.inc();
            let now = now_ms();
            let last = self.last_warning.load(Ordering::Relaxed);
            if now - last > 60_000
                && self
                    .last_warning
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    "usage queue full: events are being dropped (see spindle_usage_events_dropped)"
                );
            }
        }
    }

    /// Waits until every event queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_forever(
    db: Db,
    mut rx: mpsc::Receiver<Msg>,
    every: Duration,
    recorded: prometheus_client::metrics::counter::Counter,
    dropped: prometheus_client::metrics::counter::Counter,
) {
    let mut batch: Vec<EventRow> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (open, ticked) = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Event(e)) => { batch.push(*e); (true, false) }
                Some(Msg::Flush(done)) => { waiting.push(done); (true, false) }
                None => (false, false),
            },
            _ = tick.tick() => (true, true),
        };
        // Take whatever else is already queued, then write if it is time (or asked).
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Event(e) => batch.push(*e),
                Msg::Flush(done) => waiting.push(done),
            }
        }
        if !batch.is_empty() && (ticked || !open || !waiting.is_empty() || batch.len() >= 1000) {
            write_batch(&db, &mut batch, &recorded, &dropped).await;
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if !open {
            return;
        }
    }
}

async fn write_batch(
    db: &Db,
    batch: &mut Vec<EventRow>,
    recorded: &prometheus_client::metrics::counter::Counter,
    dropped: &prometheus_client::metrics::counter::Counter,
) {
    let events = std::mem::take(batch);
    let n = events.len() as u64;
    // One retry after a pause: a database restarting loses at most one batch.
    for attempt in 0..2 {
        match crate::db::usage::insert_events(db, &events).await {
            Ok(()) => {
                recorded.inc_by(n);
                return;
            }
            Err(e) if attempt == 0 => {
                tracing::warn!(error = %e, events = n, "writing usage events; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, events = n, "usage events lost: the database refused them");
                dropped.inc_by(n);
            }
        }
    }
}

/// Everything the statistics need at request time.
pub struct Usage {
    pub recorder: Recorder,
    pub keys: Keys,
    pub networks: Networks,
    pub trusted_proxies: Vec<IpNet>,
    /// The addresses `/metrics` answers (`http.metrics_from`).
    pub metrics_from: Vec<IpNet>,
    /// The header trusted proxies put the client's address in (`http.client_ip_header`).
    pub client_ip_header: String,
}

impl Usage {
    pub fn start(db: &Db, config: &Config, metrics: &Metrics) -> Self {
        Self {
            recorder: Recorder::start(
                db.clone(),
                config,
                metrics.usage_recorded.clone(),
                metrics.usage_dropped.clone(),
            ),
            keys: Keys::default(),
            networks: Networks::new(),
            trusted_proxies: parse_cidrs(&config.http.trusted_proxies).unwrap_or_default(),
            metrics_from: parse_cidrs(&config.http.metrics_from).unwrap_or_default(),
            client_ip_header: config.http.client_ip_header.clone(),
        }
    }

    /// A request's socket peer and the client-address header, as [`Self::client_ip`] and
    /// [`Self::reader`] take them.
    pub fn origin<'a>(
        &self,
        extensions: &axum::http::Extensions,
        headers: &'a axum::http::HeaderMap,
    ) -> (Option<IpAddr>, Option<&'a str>) {
        let peer = extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = headers
            .get(self.client_ip_header.as_str())
            .and_then(|v| v.to_str().ok());
        (peer, forwarded)
    }

    /// The client's address of a request (see [`Self::client_ip`]).
    pub fn client_of(
        &self,
        extensions: &axum::http::Extensions,
        headers: &axum::http::HeaderMap,
    ) -> Option<IpAddr> {
        let (peer, forwarded) = self.origin(extensions, headers);
        self.client_ip(peer, forwarded)
    }

    /// The client's address: the socket peer, or, when the peer is a trusted proxy, the
    /// last address in its header that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: Option<IpAddr>, header: Option<&str>) -> Option<IpAddr> {
        let peer = canonical(peer?);
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|n| n.contains(ip));
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

    /// The reader behind a request from `peer` carrying `forwarded` (the client-IP header).
    pub async fn reader(
        &self,
        db: &Db,
        peer: Option<IpAddr>,
        forwarded: Option<&str>,
    ) -> Result<Option<Reader>, DbError> {
        let Some(ip) = self.client_ip(peer, forwarded) else {
            return Ok(None);
        };
        let members = self.networks.members_for(db, ip).await?;
        Ok(Some(Reader { ip, members }))
    }

    /// The event for `action` by `visitor`, attributed to `members`, at `ts_ms` on `url_key`
    /// (method and path).
    #[allow(clippy::too_many_arguments)]
    pub async fn event(
        &self,
        db: &Db,
        visitor: &Visitor,
        members: &[i64],
        ts_ms: i64,
        action: Action,
        disc_id: Option<i64>,
        file_path: Option<String>,
        url_key: String,
        status: u16,
        access_type: &str,
    ) -> Result<EventRow, DbError> {
        let key = self.keys.get(db, Day::of_ms(ts_ms)).await?;
        // In a day's first 30 s, the same click under yesterday's key too: a double-click
        // across midnight is still one.
        let prev = if ts_ms.rem_euclid(DAY_MS) < count::DOUBLE_CLICK_MS {
            Some(self.keys.get(db, Day::of_ms(ts_ms - DAY_MS)).await?)
        } else {
            None
        };
        let (dc_key, dc_key_prev, session_key) =
            pseudonyms(&key, prev.as_deref(), visitor, ts_ms, &url_key);
        Ok(EventRow {
            id: 0,
            ts_ms,
            action: action.as_str().to_string(),
            disc_id,
            file_path,
            url_key,
            status: status as i64,
            members: count::members_field(members),
            dc_key,
            dc_key_prev,
            session_key,
            robot: robots::is_robot(visitor.user_agent.as_deref()),
            access_type: access_type.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_surrogate_is_counters() {
        let v = Visitor {
            ip: "192.1.1.168".parse().expect("ip"),
            user_agent: Some("Mozilla/5.0".into()),
            cookie: None,
        };
        let at = Day::parse("2024-06-15").expect("day").start_ms() + 13 * 3_600_000 + 35 * 60_000;
        assert_eq!(
            v.session_surrogate(at),
            "192.1.1.168|Mozilla/5.0|2024-06-15|13"
        );
        let with_cookie = Visitor {
            cookie: Some("abc".into()),
            ..v
        };
        assert_eq!(with_cookie.session_surrogate(at), "abc|2024-06-15");
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _stalled_writer) = mpsc::channel(1);
        let recorder = Recorder {
            tx,
            last_warning: AtomicI64::new(0),
        };
        let metrics = Metrics::default();
        let event = EventRow {
            id: 0,
            ts_ms: 0,
            action: "landing".into(),
            disc_id: Some(1),
            file_path: None,
            url_key: "GET /".into(),
            status: 200,
            members: String::new(),
            dc_key: String::new(),
            dc_key_prev: None,
            session_key: String::new(),
            robot: false,
            access_type: "Controlled".into(),
        };
        for _ in 0..3 {
            recorder.record(event.clone(), &metrics);
        }
        assert_eq!(metrics.usage_dropped.get(), 2);
        assert!(recorder.last_warning.load(Ordering::Relaxed) > 0, "logged");
    }

    #[test]
    fn client_addresses_behind_trusted_proxies_only() {
        let usage_trusting = |cidrs: &[&str]| Usage {
            recorder: Recorder {
                tx: mpsc::channel(1).0,
                last_warning: AtomicI64::new(0),
            },
            keys: Keys::default(),
            networks: Networks::new(),
            trusted_proxies: parse_cidrs(&cidrs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("cidrs"),
            metrics_from: Vec::new(),
            client_ip_header: "x-forwarded-for".into(),
        };
        let u = usage_trusting(&["10.0.0.0/8"]);
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        // An untrusted peer's header is ignored.
        assert_eq!(
            u.client_ip(ip("203.0.113.9"), Some("198.51.100.1")),
            ip("203.0.113.9")
        );
        // A trusted proxy: the last hop that is not a proxy.
        assert_eq!(
            u.client_ip(ip("10.0.0.2"), Some("1.2.3.4, 198.51.100.1, 10.0.0.7")),
            ip("198.51.100.1")
        );
        assert_eq!(u.client_ip(ip("10.0.0.2"), Some("garbage")), ip("10.0.0.2"));
        assert_eq!(u.client_ip(ip("::ffff:10.0.0.2"), None), ip("10.0.0.2"));
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
