//! Members' catalogues, the records fetched from them, and the links from discs to records.

use serde::Serialize;

use super::{BeginWrite, Db, DbError, now, on_pool};
use crate::state::{LinkState, LinkStatus};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CatalogueRow {
    pub member_id: i64,
    pub kind: String,
    pub settings: String,
    pub opac_record_url: Option<String>,
    pub oai_settings: Option<String>,
    pub oai_harvested_to: Option<String>,
    pub updated_at: i64,
}

pub async fn get(db: &Db, member_id: i64) -> Result<Option<CatalogueRow>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, CatalogueRow>(
            "SELECT member_id, kind, settings, opac_record_url, oai_settings, oai_harvested_to,
                 updated_at FROM catalogues WHERE member_id = $1",
        )
        .bind(member_id)
        .fetch_optional(pool)
        .await?
    }))
}

/// Saves a member's catalogue and queues the member's discs that were waiting for one (or
/// failed against the old settings).
pub async fn put(
    db: &Db,
    member_id: i64,
    kind: &str,
    settings: &str,
    opac_record_url: Option<&str>,
    oai_settings: Option<&str>,
) -> Result<u64, DbError> {
    Ok(on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO catalogues (member_id, kind, settings, opac_record_url, oai_settings, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (member_id) DO UPDATE SET kind = $2, settings = $3,
                 opac_record_url = $4, oai_settings = $5, updated_at = $6,
                 oai_harvested_to = CASE WHEN catalogues.oai_settings = $5
                     THEN catalogues.oai_harvested_to ELSE NULL END",
        )
        .bind(member_id)
        .bind(kind)
        .bind(settings)
        .bind(opac_record_url)
        .bind(oai_settings)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let queued = sqlx::query(
            "UPDATE discs SET link_status = 'pending', link_error = NULL, link_lease_until = 0
             WHERE member_id = $1 AND link_status IN ('no-catalogue', 'failed')",
        )
        .bind(member_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        queued
    }))
}

/// Stores a fetched record, or refreshes it: (member, record id) names it.
const UPSERT_RECORD: &str = "INSERT INTO bib_records (member_id, record_id, flavour, title, year,
         isbns, disc_count, disc_kind, deleted, summary, marc, fetched_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (member_id, record_id) DO UPDATE SET flavour = $3, title = $4, year = $5,
         isbns = $6, disc_count = $7, disc_kind = $8, deleted = $9, summary = $10, marc = $11,
         fetched_at = $12
     RETURNING id";

/// Binds a `NewBibRecord` (and the fetch time) to `UPSERT_RECORD`.
macro_rules! bind_record {
    ($query:expr, $r:expr, $t:expr) => {
        $query
            .bind($r.member_id)
            .bind($r.record_id)
            .bind($r.flavour)
            .bind($r.title)
            .bind($r.year)
            .bind($r.isbns)
            .bind($r.disc_count)
            .bind($r.disc_kind)
            .bind($r.deleted)
            .bind($r.summary)
            .bind($r.marc)
            .bind($t)
    };
}

/// A record as fetched, ready to store.
pub struct NewBibRecord<'a> {
    pub member_id: i64,
    pub record_id: &'a str,
    pub flavour: &'a str,
    pub title: &'a str,
    pub year: Option<i64>,
    pub isbns: &'a str,
    pub disc_count: i64,
    pub disc_kind: Option<&'a str>,
    pub deleted: bool,
    pub summary: &'a str,
    pub marc: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct LinkRow {
    pub disc_id: i64,
    pub bib_record_id: i64,
    pub record_id: String,
    pub member_code: String,
    pub title: String,
    pub year: Option<i64>,
    pub disc_count: i64,
    pub disc_kind: Option<String>,
    pub state: LinkState,
    pub score: i64,
    pub method: String,
    pub query: String,
    pub explanation: String,
    pub decided_by: Option<String>,
    pub opac_record_url: Option<String>,
}

const LINK_SELECT: &str = "SELECT l.disc_id, l.bib_record_id, b.record_id, m.code AS member_code,
        b.title, b.year, b.disc_count, b.disc_kind, l.state, l.score, l.method, l.query,
        l.explanation, l.decided_by, c.opac_record_url
    FROM disc_links l JOIN bib_records b ON b.id = l.bib_record_id
    JOIN members m ON m.id = b.member_id
    LEFT JOIN catalogues c ON c.member_id = b.member_id";

