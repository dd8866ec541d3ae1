//! Streaming a stored blob to a client with exact RFC 9110 semantics: Range (single, suffix,
//! open, multiple as multipart/byteranges), If-Range, the preconditions, ETag = SHA-256,
//! Last-Modified, HEAD, 206/304/412/416. Memory stays bounded whatever the size: bytes go
//! from the store to the socket one block at a time.

use super::range::{ByteRange, Conditions, Decision, Validators, evaluate};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use prometheus_client::metrics::counter::Counter;
use rand::RngCore as _;
use spindle_storage::BlobStore;

use super::header_str;
use crate::app::App;
use crate::content::Representation;
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};

/// RFC 5987 attr-char: everything else is percent-encoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded` (RFC 6266), or
/// `inline; …` for what a browser should show itself.
pub fn content_disposition(filename: &str, inline: bool) -> HeaderValue {
    // A backslash is a separator to Windows: never part of a name a browser saves.
    let filename = &filename.replace('\\', "_");
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(filename, ATTR_CHAR);
    let kind = if inline { "inline" } else { "attachment" };
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

pub async fn serve(
    app: &App,
    is_get: bool,
    headers: &HeaderMap,
    rep: &Representation,
) -> AppResult<Response> {
    serve_from(&app.blobs, &app.metrics.bytes_out, is_get, headers, rep).await
}

/// A download answered with a redirect to the store (see [`serve_blob`]): the usage
/// middleware counts it as the download it starts.
#[derive(Debug, Clone, Copy)]
pub struct Redirected;

/// [`serve`] for a representation that is one whole stored blob (an image, a CUE sheet's
/// part): with `storage.s3.redirect_downloads`, the answer is a redirect (307, so a HEAD
/// stays a HEAD) to a presigned address of the blob in the store, which then answers Range,
/// If-Range and the other conditions itself; else the bytes are relayed as always.
pub async fn serve_blob(
    app: &App,
    is_get: bool,
    headers: &HeaderMap,
    rep: &Representation,
    digest: &spindle_storage::Digest,
) -> AppResult<Response> {
    // (The configuration allows it only on S3; a store that cannot sign answers None below.)
    let s3 = &app.config.storage.s3;
    if !s3.redirect_downloads {
        return serve(app, is_get, headers, rep).await;
    }
    let method = if is_get {
        object_store::signer::Method::GET
    } else {
        object_store::signer::Method::HEAD
    };
    let disposition = content_disposition(&rep.filename, rep.inline);
    let url = app
        .blobs
        .presigned(
            method,
            digest,
            std::time::Duration::from_secs(s3.redirect_secs),
            &rep.content_type,
            disposition.to_str().unwrap_or("attachment"),
        )
        .await?;
    let Some(url) = url else {
        return serve(app, is_get, headers, rep).await;
    };
    let mut response = Response::builder()
        .status(StatusCode::TEMPORARY_REDIRECT)
        .header(header::LOCATION, url.as_str())
        // The address expires: neither the browser nor a cache may keep this answer.
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(Body::empty())
        .map_err(|e| AppError::internal("redirect response", &e))?;
    response.extensions_mut().insert(Redirected);
    Ok(response)
}

/// The charset a text file from a disc should be declared with, from its first bytes
/// (`crate::charset`); None for what is not text, says its own, or cannot be read (then it is
/// served as before, and the read's error, if any, meets the body). Sniffed once per file: the
/// answer is kept by the file's entity tag (content-addressed, so it cannot go stale), and a
/// reader's later ranges of the file read nothing more than they ask for.
async fn charset_of(blobs: &BlobStore, rep: &Representation) -> Option<&'static str> {
    static SNIFFED: std::sync::OnceLock<crate::cache::TtlCache<String, Option<&'static str>>> =
        std::sync::OnceLock::new();
    let textual = rep.content_type.starts_with("text/")
        || rep.content_type == "application/javascript"
        || rep.content_type == "application/xhtml+xml";
    if !textual || rep.content_type.contains("charset") || rep.size == 0 {
        return None;
    }
    let sniffed = SNIFFED
        .get_or_init(|| crate::cache::TtlCache::new(std::time::Duration::from_secs(3600), 10_000));
    if let Some(known) = sniffed.get(&rep.etag) {
        return known;
    }
    let charset = sniff_head(blobs, rep).await?;
    sniffed.put(rep.etag.clone(), charset);
    charset
}

