//! The one application error: an HTTP status, a stable machine code and a message for
//! people, answered as an RFC 9457 problem document (`application/problem+json`) with the
//! `code` member clients match on. 5xx bodies say nothing internal; the cause goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spindle_image::ImageError;
use spindle_storage::StorageError;

use crate::db::DbError;
use crate::detail;
pub use crate::error_code::ErrorCode;
pub use crate::i18n::Message;

/// The media type of every error answer of the JSON API and the tus endpoints.
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    code: ErrorCode,
    message: Message,
    /// Extra headers some errors must carry (e.g. `Content-Range: bytes */N` on a 416).
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

/// An RFC 9457 problem document. `type` names the problem by its code, resolved against the
/// server: `/api/v1/problems` lists every code with its title.
#[derive(Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    code: ErrorCode,
}

/// What an error answer said, kept on the response so that the HTTP wing can render it in
/// the reader's language ([`localize`]); the body is rendered in English first.
#[derive(Clone, Debug)]
struct Answered {
    code: ErrorCode,
    status: StatusCode,
    detail: Message,
}

fn problem_body(a: &Answered, lang: &str) -> Vec<u8> {
    let problem = Problem {
        kind: problem_type(a.code),
        title: a.code.title(lang),
        status: a.status.as_u16(),
        detail: a.detail.render(lang),
        code: a.code,
    };
    serde_json::to_vec(&problem).unwrap_or_default()
}

/// Whether the response is an error answer [`localize`] can render again.
pub fn is_problem(response: &Response) -> bool {
    response.extensions().get::<Answered>().is_some()
}

/// Renders an error answer's title and detail in `lang` and says which language it is in.
/// Other responses pass untouched.
pub fn localize(response: &mut Response, lang: &'static str) {
    let Some(answered) = response.extensions_mut().remove::<Answered>() else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang));
    headers.append(header::VARY, HeaderValue::from_static("accept-language"));
    if lang != "en" {
        headers.remove(header::CONTENT_LENGTH);
        *response.body_mut() = axum::body::Body::from(problem_body(&answered, lang));
    }
}

/// The `type` URI of a problem with this code.
pub fn problem_type(code: ErrorCode) -> String {
    crate::site::here(format!("/api/v1/problems#{code}"))
}

impl AppError {
    pub fn new(status: StatusCode, code: ErrorCode, message: Message) -> Self {
        Self {
            status,
            code,
            message,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// What went wrong, in English: for logs and the operator's command line.
    pub fn message(&self) -> String {
        self.message.render("en")
    }

    /// What went wrong, in `lang`: for pages.
    pub fn detail(&self, lang: &str) -> String {
        self.message.render(lang)
    }

    pub fn bad_request(code: ErrorCode, message: Message) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthenticated(code: ErrorCode, message: Message) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub fn forbidden(message: Message) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn not_found(code: ErrorCode, message: Message) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: ErrorCode, message: Message) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unprocessable(code: ErrorCode, message: Message) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// An internal failure: logged in full here, shown to the client as a bare 500.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            detail!("err_internal"),
        )
    }

    /// A peer the server needs is down: 503 with a hint to retry, the cause logged.
    pub fn unavailable(code: ErrorCode, error: &dyn std::fmt::Display) -> Self {
        tracing::warn!(%error, %code, "a peer is unavailable");
        let message = match code {
            ErrorCode::DatabaseUnavailable => detail!("err_database_unavailable"),
            _ => detail!("err_storage_unavailable"),
        };
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => Self::unavailable(ErrorCode::DatabaseUnavailable, &e),
            other => Self::internal("database", &other),
        }
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(ref path) => {
                tracing::error!(path, "a blob the database knows is missing from the store");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::BlobMissing,
                    detail!("err_blob_missing"),
                )
            }
            StorageError::Store(_) | StorageError::Io { .. } if out_of_space(&e) => {
                tracing::error!(error = %e, "the store is out of space");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    ErrorCode::StorageFull,
                    detail!("err_storage_full"),
                )
            }
            StorageError::Store(_) | StorageError::Io { .. } => {
                Self::unavailable(ErrorCode::StorageUnavailable, &e)
            }
            other => Self::internal("storage", &other),
        }
    }
}

impl From<&ImageError> for ErrorCode {
    fn from(e: &ImageError) -> Self {
        match e {
            ImageError::Unsupported(_) | ImageError::Unrecognised => Self::UnsupportedImageFormat,
            ImageError::Truncated { .. } => Self::ImageTruncated,
            ImageError::Malformed { .. } => Self::ImageMalformed,
            ImageError::Limit(_) => Self::ImageLimitExceeded,
            ImageError::MissingPart(_) => Self::ImagePartMissing,
            ImageError::Io(_) => Self::ImageReadFailed,
        }
    }
}

/// An image that cannot be read: the storage unavailable when reading it failed, else
/// unprocessable with the image's problem as its code.
impl From<&ImageError> for AppError {
    fn from(e: &ImageError) -> Self {
        match e {
            ImageError::Io(_) => Self::unavailable(ErrorCode::StorageUnavailable, e),
            _ => Self::unprocessable(e.into(), e.message()),
        }
    }
}

/// Whether the store failed for want of space (ENOSPC, or a quota), anywhere in the chain.
fn out_of_space(e: &StorageError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        cause = c.source();
    }
    false
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let answered = Answered {
            code: self.code,
            status: self.status,
            detail: self.message,
        };
        let mut response = (self.status, problem_body(&answered, "en")).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response.extensions_mut().insert(answered);
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
