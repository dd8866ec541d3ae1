//! COUNTER R5.1 counting for one day, as a pure function of its raw events: robots out,
//! only successful transactions (and refusals), double-clicks merged (same user and URL
//! within 30 s inclusive: the later click is kept, chains collapse to the last), then per
//! scope, disc and attributes: Total_Item_Investigations/Requests, Unique_Item_* over
//! sessions, No_License, Limit_Exceeded, and the platform's own views, downloads, launches.

use std::collections::{HashMap, HashSet};

use crate::db::usage::{EventRow, Fact};

/// Two clicks this close (or closer) are one.
pub const DOUBLE_CLICK_MS: i64 = 30_000;

/// The consortium's scope: every attributed event once.
pub const CONSORTIUM: i64 = 0;
/// Events no member is attributed.
pub const UNATTRIBUTED: i64 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The disc's landing page (or its JSON).
    Landing,
    /// A folder of the disc.
    Browse,
    /// One file from inside the disc (or an audio track).
    File,
    /// The whole image (or a folder as a ZIP).
    Image,
    /// The disc's start page or document, opened in the browser.
    Launch,
    Search,
    NoLicense,
    LimitExceeded,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Landing => "landing",
            Action::Browse => "browse",
            Action::File => "file",
            Action::Image => "image",
            Action::Launch => "launch",
            Action::Search => "search",
            Action::NoLicense => "no_license",
            Action::LimitExceeded => "limit_exceeded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "landing" => Action::Landing,
            "browse" => Action::Browse,
            "file" => Action::File,
            "image" => Action::Image,
            "launch" => Action::Launch,
            "search" => Action::Search,
            "no_license" => Action::NoLicense,
            "limit_exceeded" => Action::LimitExceeded,
            _ => return None,
        })
    }

    /// Everything done with a disc is an Investigation; a Request is also one.
    pub fn investigation(self) -> bool {
        matches!(
            self,
            Action::Landing | Action::Browse | Action::File | Action::Image | Action::Launch
        )
    }

    /// Retrieving the content itself.
    pub fn request(self) -> bool {
        matches!(self, Action::File | Action::Image | Action::Launch)
    }

    fn denial(self) -> bool {
        matches!(self, Action::NoLicense | Action::LimitExceeded)
    }
}

/// The members an event is attributed to, from its `,1,5,` form.
pub fn members_of(raw: &str) -> Vec<i64> {
    raw.split(',').filter_map(|m| m.parse().ok()).collect()
}

/// The stored form of a member list.
pub fn members_field(members: &[i64]) -> String {
    if members.is_empty() {
        return String::new();
    }
    let mut out = String::from(",");
    for m in members {
        out.push_str(&m.to_string());
        out.push(',');
    }
    out
}

/// Whether the event can count at all: no robot, and a successful transaction (a partial
/// one only when it was recorded as the start of a download; a launch is its redirect to
/// the disc's page, the key event CoP §7.1 allows) or a refusal.
fn eligible(e: &EventRow, action: Action) -> bool {
    !e.robot
        && (action.denial()
            || matches!(e.status, 200 | 206 | 304)
            || (action == Action::Launch && e.status == 303))
}

/// Indices of events a later click of the same user on the same URL, at most 30 s later,
/// takes the place of. Searches are never merged: double-click filtering names
/// investigations, requests and denials (CoP §7.2), and a search counts each time the
/// platform runs one (§7.6). `dc_key_prev` (the same click hashed under the previous day's key,
/// set in the first 30 s of a day) lets a double-click straddle midnight.
fn superseded(events: &[(usize, &EventRow)]) -> HashSet<usize> {
    let mut groups: HashMap<&str, Vec<(i64, i64, usize)>> = HashMap::new();
    for (i, e) in events
        .iter()
        .filter(|(_, e)| e.action != Action::Search.as_str())
    {
        groups
            .entry(e.dc_key.as_str())
            .or_default()
            .push((e.ts_ms, e.id, *i));
        if let Some(prev) = &e.dc_key_prev {
            groups
                .entry(prev.as_str())
                .or_default()
                .push((e.ts_ms, e.id, *i));
        }
    }
    let mut out = HashSet::new();
    for group in groups.values_mut() {
        group.sort_unstable();
        for pair in group.windows(2) {
            let ((ta, _, a), (tb, _, b)) = (pair[0], pair[1]);
            if a != b && tb - ta <= DOUBLE_CLICK_MS {
                out.insert(a);
            }
        }
    }
    out
}

