//! The users of a mass job, fixed when the job was asked for, in one of two
//! forms, both walked in id order in batches:
//!
//! - **rows** of `job_users` (migration 0018): a list of ids (a selection of
//!   rows, bounded by the request that named them; the scheduled reset of
//!   those on a foreign password scheme). The rows of a job are deleted when
//!   it ends ([`clear`]).
//! - **a filter with a bound**: the selection as asked plus the highest user
//!   id when it was asked ([`max_user_id`]), so "all matching" costs one count
//!   at request time, however many users it holds, and users created later
//!   are never reached ([`crate::user_cursor::page_after_up_to`]).

use muster_domain::{Role, UserFilter};
use sqlx::Row;

use crate::sql::Sql;
use crate::users::{Scope, USERS, effective_scope, push_holds_any, push_where};
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
    set_total(conn, job_id, n).await?;
    Ok(n)
}

/// Set the number of users job `job_id` goes through (a job just queued).
pub async fn set_total(conn: &mut Conn, job_id: i64, total: i64) -> Result<()> {
    sqlx::query("UPDATE jobs SET total = $1 WHERE id = $2")
        .bind(total)
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The highest user id now (0 without users): the bound of a selection kept as a filter.
pub async fn max_user_id(conn: &mut Conn) -> Result<i64> {
    let n: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM users")
        .fetch_one(&mut *conn)
        .await?;
    Ok(n.unwrap_or(0))
}

/// How many users `filter` selects in `scope` up to id `up_to_id`, and how many
/// of those, except `skip_id`, hold one of the `guarded` roles (the ones the
/// actor may not act on): what a mass job kept as a filter will go through.
pub async fn count_selected(
    conn: &mut Conn,
    scope: &Scope,
    filter: &UserFilter,
    up_to_id: i64,
    skip_id: i64,
    guarded: &[Role],
) -> Result<(i64, i64)> {
    let scope = &effective_scope(conn, scope).await?;
    let selected = count_up_to_id(conn, scope, filter, up_to_id, |_| {}).await?;
    let refused = if guarded.is_empty() || selected == 0 {
        0
    } else {
        count_up_to_id(conn, scope, filter, up_to_id, |sql| {
            sql.push(" AND id <> ").int(skip_id);
            push_holds_any(sql, guarded, true, "users.id");
        })
        .await?
    };
    Ok((selected, refused))
}

/// How many of job `job_id`'s rows are users, except `skip_id`, who hold one of the `guarded` roles.
pub async fn count_guarded_rows(conn: &mut Conn, job_id: i64, skip_id: i64, guarded: &[Role]) -> Result<i64> {
    if guarded.is_empty() {
        return Ok(0);
    }
    let mut sql = Sql::new("SELECT COUNT(*) FROM users WHERE id IN (SELECT user_id FROM job_users WHERE job_id = ");
    sql.int(job_id).push(") AND id <> ").int(skip_id);
    push_holds_any(&mut sql, guarded, true, "users.id");
    Ok(sql.query().fetch_one(&mut *conn).await?.try_get(0)?)
}

/// How many users `filter` selects in `scope` up to id `up_to_id`, with
/// `narrow`'s clauses added to the WHERE.
async fn count_up_to_id(
    conn: &mut Conn,
    scope: &Scope,
    filter: &UserFilter,
    up_to_id: i64,
    narrow: impl FnOnce(&mut Sql),
) -> Result<i64> {
    let mut sql = Sql::new(&format!("SELECT COUNT(*) FROM {USERS}"));
    push_where(&mut sql, Backend::of(conn), scope, filter);
    sql.push(" AND id <= ").int(up_to_id);
    narrow(&mut sql);
    Ok(sql.query().fetch_one(&mut *conn).await?.try_get(0)?)
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

/// How many of the job's users had each outcome (`None`: not reached, or
/// counted elsewhere). Only jobs whose batches ran before the outcomes moved
/// into the job's checkpoint have any.
pub async fn outcome_counts(conn: &mut Conn, job_id: i64) -> Result<Vec<(Option<String>, i64)>> {
    let rows = sqlx::query("SELECT outcome, COUNT(*) AS n FROM job_users WHERE job_id = $1 GROUP BY outcome")
        .bind(job_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("outcome")?, r.try_get("n")?)))
        .collect()
}

/// Forget the users of a job that has ended (in the transaction that ends it).
pub async fn clear(conn: &mut Conn, job_id: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM job_users WHERE job_id = $1")
        .bind(job_id)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}
