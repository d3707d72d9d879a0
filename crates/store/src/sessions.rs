//! Server-side sessions. The cookie holds a random id; the table holds only
//! its SHA-256, so a copy of the database does not give live sessions.

use muster_domain::Millis;
use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

pub async fn create(conn: &mut Conn, s: &Session, ip: &str, user_agent: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $4, $6, $7)",
    )
    .bind(&s.id_hash)
    .bind(s.user_id)
    .bind(&s.csrf_token)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(ip)
    .bind(user_agent)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A live session and when it was last seen, which [`touch`] needs: one
/// query for what every page view reads. Expired ones are not returned.
pub async fn get_seen(conn: &mut Conn, id_hash: &str, now: Millis) -> Result<Option<(Session, Millis)>> {
    let row = sqlx::query(
        "SELECT id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at FROM sessions \
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        let session = Session {
            id_hash: r.try_get(0)?,
            user_id: r.try_get(1)?,
            csrf_token: r.try_get(2)?,
            created_at: r.try_get(3)?,
            expires_at: r.try_get(4)?,
        };
        Ok((session, r.try_get(5)?))
    })
    .transpose()
}

/// How often a session's expiry slides forward, at most.
pub const TOUCH_EVERY_MS: Millis = 60_000;

/// Whether a session last seen at `last_seen_at` is due for [`touch`] at `now`.
pub fn touch_due(last_seen_at: Millis, now: Millis) -> bool {
    last_seen_at < now - TOUCH_EVERY_MS
}

/// Slide the expiry forward, at most once a minute per session. The caller
/// read `last_seen_at` with the session ([`get_seen`]) and asks only when
/// [`touch_due`]: an UPDATE takes SQLite's write lock even when it matches no
/// row, so every page view would queue behind a long writer (a mass action's
/// batch); 59 of 60 seconds' views stay lock-free, and cost no second query.
pub async fn touch(conn: &mut Conn, id_hash: &str, now: Millis, expires_at: Millis) -> Result<()> {
    // the guard again: two views of the same second both found it due
    sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3 AND last_seen_at < $4")
        .bind(now)
        .bind(expires_at)
        .bind(id_hash)
        .bind(now - TOUCH_EVERY_MS)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// End every session of a user, except optionally one (the user's own, after they change their password).
pub async fn delete_for_user(conn: &mut Conn, user_id: i64, except_hash: Option<&str>) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user_id)
        .bind(except_hash.unwrap_or(""))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// End the sessions of every user who may no longer sign in (after a mass change).
pub async fn delete_for_unusable_users(conn: &mut Conn) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM sessions WHERE user_id IN \
         (SELECT user_id FROM user_status WHERE enabled = 0 OR auth_status <> 'active')",
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

pub async fn delete_expired(conn: &mut Conn, now: Millis) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn count_for_user(conn: &mut Conn, user_id: i64) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?)
}

/// End the sessions of the users `ids` (those a batch of a mass disable
/// changed, in its transaction).
pub async fn delete_for_users(conn: &mut Conn, ids: &[i64]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut sql = crate::sql::Sql::new("DELETE FROM sessions WHERE user_id IN ");
    sql.int_list(ids);
    Ok(sql.query().execute(&mut *conn).await?.rows_affected())
}

/// A live session as an administrator sees it: never its hash, only a short
/// public id (the first 16 hex digits of the hash), which cannot sign anyone in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub public_id: String,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub ip: String,
    pub user_agent: String,
}

/// The length of a session's public id.
pub const PUBLIC_ID_LEN: usize = 16;

/// The live sessions of a user, most recently seen first.
pub async fn list_for_user(conn: &mut Conn, user_id: i64, now: Millis) -> Result<Vec<SessionInfo>> {
    let rows = sqlx::query(
        "SELECT id_hash, created_at, last_seen_at, ip, user_agent FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC, created_at DESC",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let hash: String = r.try_get(0)?;
            Ok(SessionInfo {
                public_id: hash.chars().take(PUBLIC_ID_LEN).collect(),
                created_at: r.try_get(1)?,
                last_seen_at: r.try_get(2)?,
                ip: r.try_get(3)?,
                user_agent: r.try_get(4)?,
            })
        })
        .collect()
}

/// End one session of a user, named by its public id; how many ended (0 or 1).
pub async fn delete_by_public_id(conn: &mut Conn, user_id: i64, public_id: &str) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND substr(id_hash, 1, 16) = $2")
        .bind(user_id)
        .bind(public_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