/// The sniffed charset of `rep`'s first bytes; None (outer) when they cannot be read.
async fn sniff_head(blobs: &BlobStore, rep: &Representation) -> Option<Option<&'static str>> {
    let len = rep.size.min(crate::charset::SNIFF_BYTES);
    let mut head = Vec::with_capacity(len as usize);
    let mut body = rep.content.open(blobs, 0..len).await.ok()?;
    while let Some(chunk) = body.next().await {
        head.extend_from_slice(&chunk.ok()?);
    }
    let is_html = rep.content_type == "text/html" || rep.content_type == "application/xhtml+xml";
    Some(crate::charset::sniff(&head, len == rep.size, is_html))
}

/// [`serve`] from `blobs`, counting the bytes sent in `sent`.
pub async fn serve_from(
    blobs: &BlobStore,
    sent: &Counter,
    is_get: bool,
    headers: &HeaderMap,
    rep: &Representation,
) -> AppResult<Response> {
    let with_charset;
    let rep = match charset_of(blobs, rep).await {
        Some(charset) => {
            with_charset = Representation {
                content_type: format!("{}; charset={charset}", rep.content_type),
                ..rep.clone()
            };
            &with_charset
        }
        None => rep,
    };
    let etag = &rep.etag;
    let conditions = Conditions {
        if_match: header_str(headers, "if-match"),
        if_none_match: header_str(headers, "if-none-match"),
        if_modified_since: header_str(headers, "if-modified-since"),
        if_unmodified_since: header_str(headers, "if-unmodified-since"),
        if_range: header_str(headers, "if-range"),
        range: header_str(headers, "range"),
    };
    let validators = Validators {
        etag,
        last_modified: rep.last_modified,
        length: rep.size,
    };
    let decision = evaluate(&conditions, &validators, is_get);

    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, header_value(&format!("\"{etag}\""))?);
    h.insert(
        header::LAST_MODIFIED,
        header_value(&httpdate::fmt_http_date(rep.last_modified))?,
    );
    // Content-addressed bytes never change; `private` because access is per reader.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if rep.sandbox {
        // Disc content is untrusted: its pages run in an opaque origin, never with ours.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "sandbox allow-scripts allow-forms allow-popups allow-downloads allow-modals",
            ),
        );
    }

    match decision {
        Decision::NotModified => {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            Ok(response)
        }
        Decision::PreconditionFailed => Err(AppError::new(
            StatusCode::PRECONDITION_FAILED,
            ErrorCode::PreconditionFailed,
            detail!("err_precondition"),
        )),
        Decision::Unsatisfiable => Err(AppError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorCode::RangeNotSatisfiable,
            detail!("err_range", size = rep.size),
        )
        .with_header(
            header::CONTENT_RANGE,
            header_value(&format!("bytes */{}", rep.size))?,
        )),
        Decision::Full => {
            set_entity_headers(&mut response, rep, rep.size);
            if is_get {
                let whole = ByteRange {
                    start: 0,
                    end: rep.size,
                };
                *response.body_mut() = body(blobs, sent, rep, vec![whole], None).await?;
            }
            Ok(response)
        }
        Decision::Partial(ranges) if ranges.len() == 1 => {
            let range = ranges[0];
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            set_entity_headers(&mut response, rep, range.len());
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&range.content_range(rep.size))?,
            );
            *response.body_mut() = body(blobs, sent, rep, ranges, None).await?;
            Ok(response)
        }
        Decision::Partial(ranges) => {
            let boundary = new_boundary();
            let framing = Framing::new(&boundary, rep, &ranges);
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                header_value(&format!("multipart/byteranges; boundary={boundary}"))?,
            );
            h.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(framing.total_length(&ranges)),
            );
            *response.body_mut() = body(blobs, sent, rep, ranges, Some(framing)).await?;
            Ok(response)
        }
    }
}

/// The headers of a single-part body (whole or one range).
fn set_entity_headers(response: &mut Response, rep: &Representation, length: u64) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&rep.content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(&rep.filename, rep.inline),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
}

fn header_value(s: &str) -> AppResult<HeaderValue> {
    HeaderValue::from_str(s).map_err(|e| AppError::internal("header value", &e))
}

