//! Background jobs with leases. A worker claims a queued job, or a running
//! job whose lease expired (its worker crashed), renews the lease while it
//! works, and loses the job if it fails to renew in time. Several processes
//! may share the table.

use muster_domain::Millis;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, Conn, Error, Result, Store};

const COLUMNS: &str = "id, kind, payload, status, processed, total, created_by, created_at, started_at, \
    finished_at, lease_owner, lease_until, attempts, error, result_path, checkpoint, not_before";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Running,
    Done,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "queued" => Some(Status::Queued),
            "running" => Some(Status::Running),
            "done" => Some(Status::Done),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: Status,
    pub processed: i64,
    pub total: i64,
    pub created_by: Option<i64>,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Millis>,
    pub attempts: i64,
    pub error: Option<String>,
    pub result_path: Option<String>,
    pub checkpoint: Option<String>,
    /// Not claimed before this time.
    pub not_before: Option<Millis>,
}

impl Job {
    fn from_row(r: &AnyRow) -> Result<Self> {
        let status: String = r.try_get("status")?;
        Ok(Job {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            payload: r.try_get("payload")?,
            status: Status::parse(&status).ok_or_else(|| Error::Corrupt(format!("job status {status:?}")))?,
            processed: r.try_get("processed")?,
            total: r.try_get("total")?,
            created_by: r.try_get("created_by")?,
            created_at: r.try_get("created_at")?,
            started_at: r.try_get("started_at")?,
            finished_at: r.try_get("finished_at")?,
            lease_owner: r.try_get("lease_owner")?,
            lease_until: r.try_get("lease_until")?,
            attempts: r.try_get("attempts")?,
            error: r.try_get("error")?,
            result_path: r.try_get("result_path")?,
            checkpoint: r.try_get("checkpoint")?,
            not_before: r.try_get("not_before")?,
        })
    }
}

pub async fn enqueue(conn: &mut Conn, kind: &str, payload: &str, created_by: Option<i64>, now: Millis) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, status, created_by, created_at) VALUES ($1, $2, 'queued', $3, $4) RETURNING id",
    )
    .bind(kind)
    .bind(payload)
    .bind(created_by)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// Queue a job that no worker claims before `not_before`.
pub async fn enqueue_at(
    conn: &mut Conn,
    kind: &str,
    payload: &str,
    created_by: Option<i64>,
    now: Millis,
    not_before: Millis,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, status, created_by, created_at, not_before) \
         VALUES ($1, $2, 'queued', $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(payload)
    .bind(created_by)
    .bind(now)
    .bind(not_before)
    .fetch_one(&mut *conn)
    .await?)
}

/// Delete a job of `kind` that has not started. Whether there was one.
pub async fn cancel_queued(conn: &mut Conn, id: i64, kind: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND kind = $2 AND status = 'queued'")
        .bind(id)
        .bind(kind)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<Job>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM jobs WHERE id = $1")))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(Job::from_row).transpose()
}

/// The newest jobs of `kind`, newest first.
pub async fn list(conn: &mut Conn, kind: &str, limit: i64) -> Result<Vec<Job>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE kind = $1 ORDER BY id DESC LIMIT $2"
    )))
    .bind(kind)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(Job::from_row).collect()
}

