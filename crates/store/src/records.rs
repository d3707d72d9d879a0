//! Records of the business application that users own; they block a delete.

use muster_domain::{Error as DomainError, Millis};
use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub owner_id: i64,
    pub organization_id: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const COLUMNS: &str = "id, kind, title, owner_id, organization_id, created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Record> {
    Ok(Record {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        title: r.try_get("title")?,
        owner_id: r.try_get("owner_id")?,
        organization_id: r.try_get("organization_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A record kind: a short lowercase word (`contact`, `task`, `opportunity`…).
pub fn parse_kind(raw: &str) -> Result<String> {
    let k = raw.trim().to_lowercase();
    if k.is_empty() || k.len() > 40 || !k.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(DomainError::invalid("kind", "must be 1 to 40 letters or '_'").into());
    }
    Ok(k)
}

pub fn parse_title(raw: &str) -> Result<String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control) {
        return Err(DomainError::invalid("title", "must be 1 to 200 characters without control characters").into());
    }
    Ok(t.to_owned())
}

pub async fn insert(conn: &mut Conn, kind: &str, title: &str, owner_id: i64, org_id: i64, now: Millis) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO records (kind, title, owner_id, organization_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(kind)
    .bind(title)
    .bind(owner_id)
    .bind(org_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<Record>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM records WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn update(conn: &mut Conn, r: &Record, now: Millis) -> Result<()> {
    sqlx::query("UPDATE records SET kind = $1, title = $2, owner_id = $3, updated_at = $4 WHERE id = $5")
        .bind(&r.kind)
        .bind(&r.title)
        .bind(r.owner_id)
        .bind(now)
        .bind(r.id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records in the given organizations, newest first; `owner` narrows to one user.
pub async fn list(
    conn: &mut Conn,
    org_ids: &[i64],
    owner: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Record>> {
    let mut sql = crate::sql::Sql::new(&format!("SELECT {COLUMNS} FROM records WHERE organization_id IN "));
    if org_ids.is_empty() {
        return Ok(Vec::new());
    }
    sql.int_list(org_ids);
    if let Some(o) = owner {
        sql.push(" AND owner_id = ").int(o);
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .int(limit)
        .push(" OFFSET ")
        .int(offset);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// How many records of each kind a user owns, by kind name.
pub async fn counts_by_kind(conn: &mut Conn, owner_id: i64) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT kind, COUNT(*) FROM records WHERE owner_id = $1 GROUP BY kind ORDER BY kind")
        .bind(owner_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Move every record of `from` to `to`; returns how many moved.
pub async fn reassign(conn: &mut Conn, from: i64, to: i64, now: Millis) -> Result<u64> {
    let done = sqlx::query("UPDATE records SET owner_id = $1, updated_at = $2 WHERE owner_id = $3")
        .bind(to)
        .bind(now)
        .bind(from)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// The newest records of one owner.
pub async fn list_owned(conn: &mut Conn, owner_id: i64, limit: i64) -> Result<Vec<Record>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM records WHERE owner_id = $1 ORDER BY id DESC LIMIT $2"
    )))
    .bind(owner_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}
