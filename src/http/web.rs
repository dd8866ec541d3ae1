//! Server-rendered pages: minijinja templates (compiled into the binary, HTML escaped
//! everywhere), the two languages (zh-CN and en: `?lang=`, kept in a cookie, else Accept-Language), the
//! security headers every page carries, and staff sign-in: a token exchanged for an
//! HttpOnly, SameSite=Strict session cookie, with a form token (CSRF) on every form.

use std::sync::OnceLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::Staff;
use crate::error::AppError;

pub const STAFF_COOKIE: &str = "spindle_staff";
pub const CSRF_COOKIE: &str = "spindle_csrf";
/// The language a reader chose with the page's switch, kept for the pages after.
pub const LANG_COOKIE: &str = "spindle_lang";

const PAGE_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

const TEMPLATES: [(&str, &str); 20] = [
    ("refused.html", include_str!("../../templates/refused.html")),
    ("home.html", include_str!("../../templates/home.html")),
    ("run.html", include_str!("../../templates/run.html")),
    ("picker.html", include_str!("../../templates/picker.html")),
    ("discs.html", include_str!("../../templates/discs.html")),
    (
        "settings.html",
        include_str!("../../templates/settings.html"),
    ),
    ("export.html", include_str!("../../templates/export.html")),
    ("review.html", include_str!("../../templates/review.html")),
    ("search.html", include_str!("../../templates/search.html")),
    ("disc.html", include_str!("../../templates/disc.html")),
    ("play.html", include_str!("../../templates/play.html")),
    ("browse.html", include_str!("../../templates/browse.html")),
    (
        "entry_row.html",
        include_str!("../../templates/entry_row.html"),
    ),
    ("base.html", include_str!("../../templates/base.html")),
    ("sign_in.html", include_str!("../../templates/sign_in.html")),
    (
        "signed_in.html",
        include_str!("../../templates/signed_in.html"),
    ),
    ("tokens.html", include_str!("../../templates/tokens.html")),
    ("people.html", include_str!("../../templates/people.html")),
    ("stats.html", include_str!("../../templates/stats.html")),
    ("message.html", include_str!("../../templates/message.html")),
];

fn env() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        // HTML-escape every string (& < > " '), but leave `/` alone: minijinja's default also
        // writes it as &#x2f;, which is safe but makes every URL in a page unreadable.
        env.set_formatter(|out, state, value| match value.as_str() {
            Some(text)
                if state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() =>
            {
                out.write_str(&escape_html(text))
                    .map_err(minijinja::Error::from)
            }
            _ => minijinja::escape_formatter(out, state, value),
        });
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

