//! Which users are still on a password hash made by another application,
//! told apart by the fixed text a hash of each scheme starts with
//! (`muster_domain::password_hash::Scheme::prefixes`).

use sqlx::Row;

use crate::sql::Sql;
use crate::{Conn, Result};

/// A scheme's key and the prefixes of its hashes.
pub type Prefixes<'a> = (&'a str, &'a [&'a str]);

/// `CASE WHEN substr(password_hash, 1, n) = '…' THEN 'key' … END`.
fn case_expr(sql: &mut Sql, schemes: &[Prefixes<'_>]) {
    sql.push("CASE");
    for (key, prefixes) in schemes {
        for p in *prefixes {
            sql.push(" WHEN substr(password_hash, 1, ")
                .int(i64::try_from(p.len()).unwrap_or(0))
                .push(") = ")
                .str(*p)
                // a bare parameter in THEN has no type PostgreSQL can infer
                .push(" THEN CAST(")
                .str(*key)
                .push(" AS TEXT)");
        }
    }
    sql.push(" END");
}

/// How many users are on each scheme; schemes nobody is on are left out.
pub async fn count_by_scheme(conn: &mut Conn, schemes: &[Prefixes<'_>]) -> Result<Vec<(String, i64)>> {
    if schemes.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("SELECT scheme, COUNT(*) AS n FROM (SELECT ");
    case_expr(&mut sql, schemes);
    sql.push(" AS scheme FROM users) t WHERE scheme IS NOT NULL GROUP BY scheme ORDER BY scheme");
    let rows = sql.query().fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push((r.try_get::<String, _>("scheme")?, r.try_get::<i64, _>("n")?));
    }
    Ok(out)
}

/// A page, in id order after `after_id`, of the users whose hash starts with
/// one of `prefixes`: (id, hash). For walking every such hash without holding
/// them all.
pub async fn hashes_after(conn: &mut Conn, prefixes: &[&str], after_id: i64, limit: i64) -> Result<Vec<(i64, String)>> {
    if prefixes.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("SELECT id, password_hash FROM users WHERE id > ");
    sql.int(after_id).push(" AND (");
    push_any_prefix(&mut sql, prefixes);
    sql.push(") ORDER BY id LIMIT ").int(limit);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push((r.try_get::<i64, _>("id")?, r.try_get::<String, _>("password_hash")?));
    }
    Ok(out)
}

fn push_any_prefix(sql: &mut Sql, prefixes: &[&str]) {
    for (i, p) in prefixes.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("substr(password_hash, 1, ")
            .int(i64::try_from(p.len()).unwrap_or(0))
            .push(") = ")
            .str(*p);
    }
}

/// The ids of the users whose hash starts with one of `prefixes`.
pub async fn user_ids_on(conn: &mut Conn, prefixes: &[&str]) -> Result<Vec<i64>> {
    if prefixes.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("SELECT id FROM users WHERE ");
    push_any_prefix(&mut sql, prefixes);
    sql.push(" ORDER BY id");
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>("id").map_err(Into::into))
        .collect()
}

/// Replace a hash at sign-in if it is still the one that was verified.
/// Whether it was replaced (a password change that landed meanwhile wins).
pub async fn rehash(conn: &mut Conn, id: i64, old_hash: &str, new_hash: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
        .bind(new_hash)
        .bind(id)
        .bind(old_hash)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
