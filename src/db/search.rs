//! The search table: a few rows of text per disc, and the queries over them.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use super::{BeginWrite, Db, DbError, fetch_in, first_linked_title, on_pool};

/// Discs whose text is missing or older than their last linking or reading (the condition of
/// the partial index `discs_search_due`, written as it is there so the index serves it).
pub async fn stale(db: &Db, limit: i64) -> Result<Vec<i64>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT id FROM discs
             WHERE searched_at IS NULL OR searched_at <= COALESCE(linked_at, 0)
                OR searched_at <= COALESCE(image_indexed_at, 0)
             ORDER BY id LIMIT $1",
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

/// Replaces a disc's rows (and its ISBN keys: each line of its `isbn` row; and its row of
/// `search_discs`, from its facts now) and marks it searched at `read_at`: when its sources
/// were read, so a linking or indexing that lands while the rows are made leaves it due.
pub async fn replace(
    db: &Db,
    disc: i64,
    rows: &[(&str, String)],
    read_at: i64,
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        for table in ["search_text", "search_isbns", "search_discs"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE disc_id = $1"))
                .bind(disc)
                .execute(&mut *tx)
                .await?;
        }
        for (field, text) in rows {
            sqlx::query("INSERT INTO search_text (disc_id, field, text) VALUES ($1, $2, $3)")
                .bind(disc)
                .bind(*field)
                .bind(text)
                .execute(&mut *tx)
                .await?;
        }
        for isbn in isbn_keys(rows) {
            sqlx::query("INSERT INTO search_isbns (isbn, disc_id) VALUES ($1, $2)")
                .bind(isbn)
                .bind(disc)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(LISTED_ROW).bind(disc).execute(&mut *tx).await?;
        sqlx::query("UPDATE discs SET searched_at = $2 WHERE id = $1")
            .bind(disc)
            .bind(read_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// The ISBN keys of a disc's search rows (`search_isbns`): each distinct line of its `isbn`
/// row (the forms `Isbn::lookup_forms` gives).
pub fn isbn_keys<'a>(rows: &'a [(&str, String)]) -> Vec<&'a str> {
    let mut keys: Vec<&str> = rows
        .iter()
        .filter(|(field, _)| *field == "isbn")
        .flat_map(|(_, text)| text.lines())
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
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

/// The words of `needle` the trigram index is asked for on PostgreSQL: its two rarest of three
/// characters or more, when the needle has more than these. Every trigram of a long query costs
/// a read of its posting list, and the rows the words find are checked against the whole
/// needle, so the words asked should be the ones few rows hold. Rarest by `common` (a word's
/// share of the search text's rows, learned from a sample: [`learn_common_words`]); a word the
/// sample did not find counts as rare; between equals, the longest.
fn index_words<'a>(needle: &'a str, common: &HashMap<String, f64>) -> Vec<&'a str> {
    let mut words: Vec<&str> = needle
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .collect();
    // A word twice is asked once ("An Introduction to …: An Introduction").
    let mut seen = std::collections::HashSet::new();
    words.retain(|w| seen.insert(w.to_lowercase()));
    let share = |w: &str| common.get(&w.to_lowercase()).copied().unwrap_or(0.0);
    words.sort_by(|a, b| {
        share(a)
            .total_cmp(&share(b))
            .then(b.chars().count().cmp(&a.chars().count()))
    });
    words.truncate(2);
    let asked: usize = words.iter().map(|w| w.len()).sum();
    if words.is_empty() || asked == needle.trim().len() {
        return Vec::new();
    }
    words
}

/// The common words of the search text (lower case), each with its share of the rows, as the
/// last [`learn_common_words`] found them: per node, in memory.
static COMMON_WORDS: LazyLock<RwLock<Arc<HashMap<String, f64>>>> =
    LazyLock::new(|| RwLock::new(Arc::new(HashMap::new())));

/// The rows of `search_text` a sample of it reads (about).
const COMMON_SAMPLE_ROWS: f64 = 30_000.0;

/// A word in at least this share of the rows is kept as common.
const COMMON_SHARE: f64 = 0.001;

fn common_words() -> Arc<HashMap<String, f64>> {
    COMMON_WORDS
        .read()
        .map(|c| Arc::clone(&c))
        .unwrap_or_default()
}