/// Take the oldest job of `kinds` that is queued, or running with a lease
/// that ran out before `now`, for `owner` until `lease_until`.
pub async fn claim(
    store: &Store,
    kinds: &[&str],
    owner: &str,
    now: Millis,
    lease_until: Millis,
) -> Result<Option<Job>> {
    if kinds.is_empty() {
        return Ok(None);
    }
    let mut kind_list = String::new();
    for i in 0..kinds.len() {
        if i > 0 {
            kind_list.push_str(", ");
        }
        kind_list.push_str(&format!("${}", i + 4));
    }
    let claimable = format!(
        "kind IN ({kind_list}) AND ((status = 'queued' AND (not_before IS NULL OR not_before <= $3)) \
             OR (status = 'running' AND lease_until < $3))"
    );
    // One statement on both backends. The outer WHERE repeats the condition so
    // that a row changed by a concurrent claimer is not taken twice.
    let lock = match store.backend {
        // PostgreSQL: concurrent claimers skip the row another is taking
        // instead of queueing behind it, so each instance gets a different job.
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        // SQLite: one writer at a time, so the single UPDATE is already exclusive.
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
         started_at = COALESCE(started_at, $3), error = NULL \
         WHERE id = (SELECT id FROM jobs WHERE {claimable} ORDER BY id LIMIT 1{lock}) AND {claimable} \
         RETURNING {COLUMNS}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(lease_until)
        .bind(now);
    for k in kinds {
        q = q.bind(*k);
    }
    let row = q.fetch_optional(&store.pool).await?;
    row.as_ref().map(Job::from_row).transpose()
}

/// Extend the lease and record progress. `false` when `owner` no longer holds
/// the job (its lease ran out and another worker took it): stop working on it.
pub async fn renew(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    lease_until: Millis,
    processed: i64,
    checkpoint: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET lease_until = $1, processed = $2, checkpoint = COALESCE($3, checkpoint) \
         WHERE id = $4 AND lease_owner = $5 AND status = 'running'",
    )
    .bind(lease_until)
    .bind(processed)
    .bind(checkpoint)
    .bind(id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Set the number of items the job will go through.
pub async fn set_total(conn: &mut Conn, id: i64, owner: &str, total: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE jobs SET total = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running'")
        .bind(total)
        .bind(id)
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Mark the job done, if `owner` still holds it.
pub async fn finish(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    now: Millis,
    processed: i64,
    result_path: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'done', finished_at = $1, processed = $2, result_path = $3, \
         lease_owner = NULL, lease_until = NULL, checkpoint = NULL \
         WHERE id = $4 AND lease_owner = $5 AND status = 'running'",
    )
    .bind(now)
    .bind(processed)
    .bind(result_path)
    .bind(id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// [`finish`] keeping `checkpoint` as the job's last word: a mass reset keeps
/// there how many users each outcome had, for its page after it ended.
pub async fn finish_keeping(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    now: Millis,
    processed: i64,
    checkpoint: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'done', finished_at = $1, processed = $2, checkpoint = $3, \
         lease_owner = NULL, lease_until = NULL \
         WHERE id = $4 AND lease_owner = $5 AND status = 'running'",
    )
    .bind(now)
    .bind(processed)
    .bind(checkpoint)
    .bind(id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Mark the job failed, if `owner` still holds it.
pub async fn fail(conn: &mut Conn, id: i64, owner: &str, now: Millis, error: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'failed', finished_at = $1, error = $2, lease_owner = NULL, lease_until = NULL, \
         checkpoint = NULL WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
    )
    .bind(now)
    .bind(error)
    .bind(id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    let failed = done.rows_affected() == 1;
    if failed {
        // a failed mass job is not retried: the users it was to go through are no longer needed
        crate::job_users::clear(conn, id).await?;
    }
    Ok(failed)
}

/// Give the job back, if `owner` still holds it: queued again from its
/// checkpoint, not before `not_before`, with `error` saying why. For a step
/// that met a passing database trouble (see [`crate::Error::is_transient`]);
/// the attempts counted at each claim still bound how often.
pub async fn release(conn: &mut Conn, id: i64, owner: &str, not_before: Millis, error: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'queued', not_before = $1, error = $2, lease_owner = NULL, lease_until = NULL \
         WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
    )
    .bind(not_before)
    .bind(error)
    .bind(id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Finished jobs of `kind` whose result file is older than `before`.
pub async fn results_finished_before(conn: &mut Conn, kind: &str, before: Millis, limit: i64) -> Result<Vec<Job>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE kind = $1 AND status = 'done' AND result_path IS NOT NULL \
         AND finished_at < $2 ORDER BY id LIMIT $3"
    )))
    .bind(kind)
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(Job::from_row).collect()
}

/// Forget a job's result (its file was deleted).
pub async fn clear_result(conn: &mut Conn, id: i64) -> Result<()> {
    sqlx::query("UPDATE jobs SET result_path = NULL WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
