//! The language catalogue: every string a person reads on Spindle's pages, in Fluent files
//! (`locales/en/spindle.ftl`, `locales/zh-CN/spindle.ftl`) that a librarian can correct
//! without reading Rust. They are built into the binary and read once; the templates get a
//! language's messages as one table (`t.key`), a value such as `{ $n }` left as `{n}` for the
//! page to fill in. What error answers say ([`Message`], written with [`detail!`]) is
//! rendered from the same files with its values, in the language the reader asked for.

use std::sync::OnceLock;

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, concurrent};
use fluent_syntax::ast;
use serde_json::{Map, Value};

/// The catalogue's languages, as their files name them.
pub const LANGUAGES: [(&str, &str); 2] = [
    ("en", include_str!("../locales/en/spindle.ftl")),
    ("zh-CN", include_str!("../locales/zh-CN/spindle.ftl")),
];

/// Every message of one language's file, in order, formatted; and what was wrong with the
/// file (nothing, the suite checks).
pub fn messages(lang: &str, source: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut problems = Vec::new();
    let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(|(r, errors)| {
        problems.extend(errors.iter().map(|e| format!("{lang}: {e:?}")));
        r
    });
    let ids: Vec<String> = resource
        .entries()
        .filter_map(|e| match e {
            ast::Entry::Message(m) => Some(m.id.name.to_string()),
            _ => None,
        })
        .collect();
    let langid = lang.parse().unwrap_or_default();
    let mut bundle = FluentBundle::new(vec![langid]);
    // The pages are plain text or HTML: no Unicode isolation marks around values.
    bundle.set_use_isolating(false);
    if let Err(errors) = bundle.add_resource(resource) {
        problems.extend(errors.iter().map(|e| format!("{lang}: {e:?}")));
    }
    let mut out = Vec::new();
    for id in ids {
        let Some(pattern) = bundle.get_message(&id).and_then(|m| m.value()) else {
            problems.push(format!("{lang}: {id} has no text"));
            continue;
        };
        // Each `{ $name }` stays `{name}`, for the page to fill in.
        let mut args = FluentArgs::new();
        for name in variables(pattern) {
            args.set(name, format!("{{{name}}}"));
        }
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&args), &mut errors);
        problems.extend(errors.iter().map(|e| format!("{lang}: {id}: {e:?}")));
        out.push((id, text.into_owned()));
    }
    (out, problems)
}

/// A catalogue message with its values: what an error answer tells a person, kept as a key
/// until the answer is written so that it can be said in the reader's language.
#[derive(Clone, Debug)]
pub struct Message {
    key: &'static str,
    args: Vec<(&'static str, String)>,
}

/// A [`Message`]: `detail!("err_no_disc", id = id)`, each value named as the message names
/// it (`{ $id }`). The catalogue test holds every use to the files: the key exists in every
/// language and the names given are the names the texts use.
#[macro_export]
macro_rules! detail {
    ($key:literal $(, $name:ident = $value:expr)* $(,)?) => {
        $crate::i18n::Message::new($key)$(.with(stringify!($name), $value))*
    };
}

impl Message {
    pub fn new(key: &'static str) -> Self {
        Self {
            key,
            args: Vec::new(),
        }
    }

    /// The message with one more value.
    pub fn with(mut self, name: &'static str, value: impl std::fmt::Display) -> Self {
        self.args.push((name, value.to_string()));
        self
    }

    /// The message in `lang` (English where the language lacks it; the key itself only if
    /// the catalogue has no such message, which the suite forbids).
    pub fn render(&self, lang: &str) -> String {
        let mut args = FluentArgs::new();
        for (name, value) in &self.args {
            args.set(*name, value.as_str());
        }
        let bundles = bundles();
        let found = bundles
            .iter()
            .filter(|(code, _)| *code == lang)
            .chain(bundles.iter())
            .find_map(|(_, b)| {
                b.get_message(self.key)
                    .and_then(|m| m.value())
                    .map(|p| (b, p))
            });
        let Some((bundle, pattern)) = found else {
            tracing::error!(key = self.key, "a message missing from the catalogue");
            return self.key.to_string();
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&args), &mut errors);
        if !errors.is_empty() {
            tracing::error!(key = self.key, ?errors, "a message rendered with errors");
        }
        text.into_owned()
    }
}

/// Each language's catalogue as a bundle that formats messages with values, built once.
fn bundles() -> &'static [(&'static str, concurrent::FluentBundle<FluentResource>)] {
    static BUNDLES: OnceLock<Vec<(&'static str, concurrent::FluentBundle<FluentResource>)>> =
        OnceLock::new();
    BUNDLES.get_or_init(|| {
        LANGUAGES
            .iter()
            .map(|(code, source)| {
                let resource =
                    FluentResource::try_new(source.to_string()).unwrap_or_else(|(r, _)| r);
                let mut bundle = concurrent::FluentBundle::new_concurrent(vec![
                    code.parse().unwrap_or_default(),
                ]);
                bundle.set_use_isolating(false);
                // Problems with the files are reported by `table` and failed by the suite.
                let _ = bundle.add_resource(resource);
                (*code, bundle)
            })
            .collect()
    })
}

/// Each message of a language's file with the variables its text names.
pub fn variables_by_key(source: &str) -> Vec<(String, std::collections::BTreeSet<String>)> {
    let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(|(r, _)| r);
    resource
        .entries()
        .filter_map(|e| match e {
            ast::Entry::Message(m) => Some((
                m.id.name.to_string(),
                m.value
                    .as_ref()
                    .map(|p| variables(p).map(str::to_string).collect())
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

/// The variables (`{ $name }`) a message's text names.
fn variables<'a>(pattern: &'a ast::Pattern<&'a str>) -> impl Iterator<Item = &'a str> {
    pattern.elements.iter().filter_map(|e| match e {
        ast::PatternElement::Placeable {
            expression: ast::Expression::Inline(ast::InlineExpression::VariableReference { id }),
        } => Some(id.name),
        _ => None,
    })
}

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
                // Error details are rendered with their values ([`Message`]), not by pages.
                let map: Map<String, Value> = messages
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("err_"))
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

    /// Each `detail!("key", a = …, b = …)` in `texts` (a file from its first use on): the key
    /// and the names of the values given.
    fn detail_uses(texts: &[String]) -> Vec<(String, BTreeSet<String>)> {
        let mut out = Vec::new();
        for text in texts {
            for (start, _) in text.match_indices("detail!(") {
                let args = top_level_args(&text[start + "detail!(".len()..]);
                let Some(key) = args.first().map(|k| k.trim().trim_matches('"').to_string()) else {
                    continue;
                };
                if !key.starts_with("err_") {
                    // The macro's own definition and documentation.
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
        let details = detail_uses(&used("src", r"(?s)(detail!\(.*)"));
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
            for (key, _) in vars.iter().filter(|(k, _)| k.starts_with("err_")) {
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
