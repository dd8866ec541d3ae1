//! Usage statistics: member networks, the daily pseudonym keys, raw events, the daily
//! figures the rollup writes, and the SUSHI keys.

use super::{BeginWrite, Db, DbError, fetch_in, first_linked_title, now, on_pool};

/// One recorded action, as written (see `crate::usage::Event` for the meaning).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub ts_ms: i64,
    pub action: String,
    pub disc_id: Option<i64>,
    pub file_path: Option<String>,
    pub url_key: String,
    pub status: i64,
    pub members: String,
    pub dc_key: String,
    pub dc_key_prev: Option<String>,
    pub session_key: String,
    pub robot: bool,
    pub access_type: String,
}

/// One row of the daily figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Fact {
    /// `YYYY-MM-DD` in the rollup, `YYYY-MM` in monthly sums.
    pub day: String,
    pub member_id: i64,
    pub disc_id: i64,
    pub data_type: String,
    pub access_type: String,
    pub yop: String,
    pub tii: i64,
    pub tir: i64,
    pub uii: i64,
    pub uir: i64,
    pub no_license: i64,
    pub limit_exceeded: i64,
    pub views: i64,
    pub downloads: i64,
    pub launches: i64,
}

/// Rows per INSERT (13 columns each): under both dialects' bind limits.
const EVENTS_PER_INSERT: usize = 1000;

pub async fn networks(db: &Db) -> Result<Vec<(i64, String)>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, (i64, String)>("SELECT member_id, cidr FROM member_networks ORDER BY id")
            .fetch_all(pool)
            .await?
    }))
}

/// Replaces a member's network ranges.
pub async fn set_networks(db: &Db, member_id: i64, cidrs: &[String]) -> Result<(), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("DELETE FROM member_networks WHERE member_id = $1")
            .bind(member_id)
            .execute(&mut *tx)
            .await?;
        for cidr in cidrs {
            sqlx::query("INSERT INTO member_networks (member_id, cidr, created_at) VALUES ($1, $2, $3)")
                .bind(member_id)
                .bind(cidr)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// The day's pseudonym key: `candidate` if this is the first node to ask, else the one
/// stored (so every node hashes alike).
pub async fn day_key(db: &Db, day: &str, candidate: &str) -> Result<String, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query("INSERT INTO usage_keys (day, secret) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING")
            .bind(day)
            .bind(candidate)
            .execute(pool)
            .await?;
        sqlx::query_scalar::<_, String>("SELECT secret FROM usage_keys WHERE day = $1")
            .bind(day)
            .fetch_one(pool)
            .await?
    }))
}

/// Deletes the keys of days before `day`: pseudonyms made with them can no longer be
/// recomputed from an address.
pub async fn purge_keys(db: &Db, before_day: &str) -> Result<u64, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query("DELETE FROM usage_keys WHERE day < $1")
            .bind(before_day)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// Stores `events`; the days in `reroll` (rolled up already, and some of `events` fall in
/// them) lose their rolled mark in the same transaction, so the rollup counts them again.
pub async fn insert_events(db: &Db, events: &[EventRow], reroll: &[String]) -> Result<(), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        for day in reroll {
            sqlx::query("DELETE FROM usage_days WHERE day = $1")
                .bind(day)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in events.chunks(EVENTS_PER_INSERT) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO usage_events (ts_ms, action, disc_id, file_path, url_key, status, members, dc_key, dc_key_prev, session_key, robot, access_type) ",
            );
            qb.push_values(chunk, |mut row, e| {
                row.push_bind(e.ts_ms)
                    .push_bind(&e.action)
                    .push_bind(e.disc_id)
                    .push_bind(&e.file_path)
                    .push_bind(&e.url_key)
                    .push_bind(e.status)
                    .push_bind(&e.members)
                    .push_bind(&e.dc_key)
                    .push_bind(&e.dc_key_prev)
                    .push_bind(&e.session_key)
                    .push_bind(e.robot)
                    .push_bind(&e.access_type);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Events with `from_ms <= ts_ms < to_ms`, in time order.
pub async fn events_between(db: &Db, from_ms: i64, to_ms: i64) -> Result<Vec<EventRow>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, EventRow>(
            "SELECT id, ts_ms, action, disc_id, file_path, url_key, status, members, dc_key,
                    dc_key_prev, session_key, robot, access_type
             FROM usage_events WHERE ts_ms >= $1 AND ts_ms < $2 ORDER BY ts_ms, id",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(pool)
        .await?
    }))
}