pub struct NewLink {
    pub bib: usize,
    pub state: LinkState,
    pub score: i64,
    pub method: String,
    pub query: String,
    pub explanation: String,
}

/// Records the outcome of linking one disc in one transaction: the records upserted, the
/// disc's earlier undecided links replaced, its status set. Links a librarian decided are kept.
pub async fn store_outcome(
    db: &Db,
    disc_id: i64,
    records: &[NewBibRecord<'_>],
    links: &[NewLink],
    status: LinkStatus,
    error: Option<&str>,
) -> Result<(), DbError> {
    let t = now();
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let mut ids = Vec::with_capacity(records.len());
        for r in records {
            let id: i64 = bind_record!(sqlx::query_scalar(UPSERT_RECORD), r, t)
                .fetch_one(&mut *tx)
                .await?;
            ids.push(id);
        }
        sqlx::query("DELETE FROM disc_links WHERE disc_id = $1 AND decided_by IS NULL")
            .bind(disc_id)
            .execute(&mut *tx)
            .await?;
        for l in links {
            let Some(bib_id) = ids.get(l.bib) else { continue };
            sqlx::query(
                "INSERT INTO disc_links (disc_id, bib_record_id, state, score, method, query,
                     explanation, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                 ON CONFLICT (disc_id, bib_record_id) DO NOTHING",
            )
            .bind(disc_id)
            .bind(bib_id)
            .bind(l.state.as_str())
            .bind(l.score)
            .bind(&l.method)
            .bind(&l.query)
            .bind(&l.explanation)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE discs SET link_status = $2, link_error = $3, link_lease_until = 0,
                 linked_at = $4 WHERE id = $1",
        )
        .bind(disc_id)
        .bind(status.as_str())
        .bind(error)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    });
    Ok(())
}

pub async fn links_of(db: &Db, disc_id: i64) -> Result<Vec<LinkRow>, DbError> {
    let sql = format!("{LINK_SELECT} WHERE l.disc_id = $1 ORDER BY l.score DESC, b.record_id");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, LinkRow>(&sql).bind(disc_id).fetch_all(pool).await?
    }))
}

/// Discs of a member waiting for a librarian, with their candidate links.
pub async fn review_queue(db: &Db, member_id: i64, limit: i64) -> Result<Vec<LinkRow>, DbError> {
    let sql = format!(
        "{LINK_SELECT} JOIN discs d ON d.id = l.disc_id
         WHERE d.member_id = $1 AND d.link_status = 'review' AND l.state = 'review'
         ORDER BY l.disc_id, l.score DESC LIMIT $2"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, LinkRow>(&sql).bind(member_id).bind(limit).fetch_all(pool).await?
    }))
}

/// A librarian's decision on one candidate: accepting links it (and rejects the others);
/// rejecting leaves the disc in review while candidates remain, else unmatched.
pub async fn decide(
    db: &Db,
    disc_id: i64,
    bib_record_id: i64,
    accept: bool,
    by: &str,
) -> Result<Option<LinkStatus>, DbError> {
    let t = now();
    Ok(on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE disc_links SET state = $3, decided_by = $4, updated_at = $5
             WHERE disc_id = $1 AND bib_record_id = $2",
        )
        .bind(disc_id)
        .bind(bib_record_id)
        .bind(if accept { LinkState::Linked } else { LinkState::Rejected }.as_str())
        .bind(by)
        .bind(t)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        if accept {
            sqlx::query(
                "UPDATE disc_links SET state = 'rejected', decided_by = $3, updated_at = $4
                 WHERE disc_id = $1 AND bib_record_id <> $2 AND state = 'review'",
            )
            .bind(disc_id)
            .bind(bib_record_id)
            .bind(by)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        }
        let remaining: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM disc_links WHERE disc_id = $1 AND state = 'review'",
        )
        .bind(disc_id)
        .fetch_one(&mut *tx)
        .await?;
        let linked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM disc_links WHERE disc_id = $1 AND state = 'linked'",
        )
        .bind(disc_id)
        .fetch_one(&mut *tx)
        .await?;
        let status = if linked > 0 {
            LinkStatus::Linked
        } else if remaining > 0 {
            LinkStatus::Review
        } else {
            LinkStatus::Unmatched
        };
        sqlx::query("UPDATE discs SET link_status = $2, linked_at = $3 WHERE id = $1")
            .bind(disc_id)
            .bind(status.as_str())
            .bind(t)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Some(status)
    }))
}

