//! Where Spindle sits on the library's site: `http.base_path` (e.g. `/spindle`), for the
//! request being answered. Every address Spindle gives out is built with [`here`]; outside a
//! request (workers, the CLI) the path is "". The HTTP wing sets it per request (see
//! `http::base`).

tokio::task_local! {
    pub(crate) static BASE: String;
}

/// The base path of the request being answered ("" at the root, and outside requests).
pub fn base() -> String {
    BASE.try_with(Clone::clone).unwrap_or_default()
}

/// An address Spindle gives out (`/discs/1`), as the reader must request it
/// (`/spindle/discs/1` under a base path).
pub fn here(path: impl AsRef<str>) -> String {
    let path = path.as_ref();
    BASE.try_with(|b| format!("{b}{path}"))
        .unwrap_or_else(|_| path.to_string())
}