pub async fn first_event_ms(db: &Db) -> Result<Option<i64>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(ts_ms) FROM usage_events")
            .fetch_one(pool)
            .await?
    }))
}

pub async fn purge_events(db: &Db, before_ms: i64) -> Result<u64, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query("DELETE FROM usage_events WHERE ts_ms < $1")
            .bind(before_ms)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// The days rolled up, oldest first.
pub async fn rolled_days(db: &Db) -> Result<Vec<String>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, String>("SELECT day FROM usage_days ORDER BY day")
            .fetch_all(pool)
            .await?
    }))
}

/// For each disc: its COUNTER Data_Type (from what is on it) and year of publication (from
/// its linked record, else what the librarian said).
pub async fn disc_attributes(
    db: &Db,
    ids: &[i64],
) -> Result<Vec<(i64, Option<String>, Option<i64>)>, DbError> {
    fetch_in(
        db,
        "SELECT d.id, i.content_class,
                COALESCE((SELECT MAX(r.year) FROM disc_links l JOIN bib_records r ON r.id = l.bib_record_id
                          WHERE l.disc_id = d.id AND l.state = 'linked'), d.year_hint)
         FROM discs d LEFT JOIN images i ON i.sha256 = d.sha256 WHERE d.id",
        ids,
    )
    .await
}

/// A day's per-disc figures summed per scope and Data_Type (as migration 0017 backfills).
const PLATFORM_DAY: &str = "INSERT INTO usage_platform_daily
    SELECT day, member_id, data_type, SUM(tii), SUM(tir), SUM(uii), SUM(uir), SUM(no_license),
           SUM(limit_exceeded), SUM(views), SUM(downloads), SUM(launches)
    FROM usage_daily WHERE day = $1 GROUP BY day, member_id, data_type";

/// Replaces one day's figures (so a day rolled again gives the same numbers).
pub async fn replace_day(
    db: &Db,
    day: &str,
    events: i64,
    facts: &[Fact],
    searches: &[(i64, i64)],
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        for table in [
            "usage_daily",
            "usage_platform_daily",
            "usage_searches_daily",
            "usage_days",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE day = $1"))
                .bind(day)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in facts.chunks(500) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO usage_daily (day, member_id, disc_id, data_type, access_type, yop, tii, tir, uii, uir, no_license, limit_exceeded, views, downloads, launches) ",
            );
            qb.push_values(chunk, |mut row, f| {
                row.push_bind(day)
                    .push_bind(f.member_id)
                    .push_bind(f.disc_id)
                    .push_bind(&f.data_type)
                    .push_bind(&f.access_type)
                    .push_bind(&f.yop)
                    .push_bind(f.tii)
                    .push_bind(f.tir)
                    .push_bind(f.uii)
                    .push_bind(f.uir)
                    .push_bind(f.no_license)
                    .push_bind(f.limit_exceeded)
                    .push_bind(f.views)
                    .push_bind(f.downloads)
                    .push_bind(f.launches);
            });
            qb.build().execute(&mut *tx).await?;
        }
        sqlx::query(PLATFORM_DAY).bind(day).execute(&mut *tx).await?;
        for (member, n) in searches {
            sqlx::query("INSERT INTO usage_searches_daily (day, member_id, searches) VALUES ($1, $2, $3)")
                .bind(day)
                .bind(member)
                .bind(n)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO usage_days (day, events, rolled_at) VALUES ($1, $2, $3)")
            .bind(day)
            .bind(events)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// A scope's figures summed by month (`day` holds `YYYY-MM`), for days in `[from, to]`.
pub async fn monthly(db: &Db, member_id: i64, from: &str, to: &str) -> Result<Vec<Fact>, DbError> {
    let keys = "disc_id, data_type, access_type, yop";
    by_month(
        db,
        "usage_daily",
        keys,
        keys,
        "disc_id, 1",
        (member_id, from, to),
    )
    .await
}

/// The figures a [`Fact`] holds, summed, as SQL select items (a literal, for `concat!`).
macro_rules! summed_figures {
    () => {
        "CAST(SUM(tii) AS BIGINT) AS tii, CAST(SUM(tir) AS BIGINT) AS tir,
         CAST(SUM(uii) AS BIGINT) AS uii, CAST(SUM(uir) AS BIGINT) AS uir,
         CAST(SUM(no_license) AS BIGINT) AS no_license,
         CAST(SUM(limit_exceeded) AS BIGINT) AS limit_exceeded,
         CAST(SUM(views) AS BIGINT) AS views, CAST(SUM(downloads) AS BIGINT) AS downloads,
         CAST(SUM(launches) AS BIGINT) AS launches"
    };
}

/// [`monthly`]'s rows as a stream, in disc order (then month): an Item Report reads a
/// consortium's year one disc at a time instead of all at once.
pub fn monthly_by_disc<'a>(
    db: &'a Db,
    member_id: i64,
    from: &'a str,
    to: &'a str,
) -> futures::stream::BoxStream<'a, Result<Fact, DbError>> {
    use futures::{StreamExt, TryStreamExt};
    const SQL: &str = concat!(
        "SELECT substr(day, 1, 7) AS day, member_id, disc_id, data_type, access_type, yop, ",
        summed_figures!(),
        " FROM usage_daily WHERE member_id = $1 AND day >= $2 AND day <= $3
         GROUP BY substr(day, 1, 7), member_id, disc_id, data_type, access_type, yop
         ORDER BY disc_id, 1"
    );
    on_pool!(db, pool => sqlx::query_as::<_, Fact>(SQL)
        .bind(member_id)
        .bind(from)
        .bind(to)
        .fetch(pool)
        .map_err(DbError::from)
        .boxed())
}

