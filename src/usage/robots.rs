//! The COUNTER-Robots list (data/counter/, vendored with its MIT licence): user agents whose
//! traffic COUNTER excludes from every figure. Matched case-insensitively, unanchored unless
//! a pattern says otherwise; `^.?$` makes an empty or one-character agent ("-") a robot.

use std::sync::OnceLock;

const LIST: &str = include_str!("../../data/counter/COUNTER_Robots_list.json");

#[derive(serde::Deserialize)]
struct Entry {
    pattern: String,
}

/// The list's patterns, in its order.
pub fn patterns() -> Vec<String> {
    serde_json::from_str::<Vec<Entry>>(LIST)
        .map(|v| v.into_iter().map(|e| e.pattern).collect())
        .unwrap_or_default()
}

fn set() -> Option<&'static regex::RegexSet> {
    static SET: OnceLock<Option<regex::RegexSet>> = OnceLock::new();
    SET.get_or_init(|| {
        let built = regex::RegexSetBuilder::new(patterns())
            .case_insensitive(true)
            .size_limit(64 << 20)
            .build();
        match built {
            Ok(set) => Some(set),
            Err(e) => {
                tracing::error!(error = %e, "the COUNTER-Robots list does not compile; counting every agent");
                None
            }
        }
    })
    .as_ref()
}

/// Whether COUNTER counts this user agent as a robot (no header counts as empty).
pub fn is_robot(user_agent: Option<&str>) -> bool {
    let ua = user_agent.unwrap_or("");
    set().is_some_and(|s| s.is_match(ua))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_list_has_327_patterns_that_all_compile() {
        let p = patterns();
        assert_eq!(p.len(), 327);
        for pattern in &p {
            assert!(
                regex::RegexBuilder::new(pattern)
                    .case_insensitive(true)
                    .build()
                    .is_ok(),
                "{pattern}"
            );
        }
        assert!(set().is_some());
    }

    #[test]
    fn robots_and_browsers() {
        for robot in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "GOOGLEBOT",
            "python-requests/2.31.0",
            "curl/8.5.0",
            "Wget/1.21",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "",
            "-",
        ] {
            assert!(is_robot(Some(robot)), "{robot:?}");
        }
        assert!(is_robot(None));
        for person in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Zotero/6.0",
        ] {
            assert!(!is_robot(Some(person)), "{person}");
        }
    }
}
