//! The HTTP wing: the JSON routes and the pages (one module per endpoint group, each with its
//! own `router()`), every middleware, the extractors, the templates and the server. Domain
//! modules never import from here; handlers extract, call one domain function, map the
//! result and set headers.

use std::convert::Infallible;
use std::task::Poll;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse as _, Response};
use rand::RngCore as _;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::detail;
use crate::error::{AppError, ErrorCode};

mod access;
pub mod base;
mod blobs;
mod catalogue;
mod chart;
pub mod dav;
mod discs;
pub(crate) mod download;
mod extract;
pub(crate) use extract::{ApiJson, ApiPath, ApiQuery, header_str};
mod disc_page;
mod files;
mod layers;
mod librarian;
pub(crate) mod loopback;
mod meta;
mod opac;
mod ops;
mod pages;
mod play;
pub mod range;
mod reader;
mod route;
mod run;
pub mod server;
mod shelf;
mod sso;
mod staff;
mod stats;
mod sushi;
mod tokens;
mod track;
mod uploads;
pub mod web;

/// Spindle's HTTP service: every route, behind the layers every request passes through.
/// The server serves it as it is (no `Router` around it: each level of routing, and each
/// layer on a route, costs every request a cloned service and a boxed future).
pub fn app(
    state: AppState,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let routed = |router: Router<AppState>| {
        router
            .layer(middleware::from_fn_with_state(
                state.clone(),
                layers::after_routing,
            ))
            .with_state(state.clone())
    };
    let api = Router::new()
        .merge(blobs::router())
        .merge(uploads::router())
        .merge(discs::router(&state))
        .merge(files::router(&state))
        .merge(play::router(&state))
        .merge(run::router(&state))
        .merge(catalogue::router())
        .merge(opac::router(&state))
        .merge(shelf::router())
        .merge(stats::router())
        .merge(access::router())
        .merge(meta::router())
        .merge(sso::api())
        .merge(tokens::api())
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method);
    let pages = Router::new()
        .merge(ops::router())
        .merge(opac::public_router())
        .merge(pages::router())
        .merge(sushi::router(&state))
        .merge(staff::router(&state))
        .merge(sso::router())
        .merge(tokens::pages())
        .merge(tokens::people_pages())
        .merge(librarian::router())
        .merge(reader::router(&state))
        .merge(play::pages())
        .merge(run::pages())
        .merge(dav::router(&state));
    let routes = ApiOrPages {
        api: routed(api),
        pages: routed(pages),
    };
    // The layers that do not need the route matched wrap the routes once, rather than each
    // route (a `Router::layer` is cloned and boxed on every request it serves).
    tower::ServiceBuilder::new()
        .map_response(axum::response::IntoResponse::into_response)
        .layer(CatchPanicLayer::new())
        .layer(SetRequestIdLayer::x_request_id(RequestIds))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    uri = %layers::loggable_uri(request.uri()),
                    version = ?request.version(),
                )
            }),
        )
        // Every answer, JSON included, is what its Content-Type says and nothing else.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(middleware::from_fn_with_state(
            state,
            layers::before_routing,
        ))
        .service(routes)
}

/// The API (`/api/v1/…`, its own answers for an address or a method it has not) and the
/// pages: one path match per request, where `Router::nest` would put two more layers on
/// every API route (the prefix stripped from the address, the nested path noted).
#[derive(Clone)]
struct ApiOrPages {
    api: Router,
    pages: Router,
}

impl tower::Service<Request> for ApiOrPages {
    type Response = Response;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both routers are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let path = request.uri().path();
        if path == "/api/v1" || path.starts_with("/api/v1/") {
            self.api.call(request)
        } else {
            self.pages.call(request)
        }
    }
}

/// `/g/{token}/api/v1/discs/…` and `/g/{token}/discs/…`: the token taken out of the path
/// (unchecked here: the `Viewer` verifies it like a link in the query) and the request routed
/// as the address without it. Nothing but disc addresses takes one.
async fn path_grant(mut request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let uri = request.uri();
    let Some(granted) = uri.path().strip_prefix("/g/") else {
        return next(request).await;
    };
    let rest = granted.split_once('/').filter(|(token, rest)| {
        !token.is_empty() && (rest.starts_with("api/v1/discs/") || rest.starts_with("discs/"))
    });
    let Some((token, rest)) = rest else {
        return AppError::not_found(
            ErrorCode::NoRoute,
            detail!("err_no_route", path = uri.path()),
        )
        .into_response();
    };
    let target = match uri.query() {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    };
    let token = extract::PathGrant(token.to_string());
    let Ok(target) = target.parse::<axum::http::Uri>() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    *request.uri_mut() = target;
    request.extensions_mut().insert(token);
    next(request).await
}

/// Request ids (`x-request-id`, when the client sent none): random UUIDs (version 4) from the
/// thread's generator, not a system call per request as `MakeRequestUuid` makes.
#[derive(Clone, Copy)]
struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let mut b = [0u8; 16];
        rand::rng().fill_bytes(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        let id = format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        );
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// An address under `/api/v1` that names no resource.
async fn no_route(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> AppError {
    AppError::not_found(
        ErrorCode::NoRoute,
        detail!("err_no_route", path = uri.path()),
    )
}

/// A resource under `/api/v1` asked with a method it does not answer (axum adds `Allow`).
async fn wrong_method(method: axum::http::Method) -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        detail!("err_method", method = method),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let request = axum::http::Request::new(());
        let mut ids = RequestIds;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = ids.make_request_id(&request).expect("an id");
            let id = id.header_value().to_str().expect("ASCII").to_string();
            let groups: Vec<&str> = id.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
            assert!(groups[2].starts_with('4'), "version 4: {id}");
            assert!(
                matches!(&groups[3][..1], "8" | "9" | "a" | "b"),
                "RFC 4122 variant: {id}"
            );
            assert!(seen.insert(id));
        }
    }
}