/// A scope's figures summed by month and Data_Type over every disc (`disc_id` 0, no access
/// type or YOP): what a Platform Report shows, from the platform table.
pub async fn monthly_platform(
    db: &Db,
    member_id: i64,
    from: &str,
    to: &str,
) -> Result<Vec<Fact>, DbError> {
    let columns = "CAST(0 AS BIGINT) AS disc_id, data_type, '' AS access_type, '' AS yop";
    by_month(
        db,
        "usage_platform_daily",
        columns,
        "data_type",
        "data_type, 1",
        (member_id, from, to),
    )
    .await
}

/// `table`'s figures for a scope (`member_id`, days in `[from, to]`) summed by month and the
/// `keys` columns; `columns` names a [`Fact`]'s disc_id, data_type, access_type and yop.
async fn by_month(
    db: &Db,
    table: &str,
    columns: &str,
    keys: &str,
    order: &str,
    (member_id, from, to): (i64, &str, &str),
) -> Result<Vec<Fact>, DbError> {
    let sql = format!(
        "SELECT substr(day, 1, 7) AS day, member_id, {columns}, {sums}
         FROM {table} WHERE member_id = $1 AND day >= $2 AND day <= $3
         GROUP BY substr(day, 1, 7), member_id, {keys}
         ORDER BY {order}",
        sums = summed_figures!()
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, Fact>(&sql)
            .bind(member_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
    }))
}

/// A scope's searches by month.
pub async fn monthly_searches(
    db: &Db,
    member_id: i64,
    from: &str,
    to: &str,
) -> Result<Vec<(String, i64)>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT substr(day, 1, 7), CAST(SUM(searches) AS BIGINT) FROM usage_searches_daily
             WHERE member_id = $1 AND day >= $2 AND day <= $3 GROUP BY substr(day, 1, 7) ORDER BY 1",
        )
        .bind(member_id)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?
    }))
}

/// What a report shows of each disc: its name (the label, else the linked record's title,
/// else the file name) and the title of the book it came with.
pub async fn disc_names(
    db: &Db,
    ids: &[i64],
) -> Result<Vec<(i64, String, Option<String>)>, DbError> {
    fetch_in(
        db,
        concat!(
            "SELECT d.id, COALESCE(d.label, d.filename), ",
            first_linked_title!(),
            " FROM discs d WHERE d.id"
        ),
        ids,
    )
    .await
}

pub async fn insert_sushi_key(
    db: &Db,
    member_id: Option<i64>,
    key_hash: &str,
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("INSERT INTO sushi_keys (member_id, key_hash, created_at) VALUES ($1, $2, $3)")
            .bind(member_id)
            .bind(key_hash)
            .bind(now())
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// The key's holder: Some(Some(member)) for a member's key, Some(None) for the consortium's.
pub async fn sushi_key(db: &Db, key_hash: &str) -> Result<Option<Option<i64>>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT member_id FROM sushi_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// What the dashboards group usage by.
#[derive(Debug, Clone, Copy)]
pub enum By {
    Year,
    Month,
    Disc,
    Class,
    Member,
}

impl By {
    fn sql(self) -> &'static str {
        match self {
            By::Year => "substr(day, 1, 4)",
            By::Month => "substr(day, 1, 7)",
            By::Disc => "CAST(disc_id AS TEXT)",
            By::Class => "data_type",
            By::Member => "CAST(member_id AS TEXT)",
        }
    }
}

