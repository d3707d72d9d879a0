//! The background worker: claims jobs from the `jobs` table (see
//! `muster_store::jobs` for the leases), runs them, and deletes expired
//! export files. Every `muster serve` process runs one; they share the table.

pub mod export_users;

use std::time::Duration;

use muster_store::jobs::{self, Job};

use crate::app::AppState;
use crate::clock;
use crate::error::{AppError, AppResult};

/// How long a claimed job is held without a sign of life; a worker renews it
/// after every page of work. A job whose worker died is taken over after this.
pub const LEASE_MS: i64 = 60_000;
/// A job whose worker died this many times is given up as failed.
pub const MAX_ATTEMPTS: i64 = 5;
/// How long a job paused by a passing database error waits before it is claimed again.
pub const RETRY_AFTER_MS: i64 = 2_000;
/// The job kinds this worker runs.
pub const KINDS: &[&str] = &[
    crate::services::exports::KIND,
    crate::services::foreign_hashes::RESET_KIND,
    crate::services::mass_reset::KIND,
];

const IDLE_POLL: Duration = Duration::from_secs(1);

static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Tell this process's worker a job was queued (call after commit), so it
/// starts now rather than at its next poll: a mass reset of 10,000 users takes
/// about a second, the poll would add up to another.
pub fn wake() {
    // a permit, kept if the worker is busy: it looks again before it sleeps
    WAKE.notify_one();
}
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How a job run ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The lease ran out and another worker took the job over; this one stopped.
    LostLease,
}

/// A name for this worker, unique across processes and hosts.
pub fn worker_id() -> String {
    format!("worker-{}-{}", std::process::id(), crate::crypto::random_token(6))
}

/// Start the worker loop on the runtime; it runs until the process ends.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let owner = worker_id();
        tracing::info!(%owner, "job worker started");
        let mut last_sweep: Option<tokio::time::Instant> = None;
        let mut failures: u32 = 0;
        while !state.store.is_closed() {
            if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
                if let Err(e) = sweep(&state).await {
                    tracing::warn!(error = %e, "deleting expired exports failed");
                }
                last_sweep = Some(tokio::time::Instant::now());
            }
            match run_one(&state, &owner).await {
                Ok(true) => failures = 0,
                Ok(false) => {
                    failures = 0;
                    let _ = tokio::time::timeout(IDLE_POLL, WAKE.notified()).await;
                }
                Err(_) if state.store.is_closed() => return,
                Err(e) => {
                    // the database is away: back off up to half a minute instead of logging every second,
                    // but start again as soon as the health monitor sees it back
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "job worker: claiming a job failed");
                    tokio::time::sleep(IDLE_POLL).await;
                    state
                        .db_health
                        .wait_up(IDLE_POLL * 2u32.saturating_pow(failures.min(5)))
                        .await;
                }
            }
        }
    })
}

/// Claim one job and run it to its end. `false` when there was nothing to do.
pub async fn run_one(state: &AppState, owner: &str) -> AppResult<bool> {
    let now = clock::now();
    let Some(job) = jobs::claim(&state.store, KINDS, owner, now, now + LEASE_MS).await? else {
        return Ok(false);
    };
    if job.attempts > MAX_ATTEMPTS {
        let why = format!("gave up after {MAX_ATTEMPTS} attempts: the worker stopped or the database failed each time");
        jobs::fail(&mut *state.store.conn().await?, job.id, owner, clock::now(), &why).await?;
        if job.kind == crate::services::exports::KIND {
            let _ = tokio::fs::remove_file(export_users::partial_path(&state.config.data_dir, job.id)).await;
        }
        return Ok(true);
    }
    tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job started");
    match dispatch(state, &job, owner).await {
        Ok(Outcome::Done) => tracing::info!(job = job.id, "job done"),
        Ok(Outcome::LostLease) => tracing::warn!(job = job.id, "job lease lost; another worker took it over"),
        // the database was busy or away for a moment (a PostgreSQL restart ends every
        // connection): the job goes on from its checkpoint a little later (at most
        // MAX_ATTEMPTS claims in all), instead of failing for good with its mails unsent
        Err(e) if e.is_transient() && job.attempts < MAX_ATTEMPTS => {
            tracing::warn!(job = job.id, error = %e, attempt = job.attempts, "job paused by a database error; tried again");
            let message = format!("paused by a database error, tried again: {e}");
            jobs::release(
                &mut *state.store.conn().await?,
                job.id,
                owner,
                clock::now() + RETRY_AFTER_MS,
                &message,
            )
            .await?;
        }
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "job failed");
            let message = match &e {
                AppError::Domain(d) => d.to_string(),
                other => other.to_string(),
            };
            jobs::fail(&mut *state.store.conn().await?, job.id, owner, clock::now(), &message).await?;
        }
    }
    Ok(true)
}

async fn dispatch(state: &AppState, job: &Job, owner: &str) -> AppResult<Outcome> {
    match job.kind.as_str() {
        crate::services::exports::KIND => export_users::run(state, job, owner).await,
        crate::services::foreign_hashes::RESET_KIND => {
            crate::services::foreign_hashes::run_scheduled_reset(state.deps(), job, owner).await
        }
        crate::services::mass_reset::KIND => crate::services::mass_reset::run(state.deps(), job, owner).await,
        other => Err(AppError::Internal(format!("unknown job kind {other:?}"))),
    }
}

/// Run jobs until none is left (tests, and `muster` commands that want it done now).
pub async fn run_until_idle(state: &AppState, owner: &str) -> AppResult<usize> {
    let mut n = 0;
    while run_one(state, owner).await? {
        n += 1;
    }
    Ok(n)
}

/// Periodic housekeeping: delete export files past their retention, and import
/// uploads whose dry run was never applied.
pub async fn sweep(state: &AppState) -> AppResult<usize> {
    let now = clock::now();
    muster_store::import_uploads::delete_expired(&mut *state.store.conn().await?, now).await?;
    export_users::delete_expired(state, now).await
}
