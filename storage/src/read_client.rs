//! The HTTP client object_store reads image bytes from S3 with.
//!
//! A download relayed to a reader on a slow line holds its GET to the store open for as long
//! as the reader takes. reqwest's client (object_store's default) lets hyper grow each
//! connection's read buffer to 408 KiB, and a chunk handed on keeps its buffer alive: 1,000
//! slow downloads from Garage held 1.4 MiB each (`loadtests/RESULTS.md`). This client is
//! hyper's own with the read buffer capped at [`READ_BUFFER`], so a relayed download holds
//! about what it relays. Only reads go through it; writes keep object_store's client.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpRequestBody,
    HttpResponse, HttpResponseBody, HttpService,
};
use rustls_platform_verifier::ConfigVerifierExt as _;

/// The most one connection to the store reads at a time (it holds at most about twice this
/// ahead of its reader). A 64 KiB read is still few syscalls per byte, and hyper's floor is
/// 8 KiB.
pub(crate) const READ_BUFFER: usize = 64 * 1024;

/// How long an idle connection stays in the pool for the next GET.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Builds the read client for an S3 store (object_store calls it once per store).
#[derive(Debug)]
pub(crate) struct ReadConnector {
    /// Time allowed to connect (`storage.s3.connect_timeout_secs`).
    pub connect_timeout: Duration,
    /// Time a read may wait for the store's next bytes, the response head included
    /// (`storage.s3.read_timeout_secs`). A reader that stops reading stops no clock.
    pub read_timeout: Duration,
}

impl HttpConnector for ReadConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let tls = rustls::ClientConfig::with_platform_verifier().map_err(|e| {
            object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            }
        })?;
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(self.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .http1_max_buf_size(READ_BUFFER)
            .build(connector);
        Ok(HttpClient::new(ReadService {
            client,
            read_timeout: self.read_timeout,
        }))
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<TcpConnector>, HttpRequestBody>;

#[derive(Debug)]
struct ReadService {
    client: HttpsClient,
    read_timeout: Duration,
}

#[async_trait::async_trait]
impl HttpService for ReadService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let response = tokio::time::timeout(self.read_timeout, self.client.request(request))
            .await
            .map_err(|_| timed_out("the store sent no answer in time"))?
            .map_err(|e| classify(Box::new(e)))?;
        let (parts, body) = response.into_parts();
        let body = PatientBody {
            inner: body,
            timeout: self.read_timeout,
            deadline: Box::pin(tokio::time::sleep(self.read_timeout)),
            armed: false,
        };
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}

/// A response body that fails when the store keeps its reader waiting for longer than
/// `timeout` for the next bytes; the clock runs only while the reader waits.
struct PatientBody {
    inner: hyper::body::Incoming,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
}

