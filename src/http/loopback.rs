//! The loopback-only listener this node's ffmpeg and ffprobe read titles from. Each read is
//! registered under a random key for as long as its lease lives (`/s/{key}`), with Range as on
//! the public routes; it is not a reader's request, so nothing here is counted or checked
//! again (the request that started the transcode was). It binds 127.0.0.1 on first use and
//! stops when the application does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use prometheus_client::metrics::counter::Counter;
use spindle_storage::BlobStore;
use tokio::sync::oneshot;

use crate::content::Representation;
use crate::media::{Lease, Source};

type Reads = Arc<Mutex<HashMap<String, Arc<Representation>>>>;

pub struct Loopback {
    blobs: BlobStore,
    sent: Counter,
    reads: Reads,
    addr: OnceLock<SocketAddr>,
    /// Dropped with the application: the listener stops.
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

#[derive(Clone)]
struct Served {
    blobs: BlobStore,
    sent: Counter,
    reads: Reads,
}

/// Removes a read when its lease is dropped.
struct Registered {
    reads: Reads,
    key: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut reads) = self.reads.lock() {
            reads.remove(&self.key);
        }
    }
}

impl Loopback {
    pub fn new(blobs: BlobStore, sent: Counter) -> Self {
        Self {
            blobs,
            sent,
            reads: Reads::default(),
            addr: OnceLock::new(),
            stop: Mutex::new(None),
        }
    }

    fn bound(&self) -> std::io::Result<SocketAddr> {
        if let Some(addr) = self.addr.get() {
            return Ok(*addr);
        }
        let mut stop = self
            .stop
            .lock()
            .map_err(|_| std::io::Error::other("loopback lock"))?;
        if let Some(addr) = self.addr.get() {
            return Ok(*addr);
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (tx, rx) = oneshot::channel::<()>();
        let served = Served {
            blobs: self.blobs.clone(),
            sent: self.sent.clone(),
            reads: self.reads.clone(),
        };
        let app = Router::new()
            .route("/s/{key}", get(read))
            .with_state(served);
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "the media loopback listener stopped");
            }
        });
        *stop = Some(tx);
        let _ = self.addr.set(addr);
        Ok(addr)
    }
}

impl Source for Loopback {
    fn open(&self, rep: Representation) -> std::io::Result<Lease> {
        let addr = self.bound()?;
        let key = crate::auth::random_hex(16);
        self.reads
            .lock()
            .map_err(|_| std::io::Error::other("loopback lock"))?
            .insert(key.clone(), Arc::new(rep));
        Ok(Lease {
            url: format!("http://{addr}/s/{key}"),
            release: Box::new(Registered {
                reads: self.reads.clone(),
                key,
            }),
        })
    }
}

async fn read(
    State(served): State<Served>,
    method: Method,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let rep = served.reads.lock().ok().and_then(|r| r.get(&key).cloned());
    let Some(rep) = rep else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match super::download::serve_from(
        &served.blobs,
        &served.sent,
        method == Method::GET,
        &headers,
        &rep,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
