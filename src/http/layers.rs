//! Middleware on every route that is not about one route's kind (those are declared with
//! the route, `route.rs`): refused-credential limits, the signed link kept in a cookie, the
//! request metrics and the access log, NULs refused in the address, and a refused request's unread
//! body read out (or the connection closed) so that the client hears the refusal.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::extract::query_token;
use crate::access::{ACCESS_COOKIE, verify};
use crate::app::AppState;
use crate::detail;
use crate::error::{AppError, ErrorCode};
use crate::limits::{Key, key as limit_key};
use crate::metrics::{RequestLabels, RouteLabels};

/// The middleware on every request before routing, in one layer (each `from_fn` layer costs
/// every request a clone of the service below it and a boxed future; loadtests/RESULTS.md),
/// outermost first: the site's base path taken off (`base.rs`), a refused request's unread
/// body drained, a language chosen kept, error titles in the reader's language, the signing-in
/// proxy's headers believed only from trusted peers, NULs and non-UTF-8 addresses refused, a
/// signed link in the path taken out of it (`/g/{token}/…`).
pub(super) async fn before_routing(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let state = &state;
    super::base::under(&state.config.http.base_path, request, async move |r| {
        close_after_refusal(r, async move |r| {
            remember_language(r, async move |r| {
                localize_problems(r, async move |r| {
                    strip_proxy_identity(state, r, async move |r| {
                        refuse_nul(r, async move |r| {
                            super::path_grant(r, async move |r| next.run(r).await).await
                        })
                        .await
                    })
                    .await
                })
                .await
            })
            .await
        })
        .await
    })
    .await
}

/// The middleware on every routed request (the metrics need the route matched), in one layer,
/// outermost first: the request metrics and access log, the refused-credential limits, the
/// signed link kept in a cookie.
pub(super) async fn after_routing(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let state = &state;
    count_requests(state, request, async move |r| {
        limit(state, r, async move |r| remember_link(state, r, next).await).await
    })
    .await
}

