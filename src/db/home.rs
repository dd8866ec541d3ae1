//! The home page's queries: the consortium's totals and the discs a reader may open, newest
//! first or most used first.

use super::{Db, DbError, on_pool};

/// The discs a reader may open: open discs, and those of `members` or among `discs` (or
/// every disc, for staff who act for every member).
pub struct Reach<'a> {
    pub all: bool,
    pub members: &'a [i64],
    pub discs: &'a [i64],
}

/// `AND (…)` limiting `d` (discs) to what `reach` opens.
fn push_reach<'q, DB: sqlx::Database>(qb: &mut sqlx::QueryBuilder<'q, DB>, reach: &Reach<'_>)
where
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if reach.all {
        return;
    }
    qb.push(" AND (d.is_open");
    for (column, ids) in [("d.member_id", reach.members), ("d.id", reach.discs)] {
        if ids.is_empty() {
            continue;
        }
        qb.push(format!(" OR {column} IN ("));
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        list.push_unseparated(")");
    }
    qb.push(")");
}

/// How many discs the consortium holds, and how many catalogue records they are linked to.
pub async fn totals(db: &Db) -> Result<(i64, i64), DbError> {
    Ok(on_pool!(db, pool => (
        sqlx::query_scalar("SELECT COUNT(*) FROM discs").fetch_one(pool).await?,
        sqlx::query_scalar("SELECT COUNT(DISTINCT bib_record_id) FROM disc_links WHERE state = 'linked'")
            .fetch_one(pool)
            .await?,
    )))
}

/// The newest discs within reach, at most `limit`.
pub async fn newest(db: &Db, reach: &Reach<'_>, limit: i64) -> Result<Vec<i64>, DbError> {
    Ok(on_pool!(db, pool => {
        let mut qb = sqlx::QueryBuilder::new("SELECT d.id FROM discs d WHERE 1 = 1");
        push_reach(&mut qb, reach);
        qb.push(" ORDER BY d.created_at DESC, d.id DESC LIMIT ").push_bind(limit);
        qb.build_query_scalar::<i64>().fetch_all(pool).await?
    }))
}

/// The discs within reach most requested (COUNTER Total_Item_Requests) on the days from
/// `since` (`YYYY-MM-DD`) that have been rolled up, at most `limit`.
pub async fn most_used(
    db: &Db,
    reach: &Reach<'_>,
    since: &str,
    limit: i64,
) -> Result<Vec<i64>, DbError> {
    Ok(on_pool!(db, pool => {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT d.id FROM discs d JOIN usage_daily u ON u.disc_id = d.id WHERE u.day >= ",
        );
        qb.push_bind(since.to_string());
        push_reach(&mut qb, reach);
        qb.push(" GROUP BY d.id HAVING SUM(u.tir) > 0 ORDER BY SUM(u.tir) DESC, d.id DESC LIMIT ")
            .push_bind(limit);
        qb.build_query_scalar::<i64>().fetch_all(pool).await?
    }))
}