impl Body for PatientBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(|e| classify(Box::new(e)))))
            }
            Poll::Pending => {
                if !this.armed {
                    this.armed = true;
                    let at = tokio::time::Instant::now() + this.timeout;
                    this.deadline.as_mut().reset(at);
                }
                match this.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.armed = false;
                        Poll::Ready(Some(Err(timed_out("the store stopped sending"))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn timed_out(what: &'static str) -> HttpError {
    HttpError::new(
        HttpErrorKind::Timeout,
        std::io::Error::new(std::io::ErrorKind::TimedOut, what),
    )
}

/// Sorts an error the way object_store sorts reqwest's, which decides what it retries: a
/// connection that failed or closed before the answer is retried, one cut mid-answer is
/// retried for a GET, anything else is not.
fn classify(error: Box<dyn StdError + Send + Sync>) -> HttpError {
    let mut kind = HttpErrorKind::Unknown;
    let mut source: Option<&(dyn StdError + 'static)> = Some(error.as_ref());
    while let Some(e) = source {
        if let Some(e) = e.downcast_ref::<hyper_util::client::legacy::Error>()
            && e.is_connect()
        {
            kind = HttpErrorKind::Connect;
            break;
        }
        if let Some(e) = e.downcast_ref::<hyper::Error>() {
            if e.is_closed() || e.is_incomplete_message() || e.is_body_write_aborted() {
                kind = HttpErrorKind::Request;
            } else if e.is_timeout() {
                kind = HttpErrorKind::Timeout;
            }
        }
        if let Some(e) = e.downcast_ref::<std::io::Error>() {
            match e.kind() {
                std::io::ErrorKind::TimedOut => kind = HttpErrorKind::Timeout,
                std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => kind = HttpErrorKind::Interrupted,
                _ => {}
            }
        }
        if kind != HttpErrorKind::Unknown {
            break;
        }
        source = e.source();
    }
    HttpError::new_boxed(kind, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-answer HTTP server on loopback: reads a request head, then runs `answer` on the
    /// connection. A stand-in for the store; the suite reads from a real Garage.
    async fn server<F, Fut>(answer: F) -> String
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                conn.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            answer(conn).await;
        });
        format!("http://{addr}/bucket/key")
    }

    fn client(read_timeout: Duration) -> HttpClient {
        ReadConnector {
            connect_timeout: Duration::from_secs(5),
            read_timeout,
        }
        .connect(&ClientOptions::new())
        .unwrap()
    }

    async fn get(client: &HttpClient, url: &str) -> Result<HttpResponse, HttpError> {
        let request = http::Request::get(url)
            .body(HttpRequestBody::empty())
            .unwrap();
        client.execute(request).await
    }

    #[tokio::test]
    async fn no_chunk_is_bigger_than_the_read_buffer() {
        crate::install_tls_provider();
        let size = 4 * 1024 * 1024;
        let url = server(move |mut conn| async move {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
            conn.write_all(head.as_bytes()).await.unwrap();
            conn.write_all(&vec![7u8; size]).await.unwrap();
        })
        .await;
        let response = get(&client(Duration::from_secs(5)), &url).await.unwrap();
        // Let the server fill the socket before anything is read, as a slow reader would.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut body = response.into_body().bytes_stream();
        let (mut total, mut biggest) = (0, 0);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.unwrap();
            assert!(chunk.iter().all(|b| *b == 7));
            total += chunk.len();
            biggest = biggest.max(chunk.len());
        }
        assert_eq!(total, size);
        // hyper reads at most READ_BUFFER at a time, and may append a read to bytes not yet
        // handed on: a chunk is under twice that (with hyper's default, up to 408 KiB).
        assert!(biggest <= 2 * READ_BUFFER, "a chunk of {biggest} bytes");
    }

    #[tokio::test]
    async fn a_store_that_stops_sending_times_out() {
        crate::install_tls_provider();
        let url = server(|mut conn| async move {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        })
        .await;
        let response = get(&client(Duration::from_millis(300)), &url)
            .await
            .unwrap();
        let mut body = response.into_body().bytes_stream();
        assert_eq!(body.next().await.unwrap().unwrap().as_ref(), b"0123456789");
        let e = body.next().await.unwrap().unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::Timeout, "{e}");
    }

    #[tokio::test]
    async fn a_store_that_never_answers_times_out() {
        crate::install_tls_provider();
        let url = server(|conn| async move {
            let _open = conn;
            tokio::time::sleep(Duration::from_secs(30)).await;
        })
        .await;
        let e = get(&client(Duration::from_millis(300)), &url)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::Timeout, "{e}");
    }

    #[tokio::test]
    async fn a_reader_who_pauses_is_not_timed_out() {
        crate::install_tls_provider();
        let url = server(|mut conn| async move {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789")
                .await
                .unwrap();
            conn.write_all(b"abcdefghij").await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        })
        .await;
        let response = get(&client(Duration::from_millis(300)), &url)
            .await
            .unwrap();
        // The reader waits three times the read timeout before reading: its own pace.
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(
            response.into_body().bytes().await.unwrap().as_ref(),
            b"0123456789abcdefghij"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        crate::install_tls_provider();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = get(
            &client(Duration::from_secs(5)),
            &format!("http://{addr}/b/k"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::Connect, "{e}");
    }
}
