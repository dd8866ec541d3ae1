//! Members' sign-on settings, the people who sign in as staff, the tokens their sessions act
//! through, and readers' sign-on sessions.

use super::{BeginWrite, Db, DbError, now, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRow {
    pub kind: String,
    pub settings: String,
    pub staff_rules: String,
    pub readers: bool,
}

pub async fn provider(db: &Db, member_id: i64) -> Result<Option<ProviderRow>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, ProviderRow>(
            "SELECT kind, settings, staff_rules, readers FROM identity_providers WHERE member_id = $1",
        )
        .bind(member_id)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn set_provider(
    db: &Db,
    member_id: i64,
    kind: &str,
    settings: &str,
    staff_rules: &str,
    readers: bool,
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO identity_providers (member_id, kind, settings, staff_rules, readers, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (member_id) DO UPDATE SET kind = excluded.kind, settings = excluded.settings,
                 staff_rules = excluded.staff_rules, readers = excluded.readers,
                 updated_at = excluded.updated_at",
        )
        .bind(member_id)
        .bind(kind)
        .bind(settings)
        .bind(staff_rules)
        .bind(readers)
        .bind(now())
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Removes a member's sign-on and ends every session opened with it: its readers' and those of
/// its people signed in as staff (their personal tokens stay, for an admin to revoke).
pub async fn delete_provider(db: &Db, member_id: i64) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => {
        let n = sqlx::query("DELETE FROM identity_providers WHERE member_id = $1")
            .bind(member_id)
            .execute(pool)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM reader_sessions WHERE member_id = $1")
            .bind(member_id)
            .execute(pool)
            .await?;
        sqlx::query(
            "DELETE FROM staff_sessions WHERE token_id IN (SELECT t.id FROM tokens t
             JOIN people p ON p.id = t.person_id WHERE t.kind = 'sign-on' AND p.member_id = $1)",
        )
        .bind(member_id)
        .execute(pool)
        .await?;
        n
    });
    Ok(n == 1)
}

/// A member that offers sign-on, for the sign-in pages.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Offered {
    pub code: String,
    pub name: String,
    pub readers: bool,
}

pub async fn offered(db: &Db) -> Result<Vec<Offered>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, Offered>(
            "SELECT m.code, m.name, p.readers FROM identity_providers p
             JOIN members m ON m.id = p.member_id ORDER BY m.code",
        )
        .fetch_all(pool)
        .await?
    }))
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct PersonRow {
    pub id: i64,
    pub member_code: String,
    pub subject: String,
    pub display_name: Option<String>,
    pub rule_role: Option<String>,
    pub granted_role: Option<String>,
    pub created_at: i64,
    pub last_sign_in_at: i64,
}

const PERSON: &str = "SELECT p.id, m.code AS member_code, p.subject, p.display_name, p.rule_role,
        p.granted_role, p.created_at, p.last_sign_in_at
     FROM people p JOIN members m ON m.id = p.member_id";

/// Records a sign-in: the person (created on their first), their name and the role the rules
/// give them now.
pub async fn signed_in(
    db: &Db,
    member_id: i64,
    subject: &str,
    display_name: &str,
    rule_role: Option<&str>,
) -> Result<PersonRow, DbError> {
    let t = now();
    Ok(on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO people (member_id, subject, display_name, rule_role, created_at, last_sign_in_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (member_id, subject) DO UPDATE SET display_name = excluded.display_name,
                 rule_role = excluded.rule_role, last_sign_in_at = excluded.last_sign_in_at",
        )
        .bind(member_id)
        .bind(subject)
        .bind(display_name)
        .bind(rule_role)
        .bind(t)
        .execute(pool)
        .await?;
        sqlx::query_as::<_, PersonRow>(&format!("{PERSON} WHERE p.member_id = $1 AND p.subject = $2"))
            .bind(member_id)
            .bind(subject)
            .fetch_one(pool)
            .await?
    }))
}

/// People who signed in as staff: all, or one member's.
pub async fn people(db: &Db, member_id: Option<i64>) -> Result<Vec<PersonRow>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, PersonRow>(&format!(
            "{PERSON} WHERE ($1 IS NULL OR p.member_id = $1) ORDER BY m.code, p.subject"
        ))
        .bind(member_id)
        .fetch_all(pool)
        .await?
    }))
}

