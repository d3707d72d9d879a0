//! Second factors (migration 0011): TOTP factors, recovery codes and the
//! pending sign-ins that wait for the second step. The rules (when a code is
//! asked, how many wrong codes) live in the server's service; these are the
//! statements, each one atomic on its own.

use muster_domain::Millis;
use sqlx::Row;

use crate::{Conn, Result};

/// The `kind` of an authenticator-app factor. A passkey would be another kind.
pub const TOTP: &str = "totp";

/// A user's TOTP factor, confirmed or still being enrolled.
#[derive(Clone, PartialEq, Eq)]
pub struct Totp {
    pub user_id: i64,
    /// Base32, as the user typed it into their app.
    pub secret: String,
    pub last_step: i64,
    pub confirmed_at: Option<Millis>,
}

// The secret never reaches a log through `{:?}`.
impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("user_id", &self.user_id)
            .field("secret", &"***")
            .field("last_step", &self.last_step)
            .field("confirmed_at", &self.confirmed_at)
            .finish()
    }
}

pub async fn totp(conn: &mut Conn, user_id: i64) -> Result<Option<Totp>> {
    let row = sqlx::query(
        "SELECT user_id, secret, last_step, confirmed_at FROM second_factors WHERE user_id = $1 AND kind = $2",
    )
    .bind(user_id)
    .bind(TOTP)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Totp {
            user_id: r.try_get(0)?,
            secret: r.try_get(1)?,
            last_step: r.try_get(2)?,
            confirmed_at: r.try_get(3)?,
        })
    })
    .transpose()
}

/// Start (or restart) an enrolment with a new secret. Refused (false) while a
/// confirmed factor exists: it is replaced only after a reset.
pub async fn begin_totp(conn: &mut Conn, user_id: i64, secret: &str, now: Millis) -> Result<bool> {
    sqlx::query("DELETE FROM second_factors WHERE user_id = $1 AND kind = $2 AND confirmed_at IS NULL")
        .bind(user_id)
        .bind(TOTP)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query(
        "INSERT INTO second_factors (user_id, kind, secret, last_step, created_at) \
         SELECT $1, $2, $3, 0, $4 WHERE NOT EXISTS (SELECT 1 FROM second_factors WHERE user_id = $1 AND kind = $2)",
    )
    .bind(user_id)
    .bind(TOTP)
    .bind(secret)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Confirm the enrolment whose secret is `secret` with the code of `step`.
/// False if it was confirmed, reset or restarted meanwhile.
pub async fn confirm_totp(conn: &mut Conn, user_id: i64, secret: &str, step: i64, now: Millis) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE second_factors SET confirmed_at = $1, last_step = $2 \
         WHERE user_id = $3 AND kind = $4 AND secret = $5 AND confirmed_at IS NULL",
    )
    .bind(now)
    .bind(step)
    .bind(user_id)
    .bind(TOTP)
    .bind(secret)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Accept a code of `step` once: true only if `step` is newer than the last
/// accepted one. One conditional statement, so two requests with the same
/// code (on one instance or two) cannot both pass.
pub async fn accept_step(conn: &mut Conn, user_id: i64, step: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE second_factors SET last_step = $1 \
         WHERE user_id = $2 AND kind = $3 AND confirmed_at IS NOT NULL AND last_step < $1",
    )
    .bind(step)
    .bind(user_id)
    .bind(TOTP)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the user has a confirmed factor of any kind.
pub async fn has_factor(conn: &mut Conn, user_id: i64) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM second_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(n > 0)
}

/// Which of these users have a confirmed factor (a grid page's column).
pub async fn with_factor(conn: &mut Conn, user_ids: &[i64]) -> Result<Vec<i64>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = crate::sql::Sql::new(
        "SELECT DISTINCT user_id FROM second_factors WHERE confirmed_at IS NOT NULL AND user_id IN ",
    );
    sql.int_list(user_ids);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Replace the user's recovery codes by these SHA-256 hashes.
pub async fn replace_recovery_codes(conn: &mut Conn, user_id: i64, hashes: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for h in hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(h)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Use a recovery code: true once per code, in one conditional statement.
pub async fn use_recovery_code(conn: &mut Conn, user_id: i64, hash: &str, now: Millis) -> Result<bool> {
    let done =
        sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
            .bind(now)
            .bind(user_id)
            .bind(hash)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn recovery_codes_left(conn: &mut Conn, user_id: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Remove every factor, recovery code and pending sign-in of a user; returns
/// how many confirmed factors there were.
pub async fn delete_for_user(conn: &mut Conn, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM second_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for sql in [
        "DELETE FROM second_factors WHERE user_id = $1",
        "DELETE FROM recovery_codes WHERE user_id = $1",
        "DELETE FROM pending_sign_ins WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *conn).await?;
    }
    Ok(done.rows_affected())
}

/// A sign-in whose password was right, waiting for its second step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id_hash: String,
    pub user_id: i64,
    /// `code` or `enrol`.
    pub stage: String,
    /// SHA-256 of the password hash seen at the first step: a password changed
    /// since then ends the pending sign-in.
    pub password_hash_sha256: String,
    /// Where to go once signed in (a local path, checked at the first step).
    pub next: String,
    pub wrong_codes: i64,
    pub expires_at: Millis,
}

pub async fn create_pending(conn: &mut Conn, p: &Pending, now: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO pending_sign_ins (id_hash, user_id, stage, password_hash_sha256, next, wrong_codes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
    )
    .bind(&p.id_hash)
    .bind(p.user_id)
    .bind(&p.stage)
    .bind(&p.password_hash_sha256)
    .bind(&p.next)
    .bind(now)
    .bind(p.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A live pending sign-in; expired ones are not returned.
pub async fn pending(conn: &mut Conn, id_hash: &str, now: Millis) -> Result<Option<Pending>> {
    let row = sqlx::query(
        "SELECT id_hash, user_id, stage, password_hash_sha256, next, wrong_codes, expires_at \
         FROM pending_sign_ins WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Pending {
            id_hash: r.try_get(0)?,
            user_id: r.try_get(1)?,
            stage: r.try_get(2)?,
            password_hash_sha256: r.try_get(3)?,
            next: r.try_get(4)?,
            wrong_codes: r.try_get(5)?,
            expires_at: r.try_get(6)?,
        })
    })
    .transpose()
}

/// Count a wrong code against this pending sign-in; returns the new count.
pub async fn count_wrong_code(conn: &mut Conn, id_hash: &str) -> Result<i64> {
    let n: Option<i64> = sqlx::query_scalar(
        "UPDATE pending_sign_ins SET wrong_codes = wrong_codes + 1 WHERE id_hash = $1 RETURNING wrong_codes",
    )
    .bind(id_hash)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(n.unwrap_or(i64::MAX))
}

/// Remove a pending sign-in; true if it was there (so only one request completes it).
pub async fn delete_pending(conn: &mut Conn, id_hash: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM pending_sign_ins WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_expired_pending(conn: &mut Conn, now: Millis) -> Result<u64> {
    let done = sqlx::query("DELETE FROM pending_sign_ins WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
