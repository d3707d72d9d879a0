//! Writes that only an import makes: a password hash taken as it is (the
//! status is set separately, exactly as the file says), and the history
//! fields a migrated user brings along.

use muster_domain::Millis;

use crate::{Conn, Result};

/// Replace the hash without touching the status (unlike `users::set_password_hash`).
pub async fn set_hash(conn: &mut Conn, id: i64, hash: &str, now: Millis) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    crate::users::touch(conn, id, now).await
}

/// When the user was created, last signed in, and how often, as another system recorded it.
pub async fn set_history(
    conn: &mut Conn,
    id: i64,
    created_at: Option<Millis>,
    last_login_at: Option<Millis>,
    login_count: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE users SET created_at = COALESCE($1, created_at), last_login_at = COALESCE($2, last_login_at), \
         login_count = COALESCE($3, login_count) WHERE id = $4",
    )
    .bind(created_at)
    .bind(last_login_at)
    .bind(login_count)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
