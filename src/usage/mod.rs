//! Usage statistics (COUNTER R5.1). Every reader action on a disc (landing view, folder
//! browse, image or file download, launch, search, refusal) becomes one pseudonymous event:
//! the member(s) the reader's address belongs to, HMACs of the reader's identity under a key
//! that changes every day (and is deleted two days later), never an address. Recording never
//! blocks or fails a request: events go through a bounded queue to a writer that stores them
//! in batches (at least every `stats.flush_ms`, and at shutdown). The rollup (`rollup.rs`)
//! turns closed days into COUNTER figures; `crate::sushi` serves them.
//!
//! `pseudonym` makes the keyed hashes, `network` finds the client and its members,
//! `recorder` queues and writes the events, `count` applies COUNTER's rules, `robots` knows
//! the robots' user agents.

pub mod count;
mod network;
pub mod pseudonym;
mod recorder;
pub mod robots;
pub mod rollup;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::calendar::Day;
pub use crate::calendar::{DAY_MS, now_ms};
use crate::config::Config;
use crate::db::usage::EventRow;
use crate::db::{Db, DbError};
use crate::metrics::Metrics;
pub use count::Action;
pub use network::{Networks, Reader, canonical, parse_cidrs};
pub use pseudonym::{Keys, Visitor, hour_of, pseudonyms};
pub use recorder::Recorder;

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
    /// Where days begin (`stats.time_zone`): day keys, sessions and double-clicks across
    /// midnight follow the consortium's days, as the rollup does.
    zone: crate::calendar::Zone,
    /// The drives mounted in each session this hour (see [`Self::first_mount`]).
    mounts: std::sync::Mutex<std::collections::HashMap<String, i64>>,
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
            zone: config.stats.time_zone.clone(),
            networks: Networks::new(),
            trusted_proxies: parse_cidrs(&config.http.trusted_proxies).unwrap_or_default(),
            metrics_from: parse_cidrs(&config.http.metrics_from).unwrap_or_default(),
            client_ip_header: config.http.client_ip_header.clone(),
            mounts: std::sync::Mutex::default(),
        }
    }

    /// Whether this is the first time this session (a WebDAV client keeps no cookie: its
    /// address and user agent within the hour, COUNTER's session rule) mounts `disc`: a
    /// drive's client asks for the disc's root again and again, and only the first is a
    /// launch. Kept on this node, for the hour.
    pub fn first_mount(&self, visitor: &Visitor, disc: i64, now_ms: i64) -> bool {
        let hour = now_ms / 3_600_000;
        let key = format!(
            "{}|{}|{disc}",
            visitor.ip,
            visitor.user_agent.as_deref().unwrap_or_default()
        );
        let Ok(mut mounts) = self.mounts.lock() else {
            return true;
        };
        mounts.retain(|_, h| *h == hour);
        mounts.insert(key, hour) != Some(hour)
    }

    /// The session cookie to give a reader who brings none, under the day's key (see
    /// [`pseudonym::first_cookie`]).
    pub async fn first_cookie(
        &self,
        db: &Db,
        ip: IpAddr,
        user_agent: Option<&str>,
        ts_ms: i64,
    ) -> Result<String, DbError> {
        // Local time: the surrogate's day and hour are the consortium's.
        let local = self.zone.local_ms(ts_ms);
        let key = self.keys.get(db, Day::of_ms(local)).await?;
        let visitor = Visitor {
            ip,
            user_agent: user_agent.map(str::to_string),
            cookie: None,
        };
        Ok(pseudonym::first_cookie(&key, &visitor, local))
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

    /// The client's address of a request from `peer` carrying `header` (see
    /// [`network::client_ip`]).
    pub fn client_ip(&self, peer: Option<IpAddr>, header: Option<&str>) -> Option<IpAddr> {
        network::client_ip(&self.trusted_proxies, peer, header)
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
        Ok(Some(Reader {
            ip,
            members,
            signed_on: None,
        }))
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
        // Keys, sessions and midnight are the consortium's (local time); the event keeps
        // its moment.
        let local = self.zone.local_ms(ts_ms);
        let key = self.keys.get(db, Day::of_ms(local)).await?;
        // In a day's first 30 s, the same click under yesterday's key too: a double-click
        // across midnight is still one.
        let prev = if local.rem_euclid(DAY_MS) < count::DOUBLE_CLICK_MS {
            Some(self.keys.get(db, Day::of_ms(local - DAY_MS)).await?)
        } else {
            None
        };
        let (dc_key, dc_key_prev, session_key) =
            pseudonyms(&key, prev.as_deref(), visitor, local, &url_key);
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
