//! Each administrator's own views of the users grid: a name and the grid's
//! query string (filters, sort, columns). At most one per owner is the default.

use muster_domain::Millis;
use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedView {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub query: String,
    pub is_default: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const COLUMNS: &str = "id, owner_id, name, query, is_default, created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<SavedView> {
    Ok(SavedView {
        id: r.try_get("id")?,
        owner_id: r.try_get("owner_id")?,
        name: r.try_get("name")?,
        query: r.try_get("query")?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn list(conn: &mut Conn, owner_id: i64) -> Result<Vec<SavedView>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM saved_views WHERE owner_id = $1 ORDER BY name, id"
    )))
    .bind(owner_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One of the owner's views; another owner's view is `None`.
pub async fn get(conn: &mut Conn, owner_id: i64, id: i64) -> Result<Option<SavedView>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM saved_views WHERE owner_id = $1 AND id = $2"
    )))
    .bind(owner_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get_default(conn: &mut Conn, owner_id: i64) -> Result<Option<SavedView>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM saved_views WHERE owner_id = $1 AND is_default = 1 ORDER BY id LIMIT 1"
    )))
    .bind(owner_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Whether the owner already has a view of this name (any case), other than `except_id`.
pub async fn name_taken(conn: &mut Conn, owner_id: i64, name: &str, except_id: i64) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM saved_views WHERE owner_id = $1 AND lower(name) = $2 AND id <> $3")
            .bind(owner_id)
            .bind(name.to_lowercase())
            .bind(except_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(n > 0)
}

pub async fn insert(conn: &mut Conn, owner_id: i64, name: &str, query: &str, now: Millis) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO saved_views (owner_id, name, query, is_default, created_at, updated_at) \
         VALUES ($1, $2, $3, 0, $4, $4) RETURNING id",
    )
    .bind(owner_id)
    .bind(name)
    .bind(query)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn rename(conn: &mut Conn, owner_id: i64, id: i64, name: &str, now: Millis) -> Result<bool> {
    let done = sqlx::query("UPDATE saved_views SET name = $1, updated_at = $2 WHERE owner_id = $3 AND id = $4")
        .bind(name)
        .bind(now)
        .bind(owner_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut Conn, owner_id: i64, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM saved_views WHERE owner_id = $1 AND id = $2")
        .bind(owner_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Make `id` the owner's only default view, or clear the default with `None`,
/// in one statement so two defaults can never exist.
pub async fn set_default(conn: &mut Conn, owner_id: i64, id: Option<i64>, now: Millis) -> Result<()> {
    sqlx::query(
        "UPDATE saved_views SET is_default = CASE WHEN id = $1 THEN 1 ELSE 0 END, updated_at = $2 \
         WHERE owner_id = $3 AND (is_default = 1 OR id = $1)",
    )
    .bind(id.unwrap_or(0))
    .bind(now)
    .bind(owner_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