/// Views, downloads and launches of the scopes from `from_day` on, grouped, largest
/// downloads + launches first when grouped by disc or member, else in key order.
pub async fn usage_by(
    db: &Db,
    scopes: &[i64],
    by: By,
    from_day: &str,
    limit: i64,
) -> Result<Vec<(String, i64, i64, i64)>, DbError> {
    if scopes.is_empty() {
        return Ok(Vec::new());
    }
    let key = by.sql();
    let order = match by {
        By::Disc | By::Member => "SUM(downloads) + SUM(launches) DESC, SUM(views) DESC, 1",
        _ => "1",
    };
    Ok(on_pool!(db, pool => {
        let mut qb = sqlx::QueryBuilder::new(format!(
            "SELECT {key}, CAST(SUM(views) AS BIGINT), CAST(SUM(downloads) AS BIGINT), CAST(SUM(launches) AS BIGINT)
             FROM usage_daily WHERE day >= "
        ));
        qb.push_bind(from_day);
        qb.push(" AND member_id IN (");
        let mut list = qb.separated(", ");
        for s in scopes {
            list.push_bind(*s);
        }
        list.push_unseparated(")");
        qb.push(format!(" GROUP BY {key} ORDER BY {order} LIMIT "));
        qb.push_bind(limit);
        qb.build_query_as::<(String, i64, i64, i64)>()
            .fetch_all(pool)
            .await?
    }))
}

/// What the consortium (or one member) held at `before` (Unix seconds): members, linked
/// records, discs, and bytes stored (each image once).
pub async fn holdings(
    db: &Db,
    member: Option<i64>,
    before: i64,
) -> Result<(i64, i64, i64, i64), DbError> {
    Ok(on_pool!(db, pool => {
        let members: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE created_at < $1")
            .bind(before)
            .fetch_one(pool)
            .await?;
        let (discs, records, bytes): (i64, i64, i64) = match member {
            None => (
                sqlx::query_scalar("SELECT COUNT(*) FROM discs WHERE created_at < $1")
                    .bind(before).fetch_one(pool).await?,
                sqlx::query_scalar(
                    "SELECT COUNT(DISTINCT bib_record_id) FROM disc_links WHERE state = 'linked' AND created_at < $1")
                    .bind(before).fetch_one(pool).await?,
                sqlx::query_scalar("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs WHERE created_at < $1")
                    .bind(before).fetch_one(pool).await?,
            ),
            Some(m) => (
                sqlx::query_scalar("SELECT COUNT(*) FROM discs WHERE created_at < $1 AND member_id = $2")
                    .bind(before).bind(m).fetch_one(pool).await?,
                sqlx::query_scalar(
                    "SELECT COUNT(DISTINCT l.bib_record_id) FROM disc_links l JOIN discs d ON d.id = l.disc_id
                     WHERE l.state = 'linked' AND l.created_at < $1 AND d.member_id = $2")
                    .bind(before).bind(m).fetch_one(pool).await?,
                sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b WHERE b.created_at < $1
                     AND b.sha256 IN (SELECT d.sha256 FROM discs d WHERE d.member_id = $2 AND d.created_at < $1)")
                    .bind(before).bind(m).fetch_one(pool).await?,
            ),
        };
        (members, records, discs, bytes)
    }))
}

/// When the first member joined (Unix seconds).
pub async fn first_member_at(db: &Db) -> Result<Option<i64>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(created_at) FROM members")
            .fetch_one(pool)
            .await?
    }))
}

/// Each member's number of discs.
pub async fn discs_per_member(db: &Db) -> Result<Vec<(i64, i64)>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, (i64, i64)>("SELECT member_id, COUNT(*) FROM discs GROUP BY member_id")
            .fetch_all(pool)
            .await?
    }))
}

/// A SUSHI key as `spindle sushi-key list` shows it (never the key itself).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedKey {
    pub id: i64,
    pub member_code: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn sushi_keys(db: &Db) -> Result<Vec<ListedKey>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, ListedKey>(
            "SELECT k.id, m.code AS member_code, k.created_at, k.revoked_at
             FROM sushi_keys k LEFT JOIN members m ON m.id = k.member_id ORDER BY k.id",
        )
        .fetch_all(pool)
        .await?
    }))
}

/// Returns false when no live key has that id.
pub async fn revoke_sushi_key(db: &Db, id: i64) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => {
        sqlx::query("UPDATE sushi_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now())
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(n == 1)
}
