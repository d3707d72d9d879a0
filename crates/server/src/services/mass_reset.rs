//! Mass Reset Password as a background job (DESIGN §5): the request fixes
//! the selection (the ids go into `job_users` in one statement, so it answers
//! at once whatever the size) and queues a job; the job worker resets the
//! users in batches as the requester, with their rights checked again.
//!
//! Exactly once per user, across crashes: each batch commits the users'
//! changes, their mails in the outbox, their rows' outcome and the job's
//! checkpoint and progress in one transaction, and that transaction first
//! renews the lease on the condition that this worker still holds it. A worker
//! whose lease ran out (another took the job over) changes nobody; a batch cut
//! off by a crash is rolled back whole and done again by the next worker.

use std::collections::HashSet;

use muster_domain::permission::perm;
use muster_domain::{Allowed, AuditAction, Error as DomainError, UserFilter};
use muster_store::jobs::{self, Job};
use muster_store::{Store, job_users};
use serde::{Deserialize, Serialize};

use super::passwords::{self, BATCH};
use super::users::scope_of;
use super::{Ctx, audit};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::jobs::{LEASE_MS, Outcome};
use crate::mail;
use crate::services::Deps;

/// The `jobs.kind` of a mass password reset.
pub const KIND: &str = "mass_password_reset";

/// What was asked, kept in the job's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MassResetRequest {
    pub requested_by: String,
    /// The requester's organizations when they asked: who else may read the job.
    pub organization_ids: Vec<i64>,
    /// The selection as the request gave it (for the audit trail).
    pub selection: serde_json::Value,
    /// Where the request came from: the per-user audit events carry it.
    pub ip: String,
    pub user_agent: String,
}

/// A queued mass reset and how many users its selection holds.
#[derive(Debug, Clone)]
pub struct Requested {
    pub job: Job,
    pub affected: i64,
}

/// What a job row's `outcome` says happened to that user.
pub mod outcome {
    pub const RESET: &str = "reset";
    pub const DISABLED: &str = "disabled";
    pub const REFUSED: &str = "refused";
    pub const OWN: &str = "own";
    /// Deleted, or moved out of the requester's organizations, before the job reached them.
    pub const GONE: &str = "gone";
}

/// Queue a mass reset of the users `filter` selects in the actor's
/// organizations as they are now; users added later are not reset.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn request(
    store: &Store,
    grant: &Allowed<perm::ResetPasswords>,
    ctx: &Ctx,
    filter: &UserFilter,
    described: serde_json::Value,
) -> AppResult<Requested> {
    let actor = grant.actor();
    if actor.user_id <= 0 {
        // the job runs as its requester, whose rights it checks again then
        return Err(DomainError::Refused("a mass reset is asked for by a user".to_owned()).into());
    }
    let request = MassResetRequest {
        requested_by: actor.username.clone(),
        organization_ids: actor.organization_ids.clone(),
        selection: described.clone(),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
    };
    let payload =
        serde_json::to_string(&request).map_err(|e| AppError::fault("writing the mass reset job payload", e))?;
    let now = clock::now();
    let mut tx = store.begin().await?;
    let id = jobs::enqueue(&mut tx, KIND, &payload, Some(actor.user_id), now).await?;
    let affected = job_users::snapshot(&mut tx, id, &scope_of(actor), filter).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UsersMassPasswordReset,
            actor: Some(actor),
            target: None,
            before: None,
            after: Some(serde_json::json!({"job": id, "affected": affected, "selection": described})),
        },
    )
    .await?;
    let job = jobs::get(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("job"))?;
    tx.commit().await?;
    crate::jobs::wake();
    Ok(Requested { job, affected })
}

/// The requester of `job` as an actor with their rights of now: gone,
/// disabled or no longer allowed to reset passwords fails the job.
#[tracing::instrument(skip_all, fields(job_id = job.id), err(level = "debug"))]
pub async fn requester(deps: Deps<'_>, job: &Job) -> AppResult<Allowed<perm::ResetPasswords>> {
    let mut conn = deps.store.conn().await?;
    let by = match job.created_by {
        Some(id) => muster_store::users::get(&mut conn, id).await?,
        None => None,
    };
    let Some(by) = by.filter(|u| u.enabled) else {
        return Err(DomainError::Refused("the user who asked for it is gone or disabled".to_owned()).into());
    };
    let actor = super::auth::actor_for(&mut conn, &by).await?;
    Ok(actor.allow::<perm::ResetPasswords>()?)
}

/// Run a mass reset job (the job worker).
#[tracing::instrument(skip_all, fields(job_id = job.id), err(level = "debug"))]
pub async fn run(deps: Deps<'_>, job: &Job, owner: &str) -> AppResult<Outcome> {
    let request: MassResetRequest = serde_json::from_str(&job.payload)
        .map_err(|e| AppError::fault(format!("mass reset job {} payload", job.id), e))?;
    let grant = requester(deps, job).await?;
    let ctx = Ctx {
        ip: request.ip,
        user_agent: request.user_agent,
    };
    run_batches(deps, job, owner, &grant, &ctx).await
}

/// Where a run of a mass reset stands: the last user id done (the job's
/// checkpoint) and how many users it has gone through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub after: i64,
    pub processed: i64,
}

