//! Finding discs from the identifiers OPACs know: ISBN (any member), a member's record id,
//! a member's barcode. Only links a catalogue or a librarian confirmed count.

use super::discs::{DiscRow, SELECT};
use super::{Db, DbError, on_pool};

/// Discs registered with one of the ISBN forms, or linked to a record that carries one.
pub async fn by_isbn(db: &Db, forms: &[String]) -> Result<Vec<DiscRow>, DbError> {
    let mut out: Vec<DiscRow> = Vec::new();
    for form in forms {
        let sql = format!(
            "{SELECT} WHERE d.isbn = $1 OR d.id IN (
                 SELECT l.disc_id FROM disc_links l JOIN bib_records r ON r.id = l.bib_record_id
                 WHERE l.state = 'linked' AND (' ' || r.isbns || ' ') LIKE $2)
             ORDER BY d.id"
        );
        let pattern = format!("% {form} %");
        let rows = on_pool!(db, pool => {
            sqlx::query_as::<_, DiscRow>(&sql).bind(form).bind(&pattern).fetch_all(pool).await?
        });
        for r in rows {
            if !out.iter().any(|d| d.id == r.id) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// Discs of a member linked to its record `record_id`, or registered with it.
pub async fn by_record(
    db: &Db,
    member_code: &str,
    record_id: &str,
) -> Result<Vec<DiscRow>, DbError> {
    let sql = format!(
        "{SELECT} WHERE m.code = $1 AND (d.record_id = $2 OR d.id IN (
             SELECT l.disc_id FROM disc_links l JOIN bib_records r ON r.id = l.bib_record_id
             WHERE l.state = 'linked' AND r.record_id = $2 AND r.member_id = m.id))
         ORDER BY d.disc_number, d.id"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, DiscRow>(&sql).bind(member_code).bind(record_id).fetch_all(pool).await?
    }))
}

pub async fn by_barcode(
    db: &Db,
    member_code: &str,
    barcode: &str,
) -> Result<Vec<DiscRow>, DbError> {
    let sql = format!("{SELECT} WHERE m.code = $1 AND d.barcode = $2 ORDER BY d.disc_number, d.id");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, DiscRow>(&sql).bind(member_code).bind(barcode).fetch_all(pool).await?
    }))
}

/// A member's confirmed links with the records' stored MARC, for the 856 export.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRow {
    pub bib_record_id: i64,
    pub flavour: String,
    pub marc: String,
    pub disc_id: i64,
    pub disc_number: i64,
}

pub async fn export_rows(db: &Db, member_id: i64) -> Result<Vec<ExportRow>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, ExportRow>(
            "SELECT r.id AS bib_record_id, r.flavour, r.marc, d.id AS disc_id, d.disc_number
             FROM disc_links l JOIN bib_records r ON r.id = l.bib_record_id
             JOIN discs d ON d.id = l.disc_id
             WHERE r.member_id = $1 AND l.state = 'linked'
             ORDER BY r.id, d.disc_number, d.id",
        )
        .bind(member_id)
        .fetch_all(pool)
        .await?
    }))
}
