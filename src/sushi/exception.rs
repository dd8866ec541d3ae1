//! COUNTER exceptions (CoP Appendix F): a refused request's whole body, with the HTTP status
//! COUNTER gives its code, or an entry in a report header's `Exceptions`.

use axum::http::StatusCode;
use serde::Serialize;

use crate::db;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub code: u16,
    pub data: Option<String>,
}

impl Exception {
    pub fn new(code: u16) -> Self {
        Self { code, data: None }
    }

    pub fn with(code: u16, data: impl Into<String>) -> Self {
        Self {
            code,
            data: Some(data.into()),
        }
    }

    /// The message COUNTER fixes for the code, and the HTTP status it travels with.
    pub fn message_and_status(&self) -> (&'static str, StatusCode) {
        match self.code {
            1000 => ("Service Not Available", StatusCode::SERVICE_UNAVAILABLE),
            1010 => ("Service Busy", StatusCode::SERVICE_UNAVAILABLE),
            1020 => (
                "Client has made too many requests",
                StatusCode::TOO_MANY_REQUESTS,
            ),
            1030 => (
                "Insufficient Information to Process Request",
                StatusCode::BAD_REQUEST,
            ),
            2000 => (
                "Requestor Not Authorized to Access Service",
                StatusCode::UNAUTHORIZED,
            ),
            2010 => (
                "Requestor is Not Authorized to Access Usage for Institution",
                StatusCode::FORBIDDEN,
            ),
            2011 => ("Global Reports Not Supported", StatusCode::FORBIDDEN),
            2020 => ("APIKey Invalid", StatusCode::UNAUTHORIZED),
            3020 => ("Invalid Date Arguments", StatusCode::BAD_REQUEST),
            3030 => ("No Usage Available for Requested Dates", StatusCode::OK),
            3031 => ("Usage Not Ready for Requested Dates", StatusCode::OK),
            3032 => (
                "Usage No Longer Available for Requested Dates",
                StatusCode::OK,
            ),
            3040 => ("Partial Data Returned", StatusCode::OK),
            3050 => ("Parameter Not Recognized in this Context", StatusCode::OK),
            3060 => ("Invalid ReportFilter Value", StatusCode::OK),
            3061 => ("Incongruous ReportFilter Value", StatusCode::OK),
            3062 => ("Invalid ReportAttribute Value", StatusCode::OK),
            3063 => ("Components Not Supported", StatusCode::OK),
            _ => ("Service Not Available", StatusCode::SERVICE_UNAVAILABLE),
        }
    }
}

/// `{"Code": …, "Message": …, "Data": …}`, `Data` only when there is some.
impl Serialize for Exception {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "Code")]
            code: u16,
            #[serde(rename = "Message")]
            message: &'static str,
            #[serde(rename = "Data", skip_serializing_if = "Option::is_none")]
            data: Option<&'a str>,
        }
        Body {
            code: self.code,
            message: self.message_and_status().0,
            data: self.data.as_deref(),
        }
        .serialize(serializer)
    }
}

impl From<AppError> for Exception {
    fn from(e: AppError) -> Self {
        tracing::warn!(error = %e.message(), "SUSHI request failed");
        Exception::new(1000)
    }
}

impl From<db::DbError> for Exception {
    fn from(e: db::DbError) -> Self {
        Exception::from(AppError::from(e))
    }
}