impl Position {
    /// Where `job` was left: its last committed batch.
    pub fn of(job: &Job) -> Position {
        Position {
            after: job.checkpoint.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0),
            processed: job.processed,
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A batch committed; the run goes on from here.
    Done(Position),
    /// No user left after the position.
    End,
    /// Another worker holds the job now: nothing was changed.
    LostLease,
}

/// One batch of a mass reset job after `at`, in one transaction: the users'
/// changes, their mails, their outcomes, the job's progress and checkpoint.
#[tracing::instrument(skip_all, fields(job_id = job_id), err(level = "debug"))]
pub async fn run_batch(
    deps: Deps<'_>,
    job_id: i64,
    owner: &str,
    grant: &Allowed<perm::ResetPasswords>,
    ctx: &Ctx,
    at: Position,
) -> AppResult<Step> {
    let actor = grant.actor();
    let now = clock::now();
    let mut tx = deps.store.begin().await?;
    let ids = job_users::ids_after(&mut tx, job_id, at.after, BATCH).await?;
    let Some(&last) = ids.last() else {
        return Ok(Step::End);
    };
    let next = Position {
        after: last,
        processed: at.processed + i64::try_from(ids.len()).unwrap_or(0),
    };
    // before any change: on PostgreSQL it holds the job's row, so a worker
    // that lost the job waits here and then finds it gone
    if !jobs::renew(
        &mut tx,
        job_id,
        owner,
        now + LEASE_MS,
        next.processed,
        Some(&last.to_string()),
    )
    .await?
    {
        tx.rollback().await?;
        return Ok(Step::LostLease);
    }
    let filter = UserFilter {
        only_ids: Some(ids.clone()),
        ..Default::default()
    };
    // within the requester's organizations as they are now
    let users = muster_store::user_cursor::page_after(&mut tx, &scope_of(actor), &filter, 0, BATCH).await?;
    let found: HashSet<i64> = users.iter().map(|u| u.id).collect();
    let gone: Vec<i64> = ids.iter().copied().filter(|id| !found.contains(id)).collect();
    let done = passwords::reset_batch(&mut tx, deps, actor, ctx, users, now).await?;
    for (rows, what) in [
        (&done.reset, outcome::RESET),
        (&done.disabled, outcome::DISABLED),
        (&done.refused, outcome::REFUSED),
        (&done.own, outcome::OWN),
        (&gone, outcome::GONE),
    ] {
        job_users::set_outcome(&mut tx, job_id, rows, what).await?;
    }
    tx.commit().await?;
    mail::wake();
    Ok(Step::Done(next))
}

/// Reset the job's users from its checkpoint on, a batch per transaction, then
/// mark it done with its outcome audited. Also runs the scheduled reset of
/// those on a foreign password scheme (`foreign_hashes`), once its users are
/// fixed: one way to reset many users.
#[tracing::instrument(skip_all, fields(job_id = job.id), err(level = "debug"))]
pub async fn run_batches(
    deps: Deps<'_>,
    job: &Job,
    owner: &str,
    grant: &Allowed<perm::ResetPasswords>,
    ctx: &Ctx,
) -> AppResult<Outcome> {
    let mut at = Position::of(job);
    loop {
        match run_batch(deps, job.id, owner, grant, ctx, at).await? {
            Step::Done(next) => at = next,
            Step::End => break,
            Step::LostLease => return Ok(Outcome::LostLease),
        }
    }
    let now = clock::now();
    let mut tx = deps.store.begin().await?;
    let counts = job_users::outcome_counts(&mut tx, job.id).await?;
    if !jobs::finish(&mut tx, job.id, owner, now, at.processed, None).await? {
        tx.rollback().await?;
        return Ok(Outcome::LostLease);
    }
    let mut summary = serde_json::Map::new();
    summary.insert("job".to_owned(), job.id.into());
    for (what, n) in counts {
        summary.insert(what.unwrap_or_else(|| "unreached".to_owned()), n.into());
    }
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UsersMassPasswordResetFinished,
            actor: Some(grant.actor()),
            target: None,
            before: None,
            after: Some(serde_json::Value::Object(summary)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// How a finished (or running) mass reset went, per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub reset: i64,
    pub disabled: i64,
    pub refused: i64,
    pub own: i64,
    pub gone: i64,
}

impl Summary {
    pub async fn of(store: &Store, job_id: i64) -> AppResult<Summary> {
        let mut s = Summary::default();
        for (what, n) in job_users::outcome_counts(&mut *store.conn().await?, job_id).await? {
            match what.as_deref() {
                Some(outcome::RESET) => s.reset = n,
                Some(outcome::DISABLED) => s.disabled = n,
                Some(outcome::REFUSED) => s.refused = n,
                Some(outcome::OWN) => s.own = n,
                Some(outcome::GONE) => s.gone = n,
                _ => {}
            }
        }
        Ok(s)
    }

    /// The sentence the mass action's page shows, in the words the inline reset used.
    pub fn message(&self) -> String {
        passwords::MassResult {
            queued: u64::try_from(self.reset).unwrap_or(0),
            skipped_disabled: u64::try_from(self.disabled).unwrap_or(0),
            skipped_self: self.own > 0,
            refused: u64::try_from(self.refused).unwrap_or(0),
        }
        .message()
    }
}
