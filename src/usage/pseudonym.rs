//! Who a reader is, for counting, without keeping who: the visitor (session cookie, or
//! address and user agent), the keyed hashes an event carries instead, and the daily keys
//! (shared by every node through the database, deleted two days later).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::calendar::{DAY_MS, Day, now_ms};
use crate::db::{Db, DbError};

/// The hour of day (UTC) of a time in Unix milliseconds.
pub fn hour_of(ts_ms: i64) -> i64 {
    ts_ms.rem_euclid(DAY_MS) / 3_600_000
}

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

/// The session cookie a browser that brings none is given, and is counted as already: a
/// keyed hash of COUNTER's surrogate for it (address, user agent, day and hour). The request
/// that sets the cookie and the ones that bring it back are then one visitor — a fresh
/// browser's double-click is one click, its session one session — and a client that never
/// keeps cookies is its surrogate, as before. Browsers alike in all of these within the same
/// hour (a lab's identical machines behind one address) share a cookie, as COUNTER's
/// surrogate already makes them share a session.
pub fn first_cookie(key: &[u8], visitor: &Visitor, ts_ms: i64) -> String {
    let surrogate = Visitor {
        cookie: None,
        ..visitor.clone()
    }
    .session_surrogate(ts_ms);
    hmac_hex(key, &[b"session cookie", surrogate.as_bytes()])
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
}
