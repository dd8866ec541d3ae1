//! Linking discs to their bibliographic records in the member's own catalogue: the member's
//! catalogue settings, the queue of discs to link (leased, off the request path), the
//! lookups (barcode, then record id, then ISBN in both forms, then title + year), the
//! scoring, the resolution of a separately catalogued disc to its host book, and the
//! librarian's review of what was not certain. Every decision keeps the query that found
//! the record and why it scored as it did.
//!
//! `settings` holds the member's catalogue settings, `worker` the linkers, `score` how sure a
//! candidate is, `review` the librarian's decisions and `resync` the refreshes.

mod resync;
mod review;
mod score;
mod settings;
mod worker;

pub use resync::{ResyncReport, resync, resync_forever, resync_member};
pub use review::{LinkView, ReviewItem, decide, links, relink, review_queue};
use settings::Clients;
pub use settings::{CatalogueSettings, check_catalogue, get_catalogue, put_catalogue};
pub use worker::run;

use crate::db::Db;

/// The linkers' runtime: the database, one SRU client per member catalogue (its concurrency
/// limit is per catalogue), and the bell that wakes the linkers when a disc waits for its
/// record.
pub struct Linking {
    db: Db,
    /// Where the catalogue clients may connect (`linking.allow_networks`).
    egress: spindle_integrations::egress::Egress,
    clients: Clients,
    wake: tokio::sync::Notify,
    /// Discs this node has looked up (for the cluster's once-only check).
    done: prometheus_client::metrics::counter::Counter,
}

impl Linking {
    pub fn new(
        db: Db,
        egress: spindle_integrations::egress::Egress,
        done: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        Self {
            db,
            egress,
            clients: Clients::default(),
            wake: tokio::sync::Notify::new(),
            done,
        }
    }

    /// Tells the linkers a disc waits for its catalogue record.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }
}
