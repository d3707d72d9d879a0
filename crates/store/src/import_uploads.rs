//! Uploads of the import page kept between the dry run and Apply (migration 0014).

use muster_domain::Millis;
use sqlx::Row;

use crate::{Conn, Result};

/// Keep an upload for `owner_id` until `expires_at`; its id.
pub async fn insert(
    conn: &mut Conn,
    owner_id: i64,
    filename: &str,
    body: &[u8],
    now: Millis,
    expires_at: Millis,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO import_uploads (owner_id, filename, body, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(owner_id)
    .bind(filename)
    .bind(body.to_vec())
    .bind(now)
    .bind(expires_at)
    .fetch_one(&mut *conn)
    .await?)
}

/// Take an upload: only its owner's, only while it lives; it is removed in
/// the same statement, so two Applies of one upload import it once.
pub async fn take(conn: &mut Conn, id: i64, owner_id: i64, now: Millis) -> Result<Option<(String, Vec<u8>)>> {
    let row = sqlx::query(
        "DELETE FROM import_uploads WHERE id = $1 AND owner_id = $2 AND expires_at > $3 RETURNING filename, body",
    )
    .bind(id)
    .bind(owner_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// Remove expired uploads; how many.
pub async fn delete_expired(conn: &mut Conn, now: Millis) -> Result<u64> {
    let done = sqlx::query("DELETE FROM import_uploads WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