/// Text for HTML, in an element or a quoted attribute: `& < > " '` escaped, `/` left alone.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// `?lang=zh|en`, else the first language the browser asks for that we have.
    pub fn of(parts: &Parts) -> Self {
        Self::from_request(&parts.headers, &parts.uri)
    }

    /// `?lang=`, else the language chosen on an earlier page (its cookie), else the first
    /// language the browser asks for that we have.
    pub fn from_request(headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> Self {
        if let Some(lang) = Self::asked(uri) {
            return lang;
        }
        match cookie(headers, LANG_COOKIE) {
            Some("zh") => Lang::Zh,
            Some("en") => Lang::En,
            _ => Self::from_parts(headers.get(header::ACCEPT_LANGUAGE), uri),
        }
    }

    /// The language `?lang=` asks for, if any.
    pub fn asked(uri: &axum::http::Uri) -> Option<Self> {
        uri.query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| match kv {
                "lang=zh" | "lang=zh-CN" => Some(Lang::Zh),
                "lang=en" => Some(Lang::En),
                _ => None,
            })
    }

    /// `?lang=`, else Accept-Language (the API's errors: no cookie).
    pub fn from_parts(accept_language: Option<&HeaderValue>, uri: &axum::http::Uri) -> Self {
        if let Some(lang) = Self::asked(uri) {
            return lang;
        }
        let accept = accept_language.and_then(|v| v.to_str().ok()).unwrap_or("");
        for tag in accept.split(',') {
            let tag = tag
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    /// The cookie's value for this language.
    pub fn short(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The page's words, from the language catalogue (`crate::i18n`).
    pub fn words(self) -> Value {
        crate::i18n::table(self.code()).clone()
    }
}

/// The headers every page and asset carries: a strict content security policy (only
/// Spindle's own scripts and styles; WebAssembly may compile, nothing may be evaluated,
/// framed or posted elsewhere), no sniffing, no framing, no referrer to other sites.
pub fn security_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Renders a template with the page's words and language added to `ctx`.
pub fn render(status: StatusCode, name: &str, lang: Lang, mut ctx: Value) -> Response {
    ctx["t"] = lang.words();
    ctx["base"] = json!(crate::site::base());
    ctx["lang"] = json!(lang.code());
    ctx["other_lang"] = json!(if lang == Lang::Zh { "en" } else { "zh" });
    let html = env().get_template(name).and_then(|t| t.render(&ctx));
    let mut response = match html {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    };
    security_headers(&mut response);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A short page with a heading and a sentence.
pub fn message(status: StatusCode, lang: Lang, title: &str, text: &str) -> Response {
    render(
        status,
        "message.html",
        lang,
        json!({"title": title, "text": text}),
    )
}

/// An error as a short page with its status and message.
pub fn message_for(lang: Lang, e: &AppError) -> Response {
    message(
        e.status(),
        lang,
        &e.status().as_u16().to_string(),
        &e.detail(lang.code()),
    )
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// `Set-Cookie` for a page cookie: HttpOnly, SameSite=Strict, Secure behind https.
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) -> HeaderValue {
    cookie_header(state, name, value, path, max_age, "Strict")
}

/// `Set-Cookie` for a cookie a reader must still bring when they arrive from another site (a
/// catalogue's link, the campus sign-on's way back): SameSite=Lax, otherwise as
/// [`set_cookie`].
pub fn set_lax_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) -> HeaderValue {
    cookie_header(state, name, value, path, max_age, "Lax")
}

fn cookie_header(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    same_site: &str,
) -> HeaderValue {
    let secure = state.config.public_url().starts_with("https://");
    let path = crate::site::here(path);
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

/// Staff signed in with a session cookie, for pages. Without a valid session the browser is
/// sent to the sign-in page (and back afterwards).
pub struct StaffPage {
    pub staff: Staff,
    /// The form token every form of the page must carry.
    pub csrf: String,
    pub lang: Lang,
}

impl FromRequestParts<AppState> for StaffPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = Lang::of(parts);
        let found = super::extract::staff_session(state, &parts.headers)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some((staff, csrf)) = found else {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/staff/stats");
            let target = format!(
                "/staff/sign-in?next={}",
                percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
            );
            return Err((StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response());
        };
        Ok(StaffPage { staff, csrf, lang })
    }
}

impl StaffPage {
    /// A form posted from one of Spindle's pages carries the session's form token; any other
    /// (a cross-site post, a stale page) is refused and changes nothing: the refusal page, or
    /// None when the token is right.
    pub fn form_refusal(&self, token: &str) -> Option<Response> {
        if same_token(&self.csrf, token) {
            None
        } else {
            Some(message(
                StatusCode::FORBIDDEN,
                self.lang,
                "403",
                "This form's token does not match your session; reload the page and try again.",
            ))
        }
    }
}

/// Where a reader goes after signing in: a page of Spindle's own (a path, never another site).
pub fn safe_local(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Where to go after signing in: only Spindle's own staff pages (never another site).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n.starts_with("/staff/") || n.starts_with("/librarian/"))
                && !n.contains("//")
                && !n.contains('\\')
                // A header value: no CR, LF, controls or raw non-ASCII (those are %-encoded).
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => "/staff/stats".to_string(),
    }
}

pub use crate::auth::same_token;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_staff_pages_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/staff/stats?member=A")),
            "/staff/stats?member=A"
        );
        assert_eq!(safe_next(Some("https://evil.example/")), "/staff/stats");
        assert_eq!(safe_next(Some("//evil.example/staff/")), "/staff/stats");
        assert_eq!(safe_next(Some("/staff/\\\\evil")), "/staff/stats");
        assert_eq!(safe_next(Some("/staff/\r\nX-Evil: 1")), "/staff/stats");
        assert_eq!(safe_next(Some("/staff/统计")), "/staff/stats");
        assert_eq!(safe_next(None), "/staff/stats");
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
    }

    #[test]
    fn every_template_compiles_and_escapes() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
        let mut ctx = json!({"title": "<script>alert(1)</script>", "text": "a & b"});
        ctx["t"] = Lang::En.words();
        let html = env()
            .get_template("message.html")
            .and_then(|t| t.render(&ctx))
            .expect("renders");
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("a &amp; b"));
    }
}
