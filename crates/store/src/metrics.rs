//! What `/metrics` reads from the database at scrape time: jobs by kind and
//! status, the outbox's depth. Both queries group a small table (jobs) or use
//! the `mail_outbox_due (status, …)` index.

use sqlx::Row;

use crate::{Conn, Result};

/// The jobs of one kind in one status, and when the oldest of them was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    pub kind: String,
    pub status: String,
    pub count: i64,
    pub oldest_created_at: Option<i64>,
}

pub async fn job_counts(conn: &mut Conn) -> Result<Vec<JobCount>> {
    let rows = sqlx::query(
        "SELECT kind, status, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs GROUP BY kind, status \
         ORDER BY kind, status",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(JobCount {
                kind: r.try_get("kind")?,
                status: r.try_get("status")?,
                count: r.try_get("n")?,
                oldest_created_at: r.try_get("oldest")?,
            })
        })
        .collect()
}

/// Mail not yet delivered (`pending`, including retries), mail given up (`failed`),
/// and when the oldest undelivered mail was queued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    pub pending: i64,
    pub failed: i64,
    pub oldest_pending_created_at: Option<i64>,
}

pub async fn outbox_depth(conn: &mut Conn) -> Result<OutboxDepth> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM mail_outbox \
         WHERE status IN ('pending', 'failed') GROUP BY status",
    )
    .fetch_all(conn)
    .await?;
    let mut depth = OutboxDepth::default();
    for r in &rows {
        let status: String = r.try_get("status")?;
        let n: i64 = r.try_get("n")?;
        if status == "pending" {
            depth.pending = n;
            depth.oldest_pending_created_at = r.try_get("oldest")?;
        } else {
            depth.failed = n;
        }
    }
    Ok(depth)
}
