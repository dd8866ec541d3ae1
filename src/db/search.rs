//! The search table: a few rows of text per disc, and the queries over them.

use super::{BeginWrite, Db, DbError, fetch_in, now, on_pool};

/// Discs whose text is missing or older than their last linking or reading.
pub async fn stale(db: &Db, limit: i64) -> Result<Vec<i64>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT d.id FROM discs d LEFT JOIN images i ON i.sha256 = d.sha256
             WHERE d.searched_at IS NULL OR d.searched_at <= COALESCE(d.linked_at, 0)
                OR d.searched_at <= COALESCE(i.indexed_at, 0)
             ORDER BY d.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// What a disc's text is made of: (linked records' summaries as JSON, file names).
pub async fn sources(db: &Db, disc: i64) -> Result<(Vec<String>, Vec<String>), DbError> {
    Ok(on_pool!(db, pool => {
        let summaries = sqlx::query_scalar::<_, String>(
            "SELECT r.summary FROM disc_links l JOIN bib_records r ON r.id = l.bib_record_id
             WHERE l.disc_id = $1 AND l.state = 'linked'",
        )
        .bind(disc)
        .fetch_all(pool)
        .await?;
        let files = sqlx::query_scalar::<_, String>(
            "SELECT f.name FROM image_files f JOIN discs d ON d.sha256 = f.image_sha256
             WHERE d.id = $1 ORDER BY f.path LIMIT 20000",
        )
        .bind(disc)
        .fetch_all(pool)
        .await?;
        (summaries, files)
    }))
}

/// Replaces a disc's rows and marks it searched.
pub async fn replace(db: &Db, disc: i64, rows: &[(&str, String)]) -> Result<(), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("DELETE FROM search_text WHERE disc_id = $1")
            .bind(disc)
            .execute(&mut *tx)
            .await?;
        for (field, text) in rows {
            sqlx::query("INSERT INTO search_text (disc_id, field, text) VALUES ($1, $2, $3)")
                .bind(disc)
                .bind(*field)
                .bind(text)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE discs SET searched_at = $2 WHERE id = $1")
            .bind(disc)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// `needle` as a LIKE pattern matching it anywhere, and the operator (case-insensitive for
/// Latin letters on PostgreSQL; SQLite's LIKE is already).
fn contains_pattern(db: &Db, needle: &str) -> (String, &'static str) {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let op = if db.dialect() == "postgres" {
        "ILIKE"
    } else {
        "LIKE"
    };
    (format!("%{escaped}%"), op)
}

/// The rows of search_text whose `field` (any field when None) contains `needle`; at most
/// `$3`. `$1` is the pattern, `$2` the field.
fn matching_rows(op: &str) -> String {
    format!(
        "SELECT disc_id, field FROM search_text
         WHERE text {op} $1 ESCAPE '\\' AND (CAST($2 AS TEXT) IS NULL OR field = CAST($2 AS TEXT))
         LIMIT $3"
    )
}

/// Discs whose `field` (any field when None) contains `needle` (case-insensitively for
/// Latin letters), with the fields that matched; at most `limit`.
pub async fn find(
    db: &Db,
    needle: &str,
    field: Option<&str>,
    limit: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    let (pattern, op) = contains_pattern(db, needle);
    let sql = format!(
        "SELECT CAST(disc_id AS BIGINT), field FROM ({}) m",
        matching_rows(op)
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, (i64, String)>(&sql)
            .bind(&pattern)
            .bind(field)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

/// A match of [`find_hits`]: the field that held the query, and the disc as a result shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MatchRow {
    pub field: String,
    #[sqlx(flatten)]
    pub disc: HitRow,
}

/// [`find`] with each matching disc's result facts, in one query (one row per disc and
/// field; each disc's facts read once, however many of its fields matched).
pub async fn find_hits(
    db: &Db,
    needle: &str,
    field: Option<&str>,
    limit: i64,
) -> Result<Vec<MatchRow>, DbError> {
    let (pattern, op) = contains_pattern(db, needle);
    let sql = format!(
        "WITH matched AS ({}),
              shown AS ({HIT_COLUMNS} WHERE d.id IN (SELECT disc_id FROM matched))
         SELECT matched.field, shown.* FROM matched JOIN shown ON shown.id = matched.disc_id",
        matching_rows(op)
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, MatchRow>(&sql)
            .bind(&pattern)
            .bind(field)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

/// What a search result shows of a disc.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HitRow {
    pub id: i64,
    /// The label, else the file name.
    pub name: String,
    /// The first linked record's title.
    pub title: Option<String>,
    pub member_code: String,
    pub member_id: i64,
    pub is_open: bool,
    pub disc_number: i64,
    pub content_class: Option<String>,
}

/// A disc as a result shows it (`FROM discs d`, for a WHERE to follow).
const HIT_COLUMNS: &str =
    "SELECT CAST(d.id AS BIGINT) AS id, COALESCE(d.label, d.filename) AS name,
        (SELECT r.title FROM disc_links l JOIN bib_records r ON r.id = l.bib_record_id
         WHERE l.disc_id = d.id AND l.state = 'linked' ORDER BY r.id LIMIT 1) AS title,
        m.code AS member_code, d.member_id, d.is_open, d.disc_number, i.content_class
     FROM discs d JOIN members m ON m.id = d.member_id
     LEFT JOIN images i ON i.sha256 = d.sha256";

/// The discs `ids` as results.
pub async fn hits(db: &Db, ids: &[i64]) -> Result<Vec<HitRow>, DbError> {
    fetch_in(db, &format!("{HIT_COLUMNS} WHERE d.id"), ids).await
}

/// The text of each (disc, field) asked for, in one query (for showing where a query matched).
pub async fn texts_of(
    db: &Db,
    wanted: &[(i64, String)],
) -> Result<Vec<(i64, String, String)>, DbError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    Ok(on_pool!(db, pool => {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT CAST(disc_id AS BIGINT), field, text FROM search_text WHERE ",
        );
        for (k, (disc, field)) in wanted.iter().enumerate() {
            if k > 0 {
                qb.push(" OR ");
            }
            qb.push("(disc_id = ")
                .push_bind(*disc)
                .push(" AND field = ")
                .push_bind(field.as_str())
                .push(")");
        }
        qb.build_query_as::<(i64, String, String)>().fetch_all(pool).await?
    }))
}
