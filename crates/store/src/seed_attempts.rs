//! Bulk inserts of fake login attempts for `muster seed --login-attempts`
//! (the dashboard's benchmark: 10M attempts), many rows per statement, with
//! the table's indexes and the rollup's trigger set aside during a large load
//! and the rollup counted once at the end.

use muster_domain::Millis;

use crate::sql::{Sql, literal};
use crate::{Backend, Conn, Result, flag, login_rollup, seed};

#[derive(Debug, Clone)]
pub struct SeedAttempt {
    pub at: Millis,
    pub user_id: Option<i64>,
    pub username: String,
    pub success: bool,
    pub source: &'static str,
    pub ip: String,
    pub user_agent: &'static str,
    pub reason: String,
}

/// The users an attempt may name: `(first id, last id, how many)`.
pub async fn user_ids(conn: &mut Conn) -> Result<(i64, i64, i64)> {
    use sqlx::Row;
    let row = sqlx::query("SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0), COUNT(*) FROM users")
        .fetch_one(&mut *conn)
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

/// Set aside the indexes of `login_attempts` and the rollup's trigger: 10M
/// inserts into an index keyed by user are random writes, and 10M trigger
/// runs cost more than one grouped count at the end ([`finish`]).
pub async fn start(conn: &mut Conn, backend: Backend) -> Result<seed::Deferred> {
    seed::defer_indexes_of(conn, backend, "('login_attempts')").await
}

/// Rebuild what [`start`] set aside and count the rollup from scratch.
pub async fn finish(conn: &mut Conn, deferred: seed::Deferred) -> Result<()> {
    seed::recreate(conn, deferred).await?;
    login_rollup::rebuild(conn).await
}

/// Insert attempts in one statement. Values are literals (see `sql::literal`):
/// muster made them itself.
pub async fn insert(conn: &mut Conn, batch: &[SeedAttempt]) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut sql =
        Sql::new("INSERT INTO login_attempts (at, username, user_id, success, source, ip, user_agent, reason) VALUES ");
    for (i, a) in batch.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        let user = a.user_id.map_or_else(|| "NULL".to_owned(), |id| id.to_string());
        sql.push(&format!(
            "({}, {}, {user}, {}, {}, {}, {}, {})",
            a.at,
            literal(&a.username),
            flag(a.success),
            literal(a.source),
            literal(&a.ip),
            literal(a.user_agent),
            literal(&a.reason),
        ));
    }
    sql.query().execute(&mut *conn).await?;
    Ok(())
}
