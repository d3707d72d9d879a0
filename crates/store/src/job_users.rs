//! The users of a mass job (migration 0018): the selection fixed when the job
//! was asked for, walked in id order in batches, with what the job did to each.

use muster_domain::UserFilter;
use sqlx::Row;

use crate::sql::Sql;
use crate::users::{Scope, USERS, effective_scope, push_where};
use crate::{Backend, Conn, Result};

/// Fix the users `filter` selects in `scope` as the users of job `job_id`, in
/// one statement (no id travels through the server), and set the job's total.
/// How many there are.
pub async fn snapshot(conn: &mut Conn, job_id: i64, scope: &Scope, filter: &UserFilter) -> Result<i64> {
    let scope = &effective_scope(conn, scope).await?;
    let mut sql = Sql::new("INSERT INTO job_users (job_id, user_id) SELECT ");
    sql.int(job_id).push(", id FROM ").push(USERS);
    push_where(&mut sql, Backend::of(conn), scope, filter);
    let n = sql.query().execute(&mut *conn).await?.rows_affected();
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    sqlx::query("UPDATE jobs SET total = $1 WHERE id = $2")
        .bind(n)
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    Ok(n)
}

/// The next `limit` user ids of the job after `after_id`, in id order.
pub async fn ids_after(conn: &mut Conn, job_id: i64, after_id: i64, limit: i64) -> Result<Vec<i64>> {
    Ok(
        sqlx::query_scalar(
            "SELECT user_id FROM job_users WHERE job_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
        )
        .bind(job_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?,
    )
}

/// Record what the job did to these users.
pub async fn set_outcome(conn: &mut Conn, job_id: i64, user_ids: &[i64], outcome: &str) -> Result<()> {
    if user_ids.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new("UPDATE job_users SET outcome = ");
    sql.str(outcome)
        .push(" WHERE job_id = ")
        .int(job_id)
        .push(" AND user_id IN ")
        .int_list(user_ids);
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// How many of the job's users had each outcome (`None`: not reached yet).
pub async fn outcome_counts(conn: &mut Conn, job_id: i64) -> Result<Vec<(Option<String>, i64)>> {
    let rows = sqlx::query("SELECT outcome, COUNT(*) AS n FROM job_users WHERE job_id = $1 GROUP BY outcome")
        .bind(job_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("outcome")?, r.try_get("n")?)))
        .collect()
}
