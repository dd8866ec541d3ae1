//! The `dav-server` crate (0.11, the maintained fork of webdav-handler) serving a folder
//! read-only on loopback, with its own `LocalFs`: its best case, a plain local file. Used by
//! `loadtests/dav-bench.sh` to measure it beside Spindle's own WebDAV on the same bytes (issue
//! 19 asked whether to build the drive on it).
//!
//! `spindle-dav-server-bench DIR PORT`

use std::convert::Infallible;

use anyhow::{Context, Result};
use dav_server::{DavHandler, fakels::FakeLs, localfs::LocalFs};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .context("usage: spindle-dav-server-bench DIR PORT")?;
    let port: u16 = args.next().context("PORT")?.parse()?;
    let handler = DavHandler::builder()
        .filesystem(LocalFs::new(dir, false, false, false))
        .locksystem(FakeLs::new())
        .build_handler();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("dav-server on http://127.0.0.1:{port}/");
    loop {
        let (stream, _) = listener.accept().await?;
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