/// Learns which words are common in the search text (PostgreSQL only: SQLite's search does
/// not use [`index_words`]): the words of three characters or more in at least
/// [`COMMON_SHARE`] of a sample of its rows (`TABLESAMPLE`, about [`COMMON_SAMPLE_ROWS`] rows
/// whatever the catalogue's size). Returns how many it keeps.
pub async fn learn_common_words(db: &Db) -> Result<usize, DbError> {
    let Db::Postgres(pool) = db else {
        return Ok(0);
    };
    let rows: f32 = sqlx::query_scalar(
        "SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = 'search_text'::regclass",
    )
    .fetch_one(pool)
    .await?;
    let percent = if rows <= 0.0 {
        100.0
    } else {
        (COMMON_SAMPLE_ROWS * 100.0 / f64::from(rows)).clamp(0.01, 100.0)
    };
    let sampled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM search_text TABLESAMPLE SYSTEM ($1) REPEATABLE (7)",
    )
    .bind(percent)
    .fetch_one(pool)
    .await?;
    let found: Vec<(String, i64)> = sqlx::query_as(
        "SELECT w, COUNT(*) FROM (
             SELECT DISTINCT s.ctid, w
             FROM (SELECT ctid, text FROM search_text TABLESAMPLE SYSTEM ($1) REPEATABLE (7)) s,
                  regexp_split_to_table(lower(s.text), '[^[:alnum:]]+') AS w
             WHERE length(w) >= 3) d
         GROUP BY w HAVING COUNT(*) >= $2",
    )
    .bind(percent)
    .bind(((sampled as f64 * COMMON_SHARE).ceil() as i64).max(2))
    .fetch_all(pool)
    .await?;
    let common: HashMap<String, f64> = found
        .into_iter()
        .map(|(w, n)| (w, n as f64 / sampled.max(1) as f64))
        .collect();
    let kept = common.len();
    if let Ok(mut c) = COMMON_WORDS.write() {
        *c = Arc::new(common);
    }
    Ok(kept)
}

/// The rows of search_text whose `field` (any field when None) contains the needle; at most
/// `$3`. `$1` is the needle's pattern, `$2` the field, `$4`… the patterns of `words` (see
/// [`index_words`]): those are the index's conditions, the needle's a check of what they find.
fn matching_rows(op: &str, words: usize) -> String {
    let whole = if words == 0 {
        format!("text {op} $1 ESCAPE '\\'")
    } else {
        let asked: Vec<String> = (0..words)
            .map(|k| format!("text {op} ${} ESCAPE '\\'", k + 4))
            .collect();
        format!(
            "{} AND (text || '') {op} $1 ESCAPE '\\'",
            asked.join(" AND ")
        )
    };
    format!(
        "SELECT disc_id, field FROM search_text
         WHERE {whole} AND (CAST($2 AS TEXT) IS NULL OR field = CAST($2 AS TEXT))
         LIMIT $3"
    )
}

/// What a search matches: a substring of a field (any field when None), matched
/// case-insensitively for Latin letters; or a book's ISBN, exactly, in any of the given forms.
#[derive(Debug, Clone, Copy)]
pub enum Matching<'a> {
    Contains {
        needle: &'a str,
        field: Option<&'a str>,
    },
    Isbn(&'a [String]),
}

/// The rows `(disc_id, field)` that `m` matches, at most `limit`, read through `around`: the
/// statement made of the matching rows' SELECT (each disc once per field that matched).
async fn fetch_matching<T>(
    db: &Db,
    m: Matching<'_>,
    limit: i64,
    around: impl Fn(&str) -> String,
) -> Result<Vec<T>, DbError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    match m {
        Matching::Contains { needle, field } => {
            let (pattern, op) = contains_pattern(db, needle);
            let words: Vec<String> = if db.dialect() == "postgres" {
                index_words(needle, &common_words())
                    .into_iter()
                    .map(|w| contains_pattern(db, w).0)
                    .collect()
            } else {
                Vec::new()
            };
            let sql = around(&matching_rows(op, words.len()));
            Ok(on_pool!(db, pool => {
                let mut q = sqlx::query_as::<_, T>(&sql).bind(&pattern).bind(field).bind(limit);
                for w in &words {
                    q = q.bind(w);
                }
                q.fetch_all(pool).await?
            }))
        }
        Matching::Isbn(forms) => {
            if forms.is_empty() {
                return Ok(Vec::new());
            }
            let list: Vec<String> = (1..=forms.len()).map(|k| format!("${k}")).collect();
            let sql = around(&format!(
                "SELECT disc_id, 'isbn' AS field FROM search_isbns WHERE isbn IN ({})
                 LIMIT {limit}",
                list.join(", ")
            ));
            Ok(on_pool!(db, pool => {
                let mut q = sqlx::query_as::<_, T>(&sql);
                for f in forms {
                    q = q.bind(f);
                }
                q.fetch_all(pool).await?
            }))
        }
    }
}

/// The discs `m` matches, with the fields that matched; at most `limit` rows.
pub async fn find(db: &Db, m: Matching<'_>, limit: i64) -> Result<Vec<(i64, String)>, DbError> {
    fetch_matching(db, m, limit, |rows| {
        format!("SELECT CAST(disc_id AS BIGINT), field FROM ({rows}) m")
    })
    .await
}

