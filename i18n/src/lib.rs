//! Spindle's language catalogue: every string a person reads — the server's pages and error
//! answers, the bulk-upload client's lines and report — in Fluent files
//! (`locales/en/spindle.ftl`, `locales/zh-CN/spindle.ftl`) that a librarian can correct
//! without reading Rust. They are built into each binary and read once. A [`Message`]
//! (written with [`detail!`]) is a key with its values, rendered in the language the
//! reader asked for.

use std::sync::OnceLock;

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, concurrent};
use fluent_syntax::ast;

/// The catalogue's languages, as their files name them.
pub const LANGUAGES: [(&str, &str); 2] = [
    ("en", include_str!("../../locales/en/spindle.ftl")),
    ("zh-CN", include_str!("../../locales/zh-CN/spindle.ftl")),
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
        $crate::Message::new($key)$(.with(stringify!($name), $value))*
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
