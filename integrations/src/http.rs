//! The one HTTP GET the catalogue clients share: the address checked (see [`crate::egress`]),
//! a timeout, a cap on the body size read, and errors that say which of these failed.

use futures::StreamExt;

pub(crate) struct Fetched {
    pub status: u16,
    /// The server sent an HTML page (an error page, a login form), not XML.
    pub html: bool,
    pub text: String,
}

#[derive(Debug)]
pub(crate) enum FetchError {
    Timeout,
    Unreachable(String),
    TooLarge(usize),
    /// Not connected to: the address is not one Spindle may reach.
    Refused(String),
}

/// A catalogue client's connection: its addresses checked, its timeout, its body cap.
#[derive(Clone)]
pub(crate) struct Fetcher {
    http: reqwest::Client,
    egress: crate::egress::Egress,
    limit: usize,
}

impl Fetcher {
    /// For a catalogue at `url` (http or https), answering within `timeout_secs` with at most
    /// `limit` bytes; the error says what is wrong with the settings.
    pub(crate) fn new(
        url: &str,
        egress: &crate::egress::Egress,
        timeout_secs: u64,
        limit: usize,
    ) -> Result<Self, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("{url:?} is not an http(s) URL"));
        }
        let timeout = std::time::Duration::from_secs(timeout_secs);
        let http = egress
            .client()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            egress: egress.clone(),
            limit,
        })
    }

    pub(crate) async fn get(&self, url: reqwest::Url) -> Result<Fetched, FetchError> {
        get_capped(&self.http, &self.egress, url, self.limit).await
    }
}

async fn get_capped(
    client: &reqwest::Client,
    egress: &crate::egress::Egress,
    url: reqwest::Url,
    limit: usize,
) -> Result<Fetched, FetchError> {
    egress
        .check_url(&url)
        .map_err(|r| FetchError::Refused(r.to_string()))?;
    let map = |e: reqwest::Error| {
        if let Some(r) = crate::egress::refusal(&e) {
            FetchError::Refused(r.to_string())
        } else if e.is_timeout() {
            FetchError::Timeout
        } else {
            FetchError::Unreachable(e.to_string())
        }
    };
    let resp = client.get(url).send().await.map_err(map)?;
    let status = resp.status().as_u16();
    let html = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("html"));
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(map)?;
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        status,
        html,
        text: String::from_utf8_lossy(&body).into_owned(),
    })
}
