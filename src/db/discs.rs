//! Discs: a member's copy of a stored image, with the identifiers the library knows it by.

use serde::Serialize;

use super::{Db, DbError, first_linked_title, is_unique_violation, now, on_pool};
use crate::state::{ImageStatus, LinkStatus};

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct DiscRow {
    pub id: i64,
    pub member_id: i64,
    pub member_code: String,
    pub sha256: String,
    pub size: i64,
    pub stored_at: i64,
    pub filename: String,
    pub label: Option<String>,
    pub isbn: Option<String>,
    pub barcode: Option<String>,
    pub record_id: Option<String>,
    pub disc_number: i64,
    pub is_open: bool,
    pub created_at: i64,
    pub title_hint: Option<String>,
    pub year_hint: Option<i64>,
    pub link_status: LinkStatus,
    pub link_error: Option<String>,
    /// When the image's bytes were last found not to match its key (see `crate::fixity`).
    pub fixity_failed_at: Option<i64>,
}

/// Every disc query's columns, joined with its member and its image's blob.
pub(crate) const SELECT: &str = "SELECT d.id, d.member_id, m.code AS member_code, d.sha256, b.size,
        b.created_at AS stored_at, d.filename, d.label, d.isbn, d.barcode, d.record_id,
        d.disc_number, d.is_open, d.created_at, d.title_hint, d.year_hint, d.link_status,
        d.link_error, b.fixity_failed_at
    FROM discs d JOIN members m ON m.id = d.member_id JOIN blobs b ON b.sha256 = d.sha256";

pub struct NewDisc<'a> {
    pub member_id: i64,
    pub sha256: &'a str,
    pub filename: &'a str,
    pub label: Option<&'a str>,
    pub isbn: Option<&'a str>,
    pub barcode: Option<&'a str>,
    pub record_id: Option<&'a str>,
    pub disc_number: i64,
    pub is_open: bool,
    pub title_hint: Option<&'a str>,
    pub year_hint: Option<i64>,
    /// Pending when the member has a catalogue to link against, else no-catalogue.
    pub link_status: LinkStatus,
}

/// The member already has a disc with that barcode and disc number.
#[derive(Debug)]
pub struct BarcodeTaken;

pub async fn insert(db: &Db, d: &NewDisc<'_>) -> Result<Result<i64, BarcodeTaken>, DbError> {
    let result = on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO discs (member_id, sha256, filename, label, isbn, barcode, record_id,
                 disc_number, is_open, created_at, title_hint, year_hint, link_status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(d.member_id)
        .bind(d.sha256)
        .bind(d.filename)
        .bind(d.label)
        .bind(d.isbn)
        .bind(d.barcode)
        .bind(d.record_id)
        .bind(d.disc_number)
        .bind(d.is_open)
        .bind(now())
        .bind(d.title_hint)
        .bind(d.year_hint)
        .bind(d.link_status.as_str())
        .fetch_one(pool)
        .await
    });
    match result {
        Ok(id) => Ok(Ok(id)),
        Err(e) if is_unique_violation(&e) => Ok(Err(BarcodeTaken)),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(db: &Db, id: i64) -> Result<Option<DiscRow>, DbError> {
    let sql = format!("{SELECT} WHERE d.id = $1");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, DiscRow>(&sql).bind(id).fetch_optional(pool).await?
    }))
}

/// The member's disc of this image with the same identifiers and no barcode: registering it
/// again (a rerun of a bulk upload) finds it instead of making a second disc.
pub async fn same_unbarcoded(db: &Db, d: &NewDisc<'_>) -> Result<Option<DiscRow>, DbError> {
    let sql = format!(
        "{SELECT} WHERE d.member_id = $1 AND d.sha256 = $2 AND d.barcode IS NULL
           AND d.disc_number = $3 AND d.isbn IS NOT DISTINCT FROM $4
           AND d.record_id IS NOT DISTINCT FROM $5 AND d.title_hint IS NOT DISTINCT FROM $6
           AND d.year_hint IS NOT DISTINCT FROM $7 ORDER BY d.id LIMIT 1"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, DiscRow>(&sql)
            .bind(d.member_id)
            .bind(d.sha256)
            .bind(d.disc_number)
            .bind(d.isbn)
            .bind(d.record_id)
            .bind(d.title_hint)
            .bind(d.year_hint)
            .fetch_optional(pool)
            .await?
    }))
}

