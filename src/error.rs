//! The one application error: an HTTP status, a stable machine code and a message for
//! people. 5xx bodies say nothing internal; the cause goes to the log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spindle_storage::StorageError;

use crate::db::DbError;

#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Extra headers some errors must carry (e.g. `Content-Range: bytes */N` on a 416).
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
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

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// An internal failure: logged in full here, shown to the client as a bare 500.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    pub fn unavailable(code: &'static str, what: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::warn!(%error, "{what} unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            format!("the {what} is unavailable; try again shortly"),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => Self::unavailable("database-unavailable", "database", &e),
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
                    "blob-missing",
                    "the stored image is missing; the operators have been told",
                )
            }
            StorageError::Store(_) | StorageError::Io { .. } if out_of_space(&e) => {
                tracing::error!(error = %e, "the store is out of space");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage-full",
                    "the disc store is full; what was received before is kept, so the upload can resume once the operators have made room",
                )
            }
            StorageError::Store(_) | StorageError::Io { .. } => {
                Self::unavailable("storage-unavailable", "storage", &e)
            }
            other => Self::internal("storage", &other),
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
        let body = Json(ErrorBody {
            code: self.code,
            message: &self.message,
        });
        let mut response = (self.status, body).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
