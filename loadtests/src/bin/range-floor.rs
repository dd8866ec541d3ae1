//! The floor under Spindle's ranges: hyper on tokio (the HTTP stack Spindle is built on)
//! answering `Range: bytes=a-b` of one file by reading the bytes into a buffer and writing
//! them out, with nothing else per request (no routing, middleware, access decision or
//! counting). `loadtests/range-bench.sh` runs it beside nginx and Spindle: what Spindle costs
//! per range above it is Spindle's own work, not the copy through user space.
//!
//! `spindle-range-floor FILE PORT`

use std::convert::Infallible;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// `bytes=a-b` with `a <= b < size`, else None.
fn asked(request: &Request<hyper::body::Incoming>, size: u64) -> Option<(u64, u64)> {
    let spec = request.headers().get("range")?.to_str().ok()?;
    let (a, b) = spec.strip_prefix("bytes=")?.split_once('-')?;
    let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
    (a <= b && b < size).then_some((a, b))
}

fn answer(
    file: &std::fs::File,
    size: u64,
    request: &Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let status = |s: StatusCode| {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = s;
        r
    };
    let Some((a, b)) = asked(request, size) else {
        return status(StatusCode::RANGE_NOT_SATISFIABLE);
    };
    let mut buf = vec![0u8; (b - a + 1) as usize];
    if file.read_exact_at(&mut buf, a).is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let mut r = Response::new(Full::new(Bytes::from(buf)));
    *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    let h = r.headers_mut();
    if let Ok(v) = format!("bytes {a}-{b}/{size}").parse() {
        h.insert("content-range", v);
    }
    h.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/octet-stream"),
    );
    r
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: spindle-range-floor FILE PORT")?;
    let port: u16 = args.next().context("PORT")?.parse()?;
    let file = Arc::new(std::fs::File::open(&path).with_context(|| path.clone())?);
    let size = file.metadata()?.len();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("range floor on http://127.0.0.1:{port}/");
    loop {
        let (stream, _) = listener.accept().await?;
        let file = file.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let file = file.clone();
                async move { Ok::<_, Infallible>(answer(&file, size, &request)) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
