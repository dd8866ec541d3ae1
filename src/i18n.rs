//! The language catalogue as the server's pages read it. The catalogue itself (the Fluent
//! files, [`Message`] and `detail!`) is the `spindle-i18n` crate, shared with the bulk-upload
//! client; here the templates get a language's messages as one table (`t.key`), a value such
//! as `{ $n }` left as `{n}` for the page to fill in.

use std::sync::OnceLock;

use serde_json::{Map, Value};
pub use spindle_i18n::{LANGUAGES, Message, messages, variables_by_key};

/// The messages of a language whose keys begin with `prefix` (`upload_`, `widget_`): what a
/// page's script needs of the catalogue.
pub fn section(lang: &str, prefix: &str) -> Value {
    let map: Map<String, Value> = table(lang)
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(map)
}

/// A language's messages as the templates read them, built once.
pub fn table(lang: &str) -> &'static Value {
    static TABLES: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        LANGUAGES
            .iter()
            .map(|(code, source)| {
                let (messages, problems) = messages(code, source);
                for p in problems {
                    tracing::error!(problem = %p, "language catalogue");
                }
                // Error details and the client's lines are rendered with their values ([`Message`]),
                // not by pages.
                let map: Map<String, Value> = messages
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("err_") && !k.starts_with("cli_"))
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                (*code, Value::Object(map))
            })
            .collect()
    });
    tables
        .iter()
        .find(|(code, _)| *code == lang)
        .or_else(|| tables.first())
        .map_or(&Value::Null, |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Each `detail!("…", a = …, b = …)` in `texts` (a file from its first use on): the key
    /// and the names of the values given.
    fn detail_uses(texts: &[String]) -> Vec<(String, BTreeSet<String>)> {
        let mut out = Vec::new();
        for text in texts {
            for (start, _) in text.match_indices("detail!(") {
                let args = top_level_args(&text[start + "detail!(".len()..]);
                let Some(key) = args.first().map(|k| k.trim().trim_matches('"').to_string()) else {
                    continue;
                };
                let is_key = key.starts_with(|c: char| c.is_ascii_lowercase())
                    && key.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
                    });
                if !is_key {
                    // The macro's own definition (`$key:literal`) and this test's words.
                    continue;
                }
                let names = args[1..]
                    .iter()
                    .filter_map(|a| a.split_once('=').map(|(n, _)| n.trim().to_string()))
                    .filter(|n| !n.is_empty())
                    .collect();
                out.push((key, names));
            }
        }
        out
    }

    /// The comma-separated arguments of a call whose text starts after its `(`, up to the
    /// closing `)`; commas inside brackets and strings do not split.
    fn top_level_args(text: &str) -> Vec<String> {
        let (mut depth, mut in_str, mut escaped) = (0i32, false, false);
        let mut args = vec![String::new()];
        for c in text.chars() {
            if in_str {
                in_str = c != '"' || escaped;
                escaped = c == '\\' && !escaped;
            } else {
                match c {
                    '"' => in_str = true,
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' if depth == 0 => break,
                    ')' | ']' | '}' => depth -= 1,
                    ',' if depth == 0 => {
                        args.push(String::new());
                        continue;
                    }
                    _ => {}
                }
            }
            if let Some(last) = args.last_mut() {
                last.push(c);
            }
        }
        args.retain(|a| !a.trim().is_empty());
        args
    }

    /// Both languages have the same keys, every file reads without a problem, and every key
    /// a template or the code asks for exists.
    #[test]
    fn the_catalogue_is_whole() {
        let mut keys = Vec::new();
        for (code, source) in LANGUAGES {
            let (messages, problems) = messages(code, source);
            assert!(problems.is_empty(), "{problems:?}");
            assert!(messages.iter().all(|(_, v)| !v.trim().is_empty()));
            keys.push(
                messages
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect::<std::collections::BTreeSet<_>>(),
            );
        }
        let (en, zh) = (&keys[0], &keys[1]);
        assert!(en.len() > 100, "only {} messages", en.len());
        assert_eq!(
            en.difference(zh).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "in en, not in zh-CN"
        );
        assert_eq!(
            zh.difference(en).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "in zh-CN, not in en"
        );
        assert_eq!(table("zh-CN")["sign_in"], "登录");
        assert_eq!(
            table("en")["export_count"],
            "{n} discs are linked to records."
        );

        // Every `t.key` in the templates and every key the code looks up by name.
        let root = env!("CARGO_MANIFEST_DIR");
        let used = |dir: &str, pattern: &str| {
            let re = regex::Regex::new(pattern).expect("pattern");
            let mut found = Vec::new();
            let mut stack = vec![std::path::PathBuf::from(root).join(dir)];
            while let Some(p) = stack.pop() {
                if p.ends_with("vendor") {
                    // Third-party scripts, not Spindle's words.
                    continue;
                }
                if p.is_dir() {
                    for e in std::fs::read_dir(&p).expect("dir") {
                        stack.push(e.expect("entry").path());
                    }
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    found.extend(re.captures_iter(&text).map(|c| c[1].to_string()));
                }
            }
            found
        };
        let mut asked = used("templates", r"\bt\.([a-z_0-9]+)");
        asked.extend(used(
            "src",
            r#"(?:words\[|word\(|word\(&words, )"([a-z_0-9]+)""#,
        ));
        // The uploader's page (`data-t="nav-discs"` is `upload_nav_discs`) and script.
        asked.extend(
            used("assets", r#"data-t="([a-z-]+)""#)
                .into_iter()
                .map(|k| format!("upload_{}", k.replace('-', "_"))),
        );
        let script = used("assets", r#"\bt\(['"]([a-z_0-9]*[a-z0-9])['"]"#);
        assert!(
            script.len() > 15,
            "found only {} uses in the scripts",
            script.len()
        );
        asked.extend(script);
        assert!(asked.len() > 50, "found only {} uses", asked.len());
        let unknown: Vec<&String> = asked.iter().filter(|k| !en.contains(*k)).collect();
        assert!(
            unknown.is_empty(),
            "keys used but not in the catalogue: {unknown:?}"
        );
        // Every `detail!` names a message that exists, with the values its texts use, in
        // every language.
        let details: Vec<_> = ["src", "client/src", "image/src", "i18n/src"]
            .iter()
            .flat_map(|dir| detail_uses(&used(dir, r"(?s)(detail!\(.*)")))
            .collect();
        assert!(details.len() > 100, "found only {} details", details.len());
        for (code, source) in LANGUAGES {
            let vars: std::collections::BTreeMap<_, _> =
                variables_by_key(source).into_iter().collect();
            for (key, names) in &details {
                let Some(wanted) = vars.get(key) else {
                    panic!("detail {key} is not in {code}");
                };
                assert_eq!(
                    names, wanted,
                    "the values given to {key} and its {code} text"
                );
            }
            let rendered_by_code =
                |k: &str| ["err_", "cli_", "plan_"].iter().any(|p| k.starts_with(p));
            for (key, _) in vars.iter().filter(|(k, _)| rendered_by_code(k)) {
                assert!(
                    details.iter().any(|(k, _)| k == key),
                    "{key} in {code} is never used"
                );
            }
        }
        // Statuses looked up as `image_{status}` and `link_{status}`.
        let images = crate::state::ImageStatus::ALL.iter().map(|s| s.as_str());
        for status in images.chain(["none"]) {
            assert!(en.contains(&format!("image_{status}")), "image_{status}");
        }
        for status in crate::state::LinkStatus::ALL {
            assert!(en.contains(&format!("link_{status}")), "link_{status}");
        }
    }
}