fn new_boundary() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    format!("spindle-{}", hex::encode(bytes))
}

/// The multipart/byteranges framing around each part (RFC 9110 14.6).
struct Framing {
    heads: Vec<Bytes>,
    tail: Bytes,
}

impl Framing {
    fn new(boundary: &str, rep: &Representation, ranges: &[ByteRange]) -> Self {
        let heads = ranges
            .iter()
            .map(|r| {
                Bytes::from(format!(
                    "\r\n--{boundary}\r\nContent-Type: {}\r\nContent-Range: {}\r\n\r\n",
                    rep.content_type,
                    r.content_range(rep.size)
                ))
            })
            .collect();
        Self {
            heads,
            tail: Bytes::from(format!("\r\n--{boundary}--\r\n")),
        }
    }

    fn total_length(&self, ranges: &[ByteRange]) -> u64 {
        let framing: u64 =
            self.heads.iter().map(|h| h.len() as u64).sum::<u64>() + self.tail.len() as u64;
        framing + ranges.iter().map(ByteRange::len).sum::<u64>()
    }
}

/// The longest single range read whole before the answer starts (one read block of the
/// local store): a reader's 64 KiB ranges then cost no stream per request, and a failed read
/// is an error status rather than a cut answer.
const WHOLE_IN_MEMORY: u64 = 256 * 1024;

/// The body of one short range, read before the answer starts.
async fn small(
    blobs: &BlobStore,
    sent: &Counter,
    rep: &Representation,
    range: ByteRange,
) -> AppResult<Body> {
    let mut data = rep.content.open(blobs, range.start..range.end).await?;
    let mut chunks = Vec::with_capacity(1);
    while let Some(chunk) = data.next().await {
        chunks.push(chunk?);
    }
    let bytes = match chunks.len() {
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    };
    sent.inc_by(bytes.len() as u64);
    Ok(Body::from(bytes))
}

/// The response body: each range streamed from the store in turn (opened lazily, so a
/// multi-range response holds one store stream at a time), framed when multipart.
async fn body(
    blobs: &BlobStore,
    sent: &Counter,
    rep: &Representation,
    ranges: Vec<ByteRange>,
    framing: Option<Framing>,
) -> AppResult<Body> {
    if let ([range], None) = (ranges.as_slice(), &framing)
        && range.len() <= WHOLE_IN_MEMORY
    {
        return small(blobs, sent, rep, *range).await;
    }
    // Open the first range now so that a missing or unreachable blob is a clean error status
    // rather than a truncated 200.
    let first = rep
        .content
        .open(blobs, ranges[0].start..ranges[0].end)
        .await?;
    let blobs = blobs.clone();
    let content = rep.content.clone();
    let counter = sent.clone();
    let (heads, tail) = match framing {
        Some(f) => (
            f.heads.into_iter().map(Some).collect::<Vec<_>>(),
            Some(f.tail),
        ),
        None => (vec![None; ranges.len()], None),
    };
    let mut first = Some(first);
    let parts = stream::iter(ranges.into_iter().zip(heads)).then(move |(range, head)| {
        let blobs = blobs.clone();
        let content = content.clone();
        let opened = first.take();
        async move {
            let data = match opened {
                Some(s) => s,
                None => content.open(&blobs, range.start..range.end).await?,
            };
            let head = stream::iter(head.map(Ok));
            Ok::<_, spindle_storage::StorageError>(head.chain(data))
        }
    });
    let all = parts
        .try_flatten()
        .chain(stream::iter(tail.map(Ok)))
        .inspect_ok(move |chunk| {
            counter.inc_by(chunk.len() as u64);
        })
        .map_err(|e| {
            tracing::warn!(error = %e, "download stream failed; closing the connection");
            std::io::Error::other(e)
        });
    Ok(Body::from_stream(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_keeps_utf8_and_a_safe_fallback() {
        let v = content_disposition("光盘 \"1\".iso", false);
        let s = v.to_str().unwrap();
        assert!(
            s.starts_with("attachment; filename=\"__ _1_.iso\"; filename*=UTF-8''"),
            "{s}"
        );
        assert!(s.ends_with("%E5%85%89%E7%9B%98%20%221%22.iso"), "{s}");
    }
}