/// A signed link that opened a disc is kept in a cookie (for as long as it is valid), so the
/// disc's folders, files and pages, reached by relative links without it, open too.
async fn remember_link(state: &AppState, request: Request, next: Next) -> Response {
    let now = crate::calendar::now_secs();
    let path = request.uri().path();
    let kept = (path == "/" || path.starts_with("/api/v1/discs/") || path.starts_with("/discs/"))
        .then(|| query_token(request.uri()))
        .flatten()
        .and_then(|t| verify(&state.link_secret, &t, now).map(|g| (t, g)));
    let mut response = next.run(request).await;
    if let Some((token, grant)) = kept
        && (response.status().is_success() || response.status().is_redirection())
    {
        let cookie =
            super::web::set_lax_cookie(state, ACCESS_COOKIE, &token, "/", grant.expires - now);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn too_many(code: ErrorCode, message: crate::i18n::Message, wait: u64) -> Response {
    let mut r = AppError::new(StatusCode::TOO_MANY_REQUESTS, code, message).into_response();
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Whether the request brings a credential: a bearer token, a sign-in, a SUSHI key.
fn brings_credentials(request: &Request) -> bool {
    request.headers().contains_key(header::AUTHORIZATION)
        || (request.method() == Method::POST && request.uri().path() == "/staff/sign-in")
        || sushi_key(request).is_some()
}

/// The SUSHI key in the query (its parameter name is case-insensitive).
fn sushi_key(request: &Request) -> Option<&str> {
    request.uri().query()?.split('&').find_map(|kv| {
        kv.get(..8)
            .filter(|k| k.eq_ignore_ascii_case("api_key="))
            .map(|_| &kv[8..])
    })
}

/// The hash of the credential a request brings in a header or its query (a bearer token, a
/// SUSHI key): what a proven credential is known by. A sign-in form's token is in its body,
/// which no limit reads.
fn credential(request: &Request) -> Option<[u8; 32]> {
    use sha2::Digest as _;
    let value = match request.headers().get(header::AUTHORIZATION) {
        Some(v) => v.as_bytes(),
        None => sushi_key(request)?.as_bytes(),
    };
    Some(sha2::Sha256::digest(value).into())
}

/// Set by whoever verifies the request's credential (the staff extractor, a SUSHI answer) so
/// that [`limit`] notes it as proven: a value nothing verified (a made-up header on a public
/// page) never is.
#[derive(Clone, Default)]
pub struct Accepted(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Accepted {
    pub fn note(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn noted(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The middleware on every route: refuses an address that presented too many refused
/// credentials (a credential proven from it before still passes), counts refused credentials
/// and notes the accepted ones as proven.
async fn limit(
    state: &AppState,
    mut request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    if !brings_credentials(&request) {
        // Downloads, ranges and pages: nothing to count.
        return next(request).await;
    }
    let Some(ip) = state
        .usage
        .client_of(request.extensions(), request.headers())
    else {
        return next(request).await;
    };
    let brought = credential(&request);
    if let Some(wait) = state.limits.auth_failures.over(ip)
        && !brought.is_some_and(|c| state.limits.proven.holds(ip, &c))
    {
        return too_many(
            ErrorCode::TooManyAttempts,
            detail!("err_too_many_attempts"),
            wait,
        );
    }
    let accepted = Accepted::default();
    request.extensions_mut().insert(accepted.clone());
    let response = next(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        state.limits.auth_failures.hit(ip);
    } else if let Some(c) = brought
        && accepted.noted()
    {
        state.limits.proven.note(ip, c);
    }
    response
}

/// The middleware on the routes declared expensive (`route::expensive`): refuses a key over
/// its allowance: a proven credential's own, else the address's (higher in a member's network
/// ranges).
pub async fn expensive(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(ip) = state
        .usage
        .client_of(request.extensions(), request.headers())
    else {
        return next.run(request).await;
    };
    let limits = &state.limits;
    let allowed = &state.config.limits;
    let proven = credential(&request).filter(|c| limits.proven.holds(ip, c));
    let (key, max) = match proven {
        Some(c) => (Key::Credential(c), allowed.expensive_per_minute),
        None => match state.usage.networks.members_for(&state.db, ip).await {
            Ok(m) if !m.is_empty() => (
                Key::Address(limit_key(ip)),
                allowed.expensive_per_minute_member_network,
            ),
            Ok(_) => (Key::Address(limit_key(ip)), allowed.expensive_per_minute),
            Err(e) => return AppError::from(e).into_response(),
        },
    };
    if let Some(wait) = limits.expensive.hit_key(key, max) {
        return too_many(ErrorCode::SlowDown, detail!("err_slow_down"), wait);
    }
    next.run(request).await
}

/// Query parameters whose values are credentials: never logged.
const SECRET_PARAMS: [&str; 5] = ["access", "api_key", "token", "csrf", "ticket"];

/// The path and query as the log shows them: credentials in the query are redacted.
pub(crate) fn loggable_uri(uri: &axum::http::Uri) -> String {
    // A signed link in the path (`/dav/g/{token}/…`, `/g/{token}/…`) is a credential too.
    let path = match uri.path().split_once("/g/") {
        Some((before, after)) if before.is_empty() || before == "/dav" => {
            let rest = after.split_once('/').map_or("", |(_, r)| r);
            format!("{before}/g/<redacted>/{rest}")
        }
        _ => uri.path().to_string(),
    };
    let Some(query) = uri.query() else {
        return path;
    };
    let shown: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                format!("{k}=<redacted>")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", shown.join("&"))
}

/// The most of a refused request's unread body that is read and thrown away so that the
/// client, still sending, reads the refusal instead of meeting a reset; a body past either
/// bound closes the connection instead. 16 MiB covers the uploader's parts (8 MiB by default).
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// A refusal (4xx or 5xx) of a request whose body the handler left unread (a wrong token on
/// a PATCH, an upload that is gone, a probe). Closing at once would reset a connection the
/// client is still writing to, and the client would report a broken pipe rather than the
/// refusal; so the rest of the body is read and dropped first, within `DRAIN_BYTES` and
/// `DRAIN_TIME`, and the connection is closed (`Connection: close`) only when that was not
/// enough. A client that asked `Expect: 100-continue` has sent nothing yet and is answered at
/// once.
async fn close_after_refusal(
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    if !has_body {
        return next(request).await;
    }
    let waits_to_send = headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = request.into_parts();
    let kept = Kept::new(body);
    let mut response = next(Request::from_parts(parts, Body::new(kept.clone()))).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let drained = !waits_to_send && kept.drain(DRAIN_BYTES, DRAIN_TIME).await;
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body the handler reads through, while the layer keeps a hold of whatever the
/// handler leaves unread.
#[derive(Clone)]
struct Kept(Arc<Mutex<Body>>);

impl Kept {
    fn new(body: Body) -> Self {
        Self(Arc::new(Mutex::new(body)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Body> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads and drops the rest of the body; true when it ended within the bounds.
    async fn drain(&self, most: u64, time: Duration) -> bool {
        let mut read = 0u64;
        let rest = async {
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut *self.lock()).poll_frame(cx)).await
            {
                let Ok(frame) = frame else { return false };
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
                if read > most {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(time, rest).await.unwrap_or(false)
    }
}

impl HttpBody for Kept {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut *self.lock()).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.lock().is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.lock().size_hint()
    }
}

/// The request metrics (a count by route and status, the time to the response's head by
/// route) and the access log: one line per request at `info` (target `spindle::access`; turn
/// it off with `log.filter = "info,spindle::access=off"`), written when the response's body
/// has been sent or the client went away, with the bytes actually sent.
async fn count_requests(
    state: &AppState,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    // Kept as received (sharing the request's bytes); redacted only if the line is written.
    let uri = request.uri().clone();
    let client = state
        .usage
        .client_of(request.extensions(), request.headers());
    let started = Instant::now();
    let response = next(request).await;
    let status = response.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route,
        })
        .observe(started.elapsed().as_secs_f64());
    let (parts, body) = response.into_parts();
    let logged = Logged {
        inner: body,
        sent: 0,
        line: AccessLine {
            method,
            uri,
            status,
            client,
            started,
        },
    };
    Response::from_parts(parts, Body::new(logged))
}

/// What the access log says of a request, besides the bytes sent.
struct AccessLine {
    method: String,
    uri: axum::http::Uri,
    status: u16,
    client: Option<std::net::IpAddr>,
    started: Instant,
}

/// A response body that counts what it sends and writes the access log line when it is done
/// (sent to the end, or dropped because the client went away).
struct Logged {
    inner: Body,
    sent: u64,
    line: AccessLine,
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            self.sent += frame.data_ref().map_or(0, |d| d.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let l = &self.line;
        // The fields are worked out only when the access log is on.
        tracing::info!(
            target: "spindle::access",
            method = %l.method,
            path = %loggable_uri(&l.uri),
            status = l.status,
            bytes = self.sent,
            ms = l.started.elapsed().as_millis() as u64,
            client = %l.client.map(|c| c.to_string()).unwrap_or_default(),
            complete = self.inner.is_end_stream(),
            "request"
        );
    }
}

/// Error answers' titles in the language the client asks for (`?lang=`, else
/// Accept-Language; English by default), with `Content-Language` saying which.
/// Only reference-counted handles are kept on the way in; the language is worked out for an
/// error answer alone, so downloads and ranges pay nothing for it.
async fn localize_problems(
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let accept = request.headers().get(header::ACCEPT_LANGUAGE).cloned();
    let uri = request.uri().clone();
    let mut response = next(request).await;
    if crate::error::is_problem(&response) {
        let lang = super::web::Lang::from_parts(accept.as_ref(), &uri).code();
        crate::error::localize(&mut response, lang);
    }
    response
}

/// A language chosen with a page's switch (`?lang=`) is kept in a cookie for a year, so the
/// next page (reached by a link without `?lang=`) speaks it too.
async fn remember_language(
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let asked = super::web::Lang::asked(request.uri());
    let mut response = next(request).await;
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if let Some(lang) = asked.filter(|_| is_page) {
        let value = format!(
            "{}={}; Path={}; Max-Age=31536000; SameSite=Lax",
            super::web::LANG_COOKIE,
            lang.short(),
            crate::site::here("/")
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// A NUL in the path or the query (`%00`) is refused before any handler sees it: no text in
/// Spindle may hold one. So is a path whose percent-encoding is not UTF-8 (`%C0%AE`, an
/// overlong `.`): every route's answer to it is then the same problem document, not the
/// plain text of whichever extractor met it first.
/// The signing-in proxy's headers (`[auth.proxy]`) are believed only from
/// `http.trusted_proxies`: from any other peer they are removed before any handler sees the
/// request, so a reader cannot name themselves by sending them.
async fn strip_proxy_identity(
    state: &AppState,
    mut request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let proxy = &state.config.auth.proxy;
    if !proxy.user_header.is_empty() {
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| crate::usage::canonical(c.0.ip()));
        let trusted =
            peer.is_some_and(|ip| state.usage.trusted_proxies.iter().any(|n| n.contains(&ip)));
        if !trusted {
            let headers = request.headers_mut();
            for name in std::iter::once(&proxy.user_header).chain(&proxy.attribute_headers) {
                if headers.remove(name.as_str()).is_some() {
                    tracing::debug!(header = %name, ?peer, "proxy sign-on header from an untrusted peer removed");
                }
            }
        }
    }
    next(request).await
}

async fn refuse_nul(request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let in_uri = request
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().as_bytes().windows(3).any(|w| w == b"%00"));
    if in_uri {
        return AppError::bad_request(ErrorCode::InvalidCharacter, detail!("err_nul_address"))
            .into_response();
    }
    if percent_encoding::percent_decode_str(request.uri().path())
        .decode_utf8()
        .is_err()
    {
        return AppError::bad_request(
            ErrorCode::InvalidPath,
            detail!(
                "err_invalid_path",
                reason = "its percent-encoding is not UTF-8"
            ),
        )
        .into_response();
    }
    next(request).await
}