#[derive(Default)]
struct Acc<'a> {
    fact: Fact,
    investigating: HashSet<&'a str>,
    requesting: HashSet<&'a str>,
}

/// The day's figures from the events of `[day_start, day_end + 30 s)` (the extra 30 s let a
/// click just before midnight be merged into one just after). `attrs` gives each disc's
/// Data_Type and YOP; a disc not in it is `Multimedia`, `0001`.
pub fn count_day(
    events: &[EventRow],
    day_start_ms: i64,
    day_end_ms: i64,
    attrs: &HashMap<i64, (String, String)>,
) -> (Vec<Fact>, Vec<(i64, i64)>) {
    let usable: Vec<(usize, &EventRow)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| Action::parse(&e.action).is_some_and(|a| eligible(e, a)))
        .collect();
    let gone = superseded(&usable);
    let mut facts: HashMap<(i64, i64, &str, &str, &str), Acc> = HashMap::new();
    let mut searches: HashMap<i64, i64> = HashMap::new();
    let fallback = ("Multimedia".to_string(), "0001".to_string());
    for (i, e) in &usable {
        if gone.contains(i) || e.ts_ms < day_start_ms || e.ts_ms >= day_end_ms {
            continue;
        }
        let Some(action) = Action::parse(&e.action) else {
            continue;
        };
        let members = members_of(&e.members);
        let mut scopes = members.clone();
        scopes.push(if members.is_empty() {
            UNATTRIBUTED
        } else {
            CONSORTIUM
        });
        if action == Action::Search {
            for s in scopes {
                *searches.entry(s).or_default() += 1;
            }
            continue;
        }
        let Some(disc) = e.disc_id else { continue };
        let (data_type, yop) = attrs.get(&disc).unwrap_or(&fallback);
        for scope in scopes {
            let acc = facts
                .entry((scope, disc, data_type, &e.access_type, yop))
                .or_default();
            let f = &mut acc.fact;
            if action.investigation() {
                f.tii += 1;
                acc.investigating.insert(&e.session_key);
            }
            if action.request() {
                f.tir += 1;
                acc.requesting.insert(&e.session_key);
            }
            match action {
                Action::Landing | Action::Browse => f.views += 1,
                Action::File | Action::Image => f.downloads += 1,
                Action::Launch => f.launches += 1,
                Action::NoLicense => f.no_license += 1,
                Action::LimitExceeded => f.limit_exceeded += 1,
                Action::Search => {}
            }
        }
    }
    let mut out: Vec<Fact> = facts
        .into_iter()
        .map(|((scope, disc, data_type, access_type, yop), acc)| Fact {
            member_id: scope,
            disc_id: disc,
            data_type: data_type.to_string(),
            access_type: access_type.to_string(),
            yop: yop.to_string(),
            uii: acc.investigating.len() as i64,
            uir: acc.requesting.len() as i64,
            ..acc.fact
        })
        .collect();
    out.sort_by_key(|f| (f.member_id, f.disc_id));
    let mut searches: Vec<(i64, i64)> = searches.into_iter().collect();
    searches.sort_unstable();
    (out, searches)
}

