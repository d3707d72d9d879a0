//! API keys: one per (user, organization), stored as the SHA-256 of the
//! secret and looked up by it.

use muster_domain::Millis;
use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub organization_id: i64,
    pub key_prefix: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        organization_id: r.try_get("organization_id")?,
        key_prefix: r.try_get("key_prefix")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

/// Store a key, replacing the user's key in that organization.
pub async fn replace(
    conn: &mut Conn,
    user_id: i64,
    org_id: i64,
    key_hash: &str,
    prefix: &str,
    now: Millis,
) -> Result<()> {
    sqlx::query("DELETE FROM api_keys WHERE user_id = $1 AND organization_id = $2")
        .bind(user_id)
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO api_keys (user_id, organization_id, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(org_id)
    .bind(key_hash)
    .bind(prefix)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn revoke(conn: &mut Conn, user_id: i64, org_id: Option<i64>) -> Result<u64> {
    let done = match org_id {
        Some(o) => {
            sqlx::query("DELETE FROM api_keys WHERE user_id = $1 AND organization_id = $2")
                .bind(user_id)
                .bind(o)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(done.rows_affected())
}

pub async fn for_user(conn: &mut Conn, user_id: i64) -> Result<Vec<ApiKey>> {
    let rows = sqlx::query(
        "SELECT id, user_id, organization_id, key_prefix, created_at, last_used_at FROM api_keys WHERE user_id = $1 ORDER BY organization_id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn find_by_hash(conn: &mut Conn, key_hash: &str) -> Result<Option<ApiKey>> {
    let row = sqlx::query(
        "SELECT id, user_id, organization_id, key_prefix, created_at, last_used_at FROM api_keys WHERE key_hash = $1",
    )
    .bind(key_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Note a use, at most once a minute per key, so reads do not all become writes.
pub async fn touch(conn: &mut Conn, id: i64, now: Millis) -> Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(now)
        .bind(id)
        .bind(now - 60_000)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