/// Takes the oldest disc waiting to be linked and leases it for `lease` seconds.
pub async fn claim_disc(db: &Db, lease: i64) -> Result<Option<i64>, DbError> {
    let t = now();
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "UPDATE discs SET link_lease_until = $2
             WHERE id = (SELECT id FROM discs WHERE link_status = 'pending'
                         AND link_lease_until <= $1 ORDER BY id LIMIT 1)
               AND link_status = 'pending' AND link_lease_until <= $1
             RETURNING id",
        )
        .bind(t)
        .bind(t + lease)
        .fetch_optional(pool)
        .await?
    }))
}

/// Leaves a disc pending, to be tried again after `delay` seconds, with the reason shown.
pub async fn retry_later(db: &Db, disc_id: i64, delay: i64, error: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE discs SET link_lease_until = $2, link_error = $3 WHERE id = $1")
            .bind(disc_id)
            .bind(now() + delay)
            .bind(error)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Queues one disc for (re)linking.
pub async fn requeue(db: &Db, disc_id: i64) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE discs SET link_status = 'pending', link_error = NULL, link_lease_until = 0 WHERE id = $1",
        )
        .bind(disc_id)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// A stored record that some disc is linked to, for the re-sync.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkedRecord {
    pub bib_record_id: i64,
    pub member_id: i64,
    pub record_id: String,
}

pub async fn linked_records(db: &Db, member_id: Option<i64>) -> Result<Vec<LinkedRecord>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, LinkedRecord>(
            "SELECT DISTINCT b.id AS bib_record_id, b.member_id, b.record_id
             FROM bib_records b JOIN disc_links l ON l.bib_record_id = b.id
             WHERE l.state = 'linked' AND ($1 IS NULL OR b.member_id = $1)
             ORDER BY b.id",
        )
        .bind(member_id)
        .fetch_all(pool)
        .await?
    }))
}

/// Refreshes a stored record's facts after a re-sync (the same upsert as linking).
pub async fn refresh_record(db: &Db, r: &NewBibRecord<'_>) -> Result<(), DbError> {
    let t = now();
    on_pool!(db, pool => {
        let _: i64 = bind_record!(sqlx::query_scalar(UPSERT_RECORD), r, t)
            .fetch_one(pool)
            .await?;
    });
    Ok(())
}

/// The catalogue no longer has (or has deleted) a linked record: its links go back to
/// review with the reason, and so do their discs. Returns how many discs moved.
pub async fn record_gone(db: &Db, bib_record_id: i64, reason: &str) -> Result<u64, DbError> {
    let t = now();
    Ok(on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE bib_records SET deleted = TRUE, fetched_at = $2 WHERE id = $1")
            .bind(bib_record_id)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE disc_links SET state = 'review', explanation = explanation || '; ' || $2,
                 decided_by = NULL, updated_at = $3
             WHERE bib_record_id = $1 AND state = 'linked'",
        )
        .bind(bib_record_id)
        .bind(reason)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        let moved = sqlx::query(
            "UPDATE discs SET link_status = 'review', linked_at = $2
             WHERE link_status = 'linked' AND id IN (SELECT disc_id FROM disc_links WHERE bib_record_id = $1)
               AND NOT EXISTS (SELECT 1 FROM disc_links o WHERE o.disc_id = discs.id AND o.state = 'linked')",
        )
        .bind(bib_record_id)
        .bind(t)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        moved
    }))
}

/// Where the next incremental OAI-PMH harvest of a member's catalogue starts.
pub async fn set_harvested_to(db: &Db, member_id: i64, datestamp: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE catalogues SET oai_harvested_to = $2 WHERE member_id = $1")
            .bind(member_id)
            .bind(datestamp)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// A fetched record's MARCXML, as the member's catalogue gave it.
pub async fn marc_of(db: &Db, bib_record_id: i64) -> Result<Option<String>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, String>("SELECT marc FROM bib_records WHERE id = $1")
            .bind(bib_record_id)
            .fetch_optional(pool)
            .await?
    }))
}
