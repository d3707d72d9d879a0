//! Password reset tokens (stored as SHA-256, single use, expiring) and the
//! set-based statements of a mass reset, one batch of users at a time.

use muster_domain::Millis;
use sqlx::Row;

use crate::sql::Sql;
use crate::{Conn, Result, audit};

/// A token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub user_id: i64,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
}

/// Store new tokens: `(token_hash, user_id)` pairs, all with the same lifetime.
pub async fn insert_many(conn: &mut Conn, tokens: &[(String, i64)], now: Millis, expires_at: Millis) -> Result<()> {
    for chunk in tokens.chunks(500) {
        let mut sql =
            Sql::new("INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) VALUES ");
        for (i, (hash, user_id)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .str(hash.clone())
                .push(", ")
                .int(*user_id)
                .push(", ")
                .int(now)
                .push(", ")
                .int(expires_at)
                .push(")");
        }
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The writes of storing one token, undone in the same transaction (*forgot
/// password* for no account costs what a real request costs). The row names
/// the first user, as the foreign key wants; it is deleted before any other
/// transaction can see it, and its token was never given to anyone.
pub async fn insert_discarded(conn: &mut Conn, token_hash: &str, now: Millis, expires_at: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) \
         SELECT $1, id, $2, $3 FROM users ORDER BY id LIMIT 1",
    )
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM password_reset_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, token_hash: &str) -> Result<Option<Token>> {
    let row =
        sqlx::query("SELECT user_id, created_at, expires_at, used_at FROM password_reset_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| {
        Ok(Token {
            user_id: r.try_get(0)?,
            created_at: r.try_get(1)?,
            expires_at: r.try_get(2)?,
            used_at: r.try_get(3)?,
        })
    })
    .transpose()
}

/// Spend a token if it is unused and unexpired, in one statement, so two
/// requests with the same link cannot both use it. Returns its user.
pub async fn consume(conn: &mut Conn, token_hash: &str, now: Millis) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE password_reset_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Make every outstanding link of these users unusable.
pub async fn spend_for_users(conn: &mut Conn, user_ids: &[i64], now: Millis) -> Result<u64> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let mut sql = Sql::new("UPDATE password_reset_tokens SET used_at = ");
    sql.int(now)
        .push(" WHERE used_at IS NULL AND user_id IN ")
        .int_list(user_ids);
    Ok(sql.query().execute(&mut *conn).await?.rows_affected())
}

/// Links asked for a user since `since` (to keep *forgot password* from flooding a mailbox).
pub async fn count_recent(conn: &mut Conn, user_id: i64, since: Millis) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM password_reset_tokens WHERE user_id = $1 AND created_at >= $2")
            .bind(user_id)
            .bind(since)
            .fetch_one(&mut *conn)
            .await?,
    )
}

pub async fn delete_expired(conn: &mut Conn, now: Millis) -> Result<u64> {
    let done = sqlx::query("DELETE FROM password_reset_tokens WHERE expires_at <= $1 OR used_at IS NOT NULL")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// Put these users in password reset and end their sessions, in two statements.
pub async fn mark_reset(conn: &mut Conn, user_ids: &[i64], now: Millis) -> Result<()> {
    if user_ids.is_empty() {
        return Ok(());
    }
    crate::users::mark_password_reset(conn, user_ids, now).await?;
    let mut sql = Sql::new("DELETE FROM sessions WHERE user_id IN ");
    sql.int_list(user_ids);
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// Write many audit events in one statement per 500.
pub async fn insert_audit_many(conn: &mut Conn, events: &[audit::Event]) -> Result<()> {
    for chunk in events.chunks(500) {
        let mut sql = Sql::new(
            "INSERT INTO audit_events (at, actor_id, actor_username, action, target_id, target_username, ip, before_json, after_json) VALUES ",
        );
        for (i, e) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(").int(e.at).push(", ");
            match e.actor_id {
                Some(a) => sql.int(a),
                // an untyped NULL fits a column of any type on both backends
                None => sql.push("NULL"),
            };
            sql.push(", ")
                .str(e.actor_username.clone())
                .push(", ")
                .str(e.action.clone())
                .push(", ");
            match e.target_id {
                Some(t) => sql.int(t),
                None => sql.push("NULL"),
            };
            sql.push(", ")
                .str(e.target_username.clone())
                .push(", ")
                .str(e.ip.clone())
                .push(", ");
            for (j, v) in [&e.before_json, &e.after_json].into_iter().enumerate() {
                if j > 0 {
                    sql.push(", ");
                }
                match v {
                    Some(s) => sql.str(s.clone()),
                    None => sql.push("NULL"),
                };
            }
            sql.push(")");
        }
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}
