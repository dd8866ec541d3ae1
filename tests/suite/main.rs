//! The integration suite, as one test binary: each module below was once its own binary, and
//! every one of them linked the whole server again (23 links of ~300 MB each). Run one part
//! with a filter on its module, e.g. `cargo test --test suite images::`.
//!
//! The real peers (PostgreSQL, Garage, Zebra, OAI-PMH, Chromium) are started by
//! `scripts/test.sh`; see `common`.

#[macro_use]
mod common;

mod access;
mod api_contract;
mod authz;
mod background;
mod backup;
mod browse;
mod cluster;
mod dashboard;
mod dav;
mod downloads;
mod faults;
mod first_contact;
mod fixity;
mod gc;
mod hostile;
mod images;
mod librarian_pages;
mod linking;
mod migrations;
mod oidc;
mod opac;
mod play;
mod process;
mod proxy_sign_on;
mod reader_pages;
mod redirect;
mod run;
mod sign_on;
mod staff_review;
mod stats;
mod upload_browser;
mod upload_cli;
mod uploads;
