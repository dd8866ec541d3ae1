//! Spindle: a disc-image cloud for university library consortia. The library holds the
//! service (configuration, HTTP routes, upload and download domain logic); `main.rs` is the
//! command line.

pub mod access;
pub mod app;
pub mod auth;
pub mod backup;
pub mod browse;
pub mod cache;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod content;
pub mod dashboard;
pub mod db;
pub mod discs;
pub mod error;
pub mod error_code;
pub mod fixity;
pub mod gc;
pub mod http;
pub mod i18n;
pub use spindle_i18n::detail;
pub mod images;
pub mod limits;
pub mod linking;
pub mod media;
pub mod members;
pub mod metrics;
pub mod opac;
pub mod queue;
pub mod search;
pub mod state;
pub mod sushi;
pub mod uploads;
pub mod usage;
pub mod zipstream;