/// The discs that go with this one: the same image held by any member (its records are the
/// book's in every catalogue), and the member's discs of the same book (a set: linked to the
/// same record, or with the same ISBN or barcode), by disc number. Each kind of relation
/// is its own indexed lookup (one OR across them would read every disc of the member).
pub async fn related(db: &Db, d: &DiscRow) -> Result<Vec<DiscRow>, DbError> {
    let sql = format!(
        "{SELECT} WHERE d.id IN (
            SELECT id FROM discs WHERE sha256 = $1
            UNION SELECT id FROM discs WHERE isbn = $3 AND member_id = $2
            UNION SELECT id FROM discs WHERE member_id = $2 AND barcode = $4
            UNION SELECT l2.disc_id FROM disc_links l1
                  JOIN disc_links l2 ON l2.bib_record_id = l1.bib_record_id
                  JOIN discs s ON s.id = l2.disc_id
                  WHERE l1.disc_id = $5 AND l1.state = 'linked' AND l2.state = 'linked'
                    AND s.member_id = $2)
         ORDER BY d.disc_number, d.id LIMIT 200"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, DiscRow>(&sql)
            .bind(&d.sha256)
            .bind(d.member_id)
            .bind(&d.isbn)
            .bind(&d.barcode)
            .bind(d.id)
            .fetch_all(pool)
            .await?
    }))
}

pub async fn by_barcode(
    db: &Db,
    member_id: i64,
    barcode: &str,
    disc_number: i64,
) -> Result<Option<DiscRow>, DbError> {
    let sql = format!("{SELECT} WHERE d.member_id = $1 AND d.barcode = $2 AND d.disc_number = $3");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, DiscRow>(&sql)
            .bind(member_id)
            .bind(barcode)
            .bind(disc_number)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn list_for_member(
    db: &Db,
    member_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<DiscRow>, DbError> {
    let sql = format!("{SELECT} WHERE d.member_id = $1 AND d.id > $2 ORDER BY d.id LIMIT $3");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, DiscRow>(&sql)
            .bind(member_id)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

/// A row of a librarian's list of their discs: what was registered, whether the image has
/// been read, and how linking to the catalogue went.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct StaffDiscRow {
    pub id: i64,
    pub filename: String,
    pub label: Option<String>,
    pub isbn: Option<String>,
    pub barcode: Option<String>,
    pub disc_number: i64,
    pub size: i64,
    pub created_at: i64,
    pub link_status: LinkStatus,
    pub link_error: Option<String>,
    pub image_status: Option<ImageStatus>,
    pub image_error: Option<String>,
    pub formats: Option<String>,
    pub file_count: Option<i64>,
    pub title: Option<String>,
}

/// Which of a member's discs a librarian asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffFilter {
    All,
    /// Something for a person to do: a review, no match, a failed link or image.
    Attention,
    /// Not finished yet: waiting to be read or linked.
    Waiting,
}

impl StaffFilter {
    fn sql(self) -> &'static str {
        match self {
            Self::All => "TRUE",
            Self::Attention => {
                "(d.link_status IN ('review', 'unmatched', 'failed') OR i.status = 'failed')"
            }
            Self::Waiting => "(d.link_status = 'pending' OR i.status IN ('pending', 'indexing'))",
        }
    }
}

/// A page of a member's discs, newest first, and how many match in all.
pub async fn staff_list(
    db: &Db,
    member_id: i64,
    filter: StaffFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<StaffDiscRow>, i64), DbError> {
    let from = format!(
        "FROM discs d JOIN blobs b ON b.sha256 = d.sha256 LEFT JOIN images i ON i.sha256 = d.sha256
         WHERE d.member_id = $1 AND {}",
        filter.sql()
    );
    let sql = format!(
        concat!(
            "SELECT d.id, d.filename, d.label, d.isbn, d.barcode, d.disc_number, b.size,
                d.created_at, d.link_status, d.link_error, i.status AS image_status,
                i.error AS image_error, i.formats, i.file_count,
                COALESCE(",
            first_linked_title!(),
            ", d.title_hint) AS title {from} ORDER BY d.id DESC LIMIT $2 OFFSET $3"
        ),
        from = from
    );
    let count = format!("SELECT COUNT(*) {from}");
    Ok(on_pool!(db, pool => {
        let rows = sqlx::query_as::<_, StaffDiscRow>(&sql)
            .bind(member_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
        let total: i64 = sqlx::query_scalar(&count).bind(member_id).fetch_one(pool).await?;
        (rows, total)
    }))
}

/// How many of a member's discs are in each (link status, image status).
pub async fn staff_counts(
    db: &Db,
    member_id: i64,
) -> Result<Vec<(LinkStatus, Option<ImageStatus>, i64)>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, (LinkStatus, Option<ImageStatus>, i64)>(
            "SELECT d.link_status, i.status, COUNT(*)
             FROM discs d LEFT JOIN images i ON i.sha256 = d.sha256
             WHERE d.member_id = $1 GROUP BY d.link_status, i.status",
        )
        .bind(member_id)
        .fetch_all(pool)
        .await?
    }))
}