/// The compliance cases of COUNTER R5.1 (CoP §7.2–7.4, the audit's tests), numbered as in
/// the project's reference (counter-sushi.md §9).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Day;
    use crate::usage::{DAY_MS, Visitor, pseudonyms};

    fn day_start_ms(day: &str) -> Option<i64> {
        Day::parse(day).map(Day::start_ms)
    }

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

    fn at(day: &str, h: i64, m: i64, s: f64) -> i64 {
        day_start_ms(day).expect("day") + h * 3_600_000 + m * 60_000 + (s * 1000.0) as i64
    }

    fn visitor(ip: &str) -> Visitor {
        Visitor {
            ip: ip.parse().expect("ip"),
            user_agent: Some(FIREFOX.into()),
            cookie: None,
        }
    }

    struct Log {
        events: Vec<EventRow>,
    }

    impl Log {
        fn new() -> Self {
            Self { events: Vec::new() }
        }

        /// An event as the recorder makes it (each day's key is the day's name here).
        fn add(
            &mut self,
            v: &Visitor,
            ts: i64,
            action: Action,
            disc: i64,
            url: &str,
        ) -> &mut EventRow {
            let key = Day::of_ms(ts).to_string();
            let prev = (ts.rem_euclid(DAY_MS) < DOUBLE_CLICK_MS)
                .then(|| Day::of_ms(ts - DAY_MS).to_string());
            let (dc_key, dc_key_prev, session_key) = pseudonyms(
                key.as_bytes(),
                prev.as_ref().map(|p| p.as_bytes()),
                v,
                ts,
                url,
            );
            self.events.push(EventRow {
                id: self.events.len() as i64 + 1,
                ts_ms: ts,
                action: action.as_str().into(),
                disc_id: Some(disc),
                file_path: None,
                url_key: url.into(),
                status: 200,
                members: ",7,".into(),
                dc_key,
                dc_key_prev,
                session_key,
                robot: crate::usage::robots::is_robot(v.user_agent.as_deref()),
                access_type: "Controlled".into(),
            });
            self.events.last_mut().expect("just pushed")
        }

        /// Member 7's figures for `day`, summed over discs: (TII, TIR, UII, UIR, No_License).
        fn day(&self, day: &str) -> (i64, i64, i64, i64, i64) {
            let start = day_start_ms(day).expect("day");
            let window: Vec<EventRow> = self
                .events
                .iter()
                .filter(|e| e.ts_ms >= start && e.ts_ms < start + DAY_MS + DOUBLE_CLICK_MS)
                .cloned()
                .collect();
            let (facts, _) = count_day(&window, start, start + DAY_MS, &HashMap::new());
            facts
                .iter()
                .filter(|f| f.member_id == 7)
                .fold((0, 0, 0, 0, 0), |a, f| {
                    (
                        a.0 + f.tii,
                        a.1 + f.tir,
                        a.2 + f.uii,
                        a.3 + f.uir,
                        a.4 + f.no_license,
                    )
                })
        }
    }

    const D: &str = "2025-03-10";
    const IMG: &str = "GET /api/v1/discs/1/image";

    fn downloads(gaps: &[f64]) -> (i64, i64, i64, i64, i64) {
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        let t0 = at(D, 10, 1, 0.0);
        for g in gaps {
            log.add(&v, t0 + (g * 1000.0) as i64, Action::Image, 1, IMG);
        }
        log.day(D)
    }

    #[test]
    fn c01_two_downloads_20_s_apart_are_one() {
        assert_eq!(downloads(&[0.0, 20.0]), (1, 1, 1, 1, 0));
    }

    #[test]
    fn c02_two_downloads_31_s_apart_are_two() {
        assert_eq!(downloads(&[0.0, 31.0]), (2, 2, 1, 1, 0));
    }

    #[test]
    fn c03_the_cop_examples() {
        assert_eq!(downloads(&[0.0, 29.0]).1, 1);
        assert_eq!(downloads(&[0.0, 35.0]).1, 2);
    }

    #[test]
    fn c04_exactly_30_s_is_one_and_30_5_s_is_two() {
        assert_eq!(downloads(&[0.0, 30.0]).1, 1);
        assert_eq!(downloads(&[0.0, 30.5]).1, 2);
    }

    #[test]
    fn c05_a_chain_collapses_to_its_last_click() {
        assert_eq!(downloads(&[0.0, 20.0, 40.0, 60.0]).1, 1);
        // The click kept is the last: across an hour boundary it lands in the later hour.
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        for s in [0.0, 20.0, 40.0, 60.0] {
            log.add(
                &v,
                at(D, 10, 59, 30.0) + (s * 1000.0) as i64,
                Action::Image,
                1,
                IMG,
            );
        }
        let window = log.events.clone();
        let usable: Vec<(usize, &EventRow)> = window.iter().enumerate().collect();
        let gone = superseded(&usable);
        assert_eq!(gone, HashSet::from([0, 1, 2]));
    }

    #[test]
    fn c06_a_chain_breaks_after_more_than_30_s() {
        assert_eq!(downloads(&[0.0, 29.0, 65.0]).1, 2);
    }

    #[test]
    fn c07_a_double_click_across_midnight_and_a_month_counts_in_the_later_month() {
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        log.add(&v, at("2025-01-31", 23, 59, 50.0), Action::Image, 1, IMG);
        log.add(&v, at("2025-02-01", 0, 0, 10.0), Action::Image, 1, IMG);
        assert_eq!(log.day("2025-01-31"), (0, 0, 0, 0, 0));
        assert_eq!(log.day("2025-02-01"), (1, 1, 1, 1, 0));
    }

    #[test]
    fn c08_different_urls_are_never_merged() {
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        log.add(
            &v,
            at(D, 10, 0, 0.0),
            Action::Landing,
            1,
            "GET /api/v1/discs/1",
        );
        log.add(&v, at(D, 10, 0, 1.0), Action::Image, 1, IMG);
        assert_eq!(log.day(D), (2, 1, 1, 1, 0));
    }

    #[test]
    fn c09_different_users_are_never_merged() {
        let mut log = Log::new();
        let t = at(D, 10, 0, 0.0);
        log.add(&visitor("192.0.2.1"), t, Action::Image, 1, IMG);
        log.add(&visitor("192.0.2.2"), t + 5000, Action::Image, 1, IMG);
        let other_ua = Visitor {
            user_agent: Some("Mozilla/5.0 (Macintosh) Safari/605.1.15".into()),
            ..visitor("192.0.2.1")
        };
        log.add(&other_ua, t + 5000, Action::Image, 1, IMG);
        let c1 = Visitor {
            cookie: Some("a".repeat(32)),
            ..visitor("192.0.2.3")
        };
        let c2 = Visitor {
            cookie: Some("b".repeat(32)),
            ..visitor("192.0.2.3")
        };
        log.add(&c1, t, Action::Image, 1, IMG);
        log.add(&c2, t + 5000, Action::Image, 1, IMG);
        assert_eq!(log.day(D).1, 5);
    }

    #[test]
    fn c10_the_strongest_identity_decides() {
        // Two session cookies behind one address and agent are two users; one cookie from
        // two addresses is one.
        let mut log = Log::new();
        let t = at(D, 10, 0, 0.0);
        let a = Visitor {
            cookie: Some("a".repeat(32)),
            ..visitor("192.0.2.1")
        };
        let b = Visitor {
            cookie: Some("b".repeat(32)),
            ..visitor("192.0.2.1")
        };
        log.add(&a, t, Action::Image, 1, IMG);
        log.add(&b, t + 5000, Action::Image, 1, IMG);
        assert_eq!(log.day(D).1, 2);
        let mut log = Log::new();
        log.add(&a, t, Action::Image, 1, IMG);
        let a_elsewhere = Visitor {
            ip: "198.51.100.9".parse().expect("ip"),
            ..a.clone()
        };
        log.add(&a_elsewhere, t + 10_000, Action::Image, 1, IMG);
        assert_eq!(log.day(D).1, 1);
    }

    #[test]
    fn c11_refusals_are_double_click_filtered() {
        for (gap, expected) in [(10.0, 1), (40.0, 2)] {
            let mut log = Log::new();
            let v = visitor("192.0.2.1");
            for g in [0.0, gap] {
                log.add(&v, at(D, 9, 0, g), Action::NoLicense, 1, IMG)
                    .status = 401;
            }
            let (tii, tir, uii, uir, denied) = log.day(D);
            assert_eq!(
                (tii, tir, uii, uir, denied),
                (0, 0, 0, 0, expected),
                "{gap}"
            );
        }
    }

    #[test]
    fn c12_the_audit_replica() {
        let mut log = Log::new();
        for disc in 0..30 {
            let v = visitor(&format!("192.0.2.{}", disc + 1));
            let url = format!("GET /api/v1/discs/{disc}/image");
            let t = at(D, 8, disc, 0.0);
            let gap = if disc < 15 { 25_000 } else { 35_000 };
            log.add(&v, t, Action::Image, disc, &url);
            log.add(&v, t + gap, Action::Image, disc, &url);
        }
        let (tii, tir, uii, uir, _) = log.day(D);
        assert_eq!((tii, tir, uii, uir), (45, 45, 30, 30));
    }

    #[test]
    fn c13_five_files_of_a_disc_in_one_session() {
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        for i in 0..5 {
            log.add(
                &v,
                at(D, 13, i * 5, 0.0),
                Action::File,
                1,
                &format!("GET /api/v1/discs/1/files/f{i}"),
            );
        }
        assert_eq!(log.day(D), (5, 5, 1, 1, 0));
    }

    #[test]
    fn c14_sessions_are_hour_slices_without_a_cookie() {
        let v = visitor("192.1.1.168");
        let session = |ts| pseudonyms(b"k", None, &v, ts, "u").2;
        assert_eq!(session(at(D, 13, 0, 0.0)), session(at(D, 13, 59, 59.0)));
        assert_ne!(session(at(D, 13, 59, 59.0)), session(at(D, 14, 0, 0.0)));
    }

    #[test]
    fn c15_a_cookie_session_lasts_the_day() {
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        log.add(&v, at(D, 13, 50, 0.0), Action::Image, 1, IMG);
        log.add(&v, at(D, 14, 10, 0.0), Action::Image, 1, IMG);
        assert_eq!(log.day(D), (2, 2, 2, 2, 0));
        let c = Visitor {
            cookie: Some("c".repeat(32)),
            ..v
        };
        let mut log = Log::new();
        log.add(&c, at(D, 13, 50, 0.0), Action::Image, 1, IMG);
        log.add(&c, at(D, 14, 10, 0.0), Action::Image, 1, IMG);
        assert_eq!(log.day(D), (2, 2, 1, 1, 0));
        let mut log = Log::new();
        log.add(&c, at("2025-03-10", 23, 50, 0.0), Action::Image, 1, IMG);
        log.add(&c, at("2025-03-11", 0, 10, 0.0), Action::Image, 1, IMG);
        assert_eq!(log.day("2025-03-10").3 + log.day("2025-03-11").3, 2);
    }

    #[test]
    fn c16_a_request_alone_is_also_an_investigation() {
        assert_eq!(downloads(&[0.0]), (1, 1, 1, 1, 0));
    }

    #[test]
    fn c17_browsing_is_investigation_only() {
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        log.add(
            &v,
            at(D, 11, 0, 0.0),
            Action::Landing,
            1,
            "GET /api/v1/discs/1",
        );
        for (i, dir) in ["a", "b", "c"].iter().enumerate() {
            log.add(
                &v,
                at(D, 11, 1 + i as i64, 0.0),
                Action::Browse,
                1,
                &format!("GET /api/v1/discs/1/files/{dir}/"),
            );
        }
        assert_eq!(log.day(D), (4, 0, 1, 0, 0));
    }

    #[test]
    fn c18_a_launch_is_one_request() {
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        log.add(
            &v,
            at(D, 12, 0, 0.0),
            Action::Launch,
            1,
            "GET /api/v1/discs/1/launch",
        )
        .status = 303;
        assert_eq!(log.day(D), (1, 1, 1, 1, 0));
    }

    #[test]
    fn c20_robots_count_for_nothing() {
        let mut log = Log::new();
        for (i, ua) in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "GOOGLEBOT",
            "python-requests/2.31.0",
            "curl/8.5.0",
            "Wget/1.21",
            "Mozilla/5.0 HeadlessChrome/120.0",
            "",
            "-",
        ]
        .iter()
        .enumerate()
        {
            let v = Visitor {
                user_agent: Some(ua.to_string()),
                ..visitor(&format!("192.0.2.{}", i + 1))
            };
            log.add(&v, at(D, 12, i as i64, 0.0), Action::Image, 1, IMG);
        }
        assert_eq!(log.day(D), (0, 0, 0, 0, 0));
        log.add(
            &visitor("192.0.2.99"),
            at(D, 15, 0, 0.0),
            Action::Image,
            1,
            IMG,
        );
        assert_eq!(log.day(D), (1, 1, 1, 1, 0));
    }

    #[test]
    fn c22_only_successful_transactions_count() {
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        for (i, status) in [404, 403, 500].iter().enumerate() {
            log.add(&v, at(D, 16, i as i64, 0.0), Action::Image, 1, IMG)
                .status = *status;
        }
        assert_eq!(log.day(D), (0, 0, 0, 0, 0));
        log.add(&v, at(D, 17, 0, 0.0), Action::Image, 1, IMG).status = 304;
        assert_eq!(log.day(D).1, 1);
    }

    #[test]
    fn c24_overlapping_ranges_count_once_for_the_consortium() {
        let mut log = Log::new();
        let t = at(D, 9, 0, 0.0);
        log.add(&visitor("192.0.2.1"), t, Action::Image, 1, IMG)
            .members = ",7,8,".into();
        log.add(&visitor("192.0.2.2"), t, Action::Image, 1, IMG)
            .members = ",8,".into();
        log.add(&visitor("192.0.2.3"), t, Action::Image, 1, IMG)
            .members = String::new();
        let start = day_start_ms(D).expect("day");
        let (facts, _) = count_day(&log.events, start, start + DAY_MS, &HashMap::new());
        let tir = |m| {
            facts
                .iter()
                .filter(|f| f.member_id == m)
                .map(|f| f.tir)
                .sum::<i64>()
        };
        assert_eq!(
            (tir(7), tir(8), tir(CONSORTIUM), tir(UNATTRIBUTED)),
            (1, 2, 2, 1)
        );
    }

    #[test]
    fn c28_the_invariants_hold_on_random_logs() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(28);
        let mut log = Log::new();
        let actions = [
            Action::Landing,
            Action::Browse,
            Action::File,
            Action::Image,
            Action::Launch,
        ];
        for _ in 0..3000 {
            let v = visitor(&format!("192.0.2.{}", rng.random_range(1..20)));
            let a = actions[rng.random_range(0..actions.len())];
            let disc = rng.random_range(1..6);
            let url = format!("GET /d/{disc}/{}", rng.random_range(0..3));
            log.add(
                &v,
                at(
                    D,
                    rng.random_range(0..24),
                    rng.random_range(0..60),
                    rng.random_range(0.0..60.0),
                ),
                a,
                disc,
                &url,
            );
        }
        let start = day_start_ms(D).expect("day");
        let (facts, _) = count_day(&log.events, start, start + DAY_MS, &HashMap::new());
        assert!(!facts.is_empty());
        for f in &facts {
            assert!(
                f.tii >= f.uii && f.uii >= f.uir && f.tii >= f.tir && f.tir >= f.uir,
                "{f:?}"
            );
            assert_eq!(f.tir > 0, f.uir > 0);
            assert_eq!(f.tii, f.views + f.downloads + f.launches);
            assert_eq!(f.tir, f.downloads + f.launches);
        }
        // Rolling the same events again gives the same figures.
        assert_eq!(
            count_day(&log.events, start, start + DAY_MS, &HashMap::new()).0,
            facts
        );
    }

    #[test]
    fn c29_every_executed_search_counts() {
        // CoP §7.6: a search counts each time the platform executes one; §7.2's double-click
        // filtering names investigations, requests and denials only.
        let mut log = Log::new();
        let v = visitor("192.0.2.1");
        for g in [0.0, 5.0, 10.0] {
            log.add(&v, at(D, 9, 0, g), Action::Search, 1, "GET /search?q=disc")
                .disc_id = None;
        }
        let start = day_start_ms(D).expect("day");
        let (_, searches) = count_day(&log.events, start, start + DAY_MS, &HashMap::new());
        assert!(searches.contains(&(7, 3)), "{searches:?}");
    }

    #[test]
    fn c30_the_click_that_sets_the_cookie_and_the_next_are_one_visitor() {
        // A fresh browser's double-click: the first click brings no cookie and is given the
        // cookie its surrogate makes; the second brings that cookie back (CoP §7.2, §7.3).
        let key = b"day key";
        let t = at(D, 9, 0, 0.0);
        let v = visitor("192.0.2.1");
        let given = crate::usage::pseudonym::first_cookie(key, &v, t);
        assert_eq!(given.len(), 32);
        let first = Visitor {
            cookie: Some(given.clone()),
            ..v.clone()
        };
        let second = Visitor {
            cookie: Some(given),
            ..v.clone()
        };
        let mut log = Log::new();
        log.add(&first, t, Action::Image, 1, IMG);
        log.add(&second, t + 3000, Action::Image, 1, IMG);
        assert_eq!(log.day(D), (1, 1, 1, 1, 0));
        // Another browser behind the address, or the next hour, gets another cookie.
        let other = Visitor {
            user_agent: Some("Other/1.0".into()),
            ..v.clone()
        };
        assert_ne!(
            crate::usage::pseudonym::first_cookie(key, &other, t),
            crate::usage::pseudonym::first_cookie(key, &v, t)
        );
        assert_ne!(
            crate::usage::pseudonym::first_cookie(key, &v, t + 3_600_000),
            crate::usage::pseudonym::first_cookie(key, &v, t)
        );
    }
}
