//! The mail outbox: a mail is queued in the same transaction as the change
//! that causes it, and delivered later by a worker.

use muster_domain::Millis;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::Sql;
use crate::{Backend, Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub to_addr: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub message_id: String,
}

pub async fn enqueue(conn: &mut Conn, m: &NewMail, now: Millis) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mail_outbox (to_addr, subject, text_body, html_body, message_id, status, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) RETURNING id",
    )
    .bind(&m.to_addr)
    .bind(&m.subject)
    .bind(&m.text_body)
    .bind(&m.html_body)
    .bind(&m.message_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// The writes of [`enqueue`], undone in the same transaction: nothing is left
/// once it commits, and no other transaction ever sees the row (with
/// `secure_delete`, SQLite zeroes it). *Forgot password* for no account does
/// this, so that it costs what a real request costs.
pub async fn enqueue_discarded(conn: &mut Conn, m: &NewMail, now: Millis) -> Result<()> {
    let id = enqueue(conn, m, now).await?;
    sqlx::query("DELETE FROM mail_outbox WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Queue many mails in one statement (mass actions); the caller's transaction holds them.
pub async fn enqueue_many(conn: &mut Conn, mails: &[NewMail], now: Millis) -> Result<()> {
    // 6 values a row: well under the bind limits of both backends for a batch of 500.
    for chunk in mails.chunks(500) {
        let mut sql = Sql::new(
            "INSERT INTO mail_outbox (to_addr, subject, text_body, html_body, message_id, status, next_attempt_at, created_at) VALUES ",
        );
        for (i, m) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .str(m.to_addr.clone())
                .push(", ")
                .str(m.subject.clone())
                .push(", ")
                .str(m.text_body.clone())
                .push(", ")
                .str(m.html_body.clone())
                .push(", ")
                .str(m.message_id.clone())
                .push(", 'pending', ")
                .int(now)
                .push(", ")
                .int(now)
                .push(")");
        }
        sql.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// A mail of the outbox. The bodies are `None` once it was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub id: i64,
    pub to_addr: String,
    pub subject: String,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub message_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
}

const MAIL_COLUMNS: &str = "id, to_addr, subject, text_body, html_body, message_id, status, attempts, \
    next_attempt_at, last_error, created_at, sent_at";

fn mail_from_row(r: &AnyRow) -> Result<Mail> {
    Ok(Mail {
        id: r.try_get("id")?,
        to_addr: r.try_get("to_addr")?,
        subject: r.try_get("subject")?,
        text_body: r.try_get("text_body")?,
        html_body: r.try_get("html_body")?,
        message_id: r.try_get("message_id")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

/// Claim up to `limit` due mails for delivery until `lease_until`. A mail
/// whose lease ran out (its worker died mid-delivery) is due again.
pub async fn claim_due(
    conn: &mut Conn,
    backend: Backend,
    now: Millis,
    lease_until: Millis,
    limit: i64,
) -> Result<Vec<Mail>> {
    // In due order, as `mail_outbox_due` (status, next_attempt_at) holds them: the walk stops after `limit`
    // rows (PostgreSQL sorts by id only within one `next_attempt_at`, an incremental sort). `ORDER BY id`
    // made it gather and sort every pending mail first: 191 ms a claim while a mass reset had queued
    // 27,000, 17.6 s of the database's CPU over that 14 s job (EXPLAIN ANALYZE, 52,855 pending: 757 ms
    // against 40 ms).
    let due = "SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
               AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_attempt_at, id LIMIT $3";
    let sql = match backend {
        // Several instances share PostgreSQL: SKIP LOCKED lets each claim
        // different rows without waiting on the others.
        Backend::Postgres => format!(
            "UPDATE mail_outbox SET lease_until = $1 WHERE id IN ({due} FOR UPDATE SKIP LOCKED) RETURNING {MAIL_COLUMNS}"
        ),
        // SQLite has one writer at a time: the statement alone is atomic.
        Backend::Sqlite => {
            format!("UPDATE mail_outbox SET lease_until = $1 WHERE id IN ({due}) RETURNING {MAIL_COLUMNS}")
        }
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut mails = rows.iter().map(mail_from_row).collect::<Result<Vec<_>>>()?;
    mails.sort_by_key(|m| m.id);
    Ok(mails)
}

/// Delivered: the bodies are dropped, so no live reset link stays in the database.
pub async fn mark_sent(conn: &mut Conn, id: i64, now: Millis) -> Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, lease_until = NULL, \
         text_body = NULL, html_body = NULL, last_error = NULL WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How long the emptying checkpoint waits for each lock it needs (the writer's,
/// then each reader slot's), holding the writer lock meanwhile. The busy
/// handler's count starts again at each lock: at 50 ms, a TRUNCATE beside a
/// reset job's batches and 4 grid clients at 1M users held every writer
/// 257–294 ms, while its copying was already done. At 10 ms it gives up
/// sooner, and the worker tries again within a second.
const CHECKPOINT_WAIT_MS: u32 = 10;

/// Before the WAL is emptied, its backlog is copied beside the writers until
/// none is left, for at most this long.
const PASSIVE_FOR: std::time::Duration = std::time::Duration::from_millis(500);

/// After delivered bodies were emptied, copy the WAL into the database file and
/// truncate it (SQLite): the WAL still holds the frames written before, with the
/// bodies, until a checkpoint, and an automatic one never shrinks the file.
/// With `secure_delete` on, the pages it copies hold zeros where the bodies were.
/// Returns whether the WAL was emptied: a reader on an older snapshot holds it
/// back (after [`CHECKPOINT_WAIT_MS`]), and the worker tries again.
/// PostgreSQL keeps no such file readable to the application's users: a no-op.
pub async fn checkpoint_wal(conn: &mut Conn, backend: Backend) -> Result<bool> {
    match backend {
        Backend::Postgres => Ok(true),
        Backend::Sqlite => {
            // A TRUNCATE checkpoint holds the writer lock while it waits for readers on an
            // older snapshot (an export's read runs for seconds): every writer waited with
            // it, up to the whole busy timeout (sign-ins cut off at 10 s on the mixed-load
            // bench). It waits only briefly, then the worker tries again.
            // The backlog first, beside the writers: a PASSIVE checkpoint takes no
            // writer lock and waits for nobody, and a complete one syncs the database
            // file. The TRUNCATE below, which holds the writer lock, then has only what
            // was written since to copy and sync. A PASSIVE one stops short of a
            // reader's older snapshot or gives way to another checkpointer (an automatic
            // one): it is tried again until nothing is left, for a while. (What made the
            // TRUNCATE hold every writer 238 ms at 1M users was the size of the file it
            // cut, 861 MB: see `journal_size_limit` in `Store::connect`.)
            let started = std::time::Instant::now();
            let wal_bytes = wal_size(conn).await;
            let (log, done) = loop {
                // (busy, frames in the log, frames checkpointed)
                let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(&mut *conn)
                    .await?;
                let (busy, log, done): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                if (busy == 0 && done >= log) || started.elapsed() >= PASSIVE_FOR {
                    break (log, done);
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            };
            let passive = started.elapsed();
            sqlx::query(sqlx::AssertSqlSafe(crate::sqlite_busy::install_sql(CHECKPOINT_WAIT_MS)))
                .execute(&mut *conn)
                .await?;
            // (busy, frames in the log, frames checkpointed)
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *conn)
                .await;
            sqlx::query(sqlx::AssertSqlSafe(crate::sqlite_busy::install_sql(
                crate::BUSY_TIMEOUT_MS,
            )))
            .execute(&mut *conn)
            .await?;
            tracing::debug!(
                wal_bytes,
                log,
                done,
                passive_micros = passive.as_micros() as u64,
                truncate_micros = (started.elapsed() - passive).as_micros() as u64,
                "WAL checkpoint"
            );
            let busy: i64 = row?.try_get(0)?;
            Ok(busy == 0)
        }
    }
}

/// The size of the WAL file of `conn`'s database, for the log (0 if unknown).
async fn wal_size(conn: &mut Conn) -> u64 {
    let path: Option<String> = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_optional(&mut *conn)
        .await
        .ok()
        .flatten();
    path.and_then(|p| std::fs::metadata(format!("{p}-wal")).ok())
        .map_or(0, |m| m.len())
}

/// A failed attempt: try again at `next_attempt_at`.
pub async fn mark_retry(conn: &mut Conn, id: i64, error: &str, next_attempt_at: Millis) -> Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET attempts = attempts + 1, lease_until = NULL, last_error = $1, next_attempt_at = $2 \
         WHERE id = $3",
    )
    .bind(error)
    .bind(next_attempt_at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The last attempt failed: the mail waits for an administrator (Retry).
pub async fn mark_failed(conn: &mut Conn, id: i64, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET status = 'failed', attempts = attempts + 1, lease_until = NULL, last_error = $1 \
         WHERE id = $2",
    )
    .bind(error)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queue a failed (or waiting) mail again, now, with a fresh count of attempts.
pub async fn retry(conn: &mut Conn, id: i64, now: Millis) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE mail_outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, lease_until = NULL \
         WHERE id = $2 AND status IN ('failed', 'pending') AND text_body IS NOT NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<Mail>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(mail_from_row).transpose()
}

/// The newest mails with one of `statuses` (all when empty).
pub async fn list(conn: &mut Conn, statuses: &[&str], limit: i64) -> Result<Vec<Mail>> {
    let mut sql = Sql::new(&format!("SELECT {MAIL_COLUMNS} FROM mail_outbox"));
    if !statuses.is_empty() {
        sql.push(" WHERE status IN (");
        for (i, s) in statuses.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.str(*s);
        }
        sql.push(")");
    }
    sql.push(" ORDER BY id DESC LIMIT ").int(limit);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter().map(mail_from_row).collect()
}

/// How many mails are in each status.
pub async fn counts(conn: &mut Conn) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT status, COUNT(*) FROM mail_outbox GROUP BY status ORDER BY status")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect()
}

/// Claim one mail by id (the CLI's test mail), unless a worker holds it.
pub async fn claim_one(conn: &mut Conn, id: i64, now: Millis, lease_until: Millis) -> Result<Option<Mail>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE mail_outbox SET lease_until = $1 WHERE id = $2 AND status = 'pending' \
         AND (lease_until IS NULL OR lease_until < $3) RETURNING {MAIL_COLUMNS}"
    )))
    .bind(lease_until)
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(mail_from_row).transpose()
}