/// The token a person's sign-on sessions act through, for their role and member now: the one
/// they have if it still fits, else a new one (any other is revoked, ending its sessions).
pub async fn sign_on_token(
    db: &Db,
    person_id: i64,
    role: &str,
    member_id: Option<i64>,
    label: &str,
    token_hash: &str,
) -> Result<i64, DbError> {
    Ok(on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM tokens WHERE person_id = $1 AND kind = 'sign-on' AND revoked_at IS NULL
               AND role = $2 AND (member_id = $3 OR (member_id IS NULL AND $3 IS NULL))",
        )
        .bind(person_id)
        .bind(role)
        .bind(member_id)
        .fetch_optional(&mut *tx)
        .await?;
        let id = match current {
            Some(id) => id,
            None => {
                sqlx::query(
                    "UPDATE tokens SET revoked_at = $2
                     WHERE person_id = $1 AND kind = 'sign-on' AND revoked_at IS NULL",
                )
                .bind(person_id)
                .bind(now())
                .execute(&mut *tx)
                .await?;
                sqlx::query_scalar(
                    "INSERT INTO tokens (member_id, role, token_hash, label, created_at, person_id, kind)
                     VALUES ($1, $2, $3, $4, $5, $6, 'sign-on') RETURNING id",
                )
                .bind(member_id)
                .bind(role)
                .bind(token_hash)
                .bind(label)
                .bind(now())
                .bind(person_id)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        id
    }))
}

/// Revokes every token of a person (no rights any more): their sessions end with them.
pub async fn revoke_tokens_of(db: &Db, person_id: i64) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE person_id = $1 AND revoked_at IS NULL")
            .bind(person_id)
            .bind(now())
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub async fn create_reader_session(
    db: &Db,
    id_hash: &str,
    member_id: i64,
    sso_ticket: Option<&str>,
    expires_at: i64,
) -> Result<(), DbError> {
    let t = now();
    on_pool!(db, pool => {
        sqlx::query("DELETE FROM reader_sessions WHERE expires_at < $1")
            .bind(t)
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO reader_sessions (id_hash, member_id, sso_ticket, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(id_hash)
        .bind(member_id)
        .bind(sso_ticket)
        .bind(t)
        .bind(expires_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// The member a live reader session names (not expired, not idle for `idle_secs`); its idle
/// clock is wound again at most once a minute.
pub async fn reader_session(
    db: &Db,
    id_hash: &str,
    idle_secs: i64,
) -> Result<Option<i64>, DbError> {
    let t = now();
    Ok(on_pool!(db, pool => {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT member_id, last_seen_at FROM reader_sessions
             WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at > $3",
        )
        .bind(id_hash)
        .bind(t)
        .bind(t - idle_secs)
        .fetch_optional(pool)
        .await?;
        if let Some((_, seen)) = row
            && seen < t - 60
        {
            sqlx::query("UPDATE reader_sessions SET last_seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(t)
                .execute(pool)
                .await?;
        }
        row.map(|(m, _)| m)
    }))
}

pub async fn end_reader_session(db: &Db, id_hash: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("DELETE FROM reader_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Ends every session (staff and reader) opened with this ticket's hash: how many.
pub async fn end_sessions_of_ticket(db: &Db, ticket_hash: &str) -> Result<u64, DbError> {
    Ok(on_pool!(db, pool => {
        let staff = sqlx::query("DELETE FROM staff_sessions WHERE sso_ticket = $1")
            .bind(ticket_hash)
            .execute(pool)
            .await?
            .rows_affected();
        let readers = sqlx::query("DELETE FROM reader_sessions WHERE sso_ticket = $1")
            .bind(ticket_hash)
            .execute(pool)
            .await?
            .rows_affected();
        staff + readers
    }))
}

/// Sets the role an admin grants a person (None takes it back): the person, or None if there
/// is no such person.
pub async fn set_granted(
    db: &Db,
    person_id: i64,
    role: Option<&str>,
) -> Result<Option<PersonRow>, DbError> {
    Ok(on_pool!(db, pool => {
        let n = sqlx::query("UPDATE people SET granted_role = $2 WHERE id = $1")
            .bind(person_id)
            .bind(role)
            .execute(pool)
            .await?
            .rows_affected();
        if n == 0 {
            None
        } else {
            sqlx::query_as::<_, PersonRow>(&format!("{PERSON} WHERE p.id = $1"))
                .bind(person_id)
                .fetch_optional(pool)
                .await?
        }
    }))
}