/// A match of [`find_hits`]: the field that held the query, and the disc's row of
/// `search_discs` (its member by id: the caller names it, since a join to `members` per match
/// was a third of the buffers a query matching thousands of discs read).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MatchRow {
    pub field: String,
    pub id: i64,
    pub member_id: i64,
    pub is_open: bool,
    pub disc_number: i64,
    pub content_class: Option<String>,
    pub title: String,
}

/// [`find`] with each matching disc's result facts, in one query (one row per disc and
/// field): the facts are the disc's row of `search_discs`, one index lookup per match.
pub async fn find_hits(db: &Db, m: Matching<'_>, limit: i64) -> Result<Vec<MatchRow>, DbError> {
    fetch_matching(db, m, limit, |rows| {
        format!(
            "WITH matched AS ({rows})
             SELECT matched.field, CAST(s.disc_id AS BIGINT) AS id, s.member_id, s.is_open,
                    s.disc_number, s.content_class, s.title
             FROM matched JOIN search_discs s ON s.disc_id = matched.disc_id"
        )
    })
    .await
}

/// What a search result shows of a disc.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HitRow {
    pub id: i64,
    /// The first linked record's title, else the label, else the file name.
    pub title: String,
    pub member_code: String,
    pub member_id: i64,
    pub is_open: bool,
    pub disc_number: i64,
    pub content_class: Option<String>,
}

/// The facts of a disc a list of results shows, over `discs d LEFT JOIN images i` (a literal,
/// for `concat!`): what `search_discs` keeps of each searched disc, in its column order.
macro_rules! listed_facts {
    () => {
        concat!(
            "d.member_id, d.is_open, d.disc_number, i.content_class, COALESCE(",
            first_linked_title!(),
            ", d.label, d.filename) AS title"
        )
    };
}

/// A disc as a result shows it (`FROM discs d`, for a WHERE to follow).
const HIT_COLUMNS: &str = concat!(
    "SELECT CAST(d.id AS BIGINT) AS id, m.code AS member_code, ",
    listed_facts!(),
    " FROM discs d JOIN members m ON m.id = d.member_id
     LEFT JOIN images i ON i.sha256 = d.sha256"
);

/// A disc's row of `search_discs`, from its current facts (`$1` the disc).
const LISTED_ROW: &str = concat!(
    "INSERT INTO search_discs (disc_id, member_id, is_open, disc_number, content_class, title)
     SELECT d.id, ",
    listed_facts!(),
    " FROM discs d LEFT JOIN images i ON i.sha256 = d.sha256 WHERE d.id = $1"
);

/// The discs `ids` as results (from their current facts, searched or not).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_asked_for_the_longest_words_of_a_longer_needle() {
        let none = HashMap::new();
        let index_words = |needle| index_words(needle, &none);
        assert_eq!(
            index_words("Workbook for Calculus, 2nd edition"),
            ["Workbook", "Calculus"]
        );
        assert_eq!(
            index_words("高等数学教程（第3版）"),
            ["高等数学教程", "第3版"]
        );
        // One word, or words that are the whole needle: the needle itself is asked.
        assert!(index_words("Calculus").is_empty());
        assert!(index_words("data structures").len() == 2);
        assert!(
            index_words("ab cd").is_empty(),
            "no word of three characters"
        );
        assert!(index_words("").is_empty());
    }

    #[test]
    fn the_index_is_asked_for_the_rarest_words_when_some_are_known_common() {
        let common: HashMap<String, f64> = [("applications", 0.05), ("principles", 0.02)]
            .into_iter()
            .map(|(w, s)| (w.to_string(), s))
            .collect();
        assert_eq!(
            index_words(
                "Topics in Operating Systems: Principles and Applications",
                &common
            ),
            ["Operating", "Systems"]
        );
        // A word twice is asked once.
        assert_eq!(
            index_words("An Introduction to Calculus: An Introduction", &common),
            ["Introduction", "Calculus"]
        );
        // Only common words: the least common of them.
        assert_eq!(
            index_words("Principles, Applications, more", &common),
            ["more", "Principles"]
        );
    }

    #[test]
    fn isbn_keys_are_the_lines_of_the_isbn_row() {
        let rows = vec![
            ("title", "9787040396638".to_string()),
            (
                "isbn",
                "9787040396638\n7040396637\n9787040396638".to_string(),
            ),
        ];
        assert_eq!(isbn_keys(&rows), ["7040396637", "9787040396638"]);
        assert!(isbn_keys(&[("isbn", String::new())]).is_empty());
    }
}
