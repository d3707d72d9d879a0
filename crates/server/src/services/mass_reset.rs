//! Mass Reset Password as a background job (DESIGN §5): the request fixes
//! the selection and queues a job; the job worker resets the users in
//! batches as the requester, with their rights checked again.
//!
//! The selection is fixed without copying it: "all matching" is kept as the
//! filter (query syntax) plus the highest user id at request time, so the
//! request costs one count whatever the size, and users created later are
//! never reached; a list of ids goes into `job_users` (bounded by the request
//! that named them). Either is walked in id order.
//!
//! Exactly once per user, across crashes: each batch commits the users'
//! changes, their mails in the outbox, and the job's checkpoint (the last id
//! done and how many users had each outcome) and progress in one transaction,
//! and that transaction first renews the lease on the condition that this
//! worker still holds it. A worker whose lease ran out (another took the job
//! over) changes nobody; a batch cut off by a crash is rolled back whole and
//! done again by the next worker.

use muster_domain::permission::perm;
use muster_domain::{Allowed, AuditAction, Error as DomainError, Selection, UserFilter, View};
use muster_store::jobs::{self, Job};
use muster_store::users::Scope;
use muster_store::{Store, job_users};
use serde::{Deserialize, Serialize};

use super::batching::BatchSize;
use super::passwords::{self, BATCH};
use super::users::scope_of;
use super::{Ctx, audit};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::jobs::{LEASE_MS, Outcome};
use crate::mail;
use crate::services::Deps;
use crate::settings::Settings;

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
    /// "All matching": the filter in the query syntax, walked up to
    /// `up_to_id`. None: the users are the job's `job_users` rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to_id: Option<i64>,
}

/// A queued mass reset: how many users its selection holds, and how many of
/// them the requester may not reset (the job will skip them).
#[derive(Debug, Clone)]
pub struct Requested {
    pub job: Job,
    pub affected: i64,
    pub refused: i64,
}

/// How a job finds its users, batch after batch.
#[derive(Debug, Clone)]
pub enum Walk {
    /// The job's `job_users` rows.
    Rows,
    /// The users `filter` selects in `organization_ids` (those the request
    /// acted in: an API key acts in one of its user's organizations), up to id `up_to_id`.
    Filter {
        filter: Box<UserFilter>,
        up_to_id: i64,
        organization_ids: Vec<i64>,
    },
}

impl Walk {
    /// How `job` (a mass reset) walks its users.
    pub fn of(job: &Job) -> AppResult<Walk> {
        let request: MassResetRequest = serde_json::from_str(&job.payload)
            .map_err(|e| AppError::fault(format!("mass reset job {} payload", job.id), e))?;
        Ok(request.walk())
    }
}

/// `filter` as the job's payload keeps it (the query syntax).
fn kept(filter: &UserFilter) -> String {
    // no view means every user here; the query syntax reads a missing view as the grid's default
    let filter = UserFilter {
        view: Some(filter.view.unwrap_or(View::All)),
        ..filter.clone()
    };
    crate::selection_query::print(&Selection {
        filter,
        sort: Default::default(),
    })
}

impl MassResetRequest {
    fn walk(&self) -> Walk {
        match (&self.filter, self.up_to_id) {
            (Some(q), Some(up_to_id)) => Walk::Filter {
                filter: Box::new(crate::selection_query::parse(q).0.filter),
                up_to_id,
                organization_ids: self.organization_ids.clone(),
            },
            _ => Walk::Rows,
        }
    }
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
    let scope = scope_of(actor);
    let guarded = actor.guarded_roles();
    let mut request = MassResetRequest {
        requested_by: actor.username.clone(),
        organization_ids: actor.organization_ids.clone(),
        selection: described.clone(),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        filter: None,
        up_to_id: None,
    };
    // "All matching" is counted here, outside the writing transaction (on
    // SQLite it would hold the one writer): the bound makes the count exact
    // whatever is created meanwhile.
    let counted = if filter.only_ids.is_none() {
        let mut conn = store.conn().await?;
        let up_to_id = job_users::max_user_id(&mut conn).await?;
        let (selected, refused) =
            job_users::count_selected(&mut conn, &scope, filter, up_to_id, actor.user_id, &guarded).await?;
        request.filter = Some(kept(filter));
        request.up_to_id = Some(up_to_id);
        Some((selected, refused))
    } else {
        None
    };
    let payload =
        serde_json::to_string(&request).map_err(|e| AppError::fault("writing the mass reset job payload", e))?;
    let now = clock::now();
    let mut tx = store.begin().await?;
    let id = jobs::enqueue(&mut tx, KIND, &payload, Some(actor.user_id), now).await?;
    let (affected, refused) = match counted {
        Some((selected, refused)) => {
            job_users::set_total(&mut tx, id, selected).await?;
            (selected, refused)
        }
        None => {
            // a list of ids, as long as the request that named them
            let selected = job_users::snapshot(&mut tx, id, &scope, filter).await?;
            let refused = job_users::count_guarded_rows(&mut tx, id, actor.user_id, &guarded).await?;
            (selected, refused)
        }
    };
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
    Ok(Requested { job, affected, refused })
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
    let walk = request.walk();
    let ctx = Ctx {
        ip: request.ip,
        user_agent: request.user_agent,
    };
    run_batches(deps, job, owner, &grant, &ctx, &walk).await
}

/// How many of a job's users had each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub reset: i64,
    pub disabled: i64,
    pub refused: i64,
    pub own: i64,
    /// Deleted, or moved out of the requester's organizations, before the job reached them.
    pub gone: i64,
}

/// Where a run of a mass reset stands: the last user id done, how many users
/// it has gone through, and what it did to them (the job's checkpoint, written
/// with each batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub after: i64,
    pub processed: i64,
    pub done: Summary,
}

/// The checkpoint's spelling: `{"after": 1234, "reset": …, "disabled": …}`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    after: i64,
    #[serde(flatten)]
    done: Summary,
}

impl Position {
    /// Where `job` was left: its last committed batch. A checkpoint that is a
    /// bare id was written before the outcomes moved into it (they are then in
    /// `job_users`).
    pub fn of(job: &Job) -> Position {
        let c = job
            .checkpoint
            .as_deref()
            .map(|c| {
                serde_json::from_str::<Checkpoint>(c).unwrap_or_else(|_| Checkpoint {
                    after: c.parse().unwrap_or(0),
                    done: Summary::default(),
                })
            })
            .unwrap_or_default();
        Position {
            after: c.after,
            processed: job.processed,
            done: c.done,
        }
    }

    fn checkpoint(&self) -> String {
        serde_json::to_string(&Checkpoint {
            after: self.after,
            done: self.done,
        })
        .unwrap_or_else(|_| self.after.to_string())
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

/// One worker's run of a mass reset job: what each of its batches needs.
#[derive(Clone, Copy)]
pub struct JobRun<'a> {
    pub deps: Deps<'a>,
    pub job_id: i64,
    /// The worker that holds (or held) the job's lease.
    pub owner: &'a str,
    pub grant: &'a Allowed<perm::ResetPasswords>,
    pub ctx: &'a Ctx,
    pub walk: &'a Walk,
}

/// A batch read and worked out before its write transaction.
#[derive(Debug)]
pub struct Prepared {
    read: BatchUsers,
    resets: passwords::PreparedResets,
    /// When it was worked out: the time of its links, status changes and audit events.
    now: i64,
}

/// The users of one batch as read: those found, the last id walked, and how
/// many were walked (a `job_users` row whose user is gone counts as walked).
#[derive(Debug, Clone, PartialEq, Eq)]
struct BatchUsers {
    users: Vec<muster_store::users::User>,
    last: i64,
    walked: usize,
}

/// The organizations a filter job was asked in that the requester still belongs to.
fn filter_scope(actor: &muster_domain::Actor, organization_ids: &[i64]) -> Scope {
    Scope::Organizations(
        actor
            .organization_ids
            .iter()
            .copied()
            .filter(|o| organization_ids.contains(o))
            .collect(),
    )
}

/// The batch of at most `size` users after `after`, within the requester's
/// organizations as they are now; None past the last one. With `only` (the
/// users read before), the same users read again: who of them still is
/// what the batch was worked out for.
async fn batch_users(
    conn: &mut muster_store::Conn,
    job_id: i64,
    actor: &muster_domain::Actor,
    walk: &Walk,
    after: i64,
    size: i64,
    only: Option<&BatchUsers>,
) -> AppResult<Option<BatchUsers>> {
    match walk {
        Walk::Rows => {
            // the job's rows never change while it runs: reading them again gives the same ids
            let ids = job_users::ids_after(conn, job_id, after, size).await?;
            let Some(&last) = ids.last() else {
                return Ok(None);
            };
            let filter = UserFilter {
                only_ids: Some(ids.clone()),
                ..Default::default()
            };
            let users = muster_store::user_cursor::page_after(conn, &scope_of(actor), &filter, 0, size).await?;
            Ok(Some(BatchUsers {
                users,
                last,
                walked: ids.len(),
            }))
        }
        Walk::Filter {
            filter,
            up_to_id,
            organization_ids,
        } => {
            let scope = filter_scope(actor, organization_ids);
            let users = match only {
                // by id: bounded by the batch, whatever the filter costs to walk
                Some(before) => {
                    let filter = UserFilter {
                        only_ids: Some(before.users.iter().map(|u| u.id).collect()),
                        ..(**filter).clone()
                    };
                    let up_to = before.last.min(*up_to_id);
                    muster_store::user_cursor::page_after_up_to(conn, &scope, &filter, after, up_to, size).await?
                }
                None => {
                    muster_store::user_cursor::page_after_up_to(conn, &scope, filter, after, *up_to_id, size).await?
                }
            };
            let Some(last) = users.last().map(|u| u.id) else {
                return Ok(None);
            };
            let walked = users.len();
            Ok(Some(BatchUsers { users, last, walked }))
        }
    }
}

impl JobRun<'_> {
    /// One batch of at most [`BATCH`] users after `at`: [`JobRun::prepare`], then [`JobRun::write`].
    pub async fn batch(&self, at: Position) -> AppResult<Step> {
        let Some(prepared) = self.prepare(at, BATCH).await? else {
            return Ok(Step::End);
        };
        self.write(at, prepared).await
    }

    /// Read the batch of at most `size` users after `at` and work out its resets
    /// (the rule per user, the links, the rendered mails, the audit events),
    /// outside any transaction; None when no user is left. On SQLite a write
    /// transaction holds the one writer from its first statement: read and
    /// rendered inside it, a batch of 500 held it 150–300 ms under load.
    #[tracing::instrument(skip_all, fields(job_id = self.job_id), err(level = "debug"))]
    pub async fn prepare(&self, at: Position, size: i64) -> AppResult<Option<Prepared>> {
        let actor = self.grant.actor();
        let mut conn = self.deps.store.conn().await?;
        let Some(read) = batch_users(&mut conn, self.job_id, actor, self.walk, at.after, size.max(1), None).await?
        else {
            return Ok(None);
        };
        let settings = Settings::load(&mut conn).await?;
        drop(conn);
        let now = clock::now();
        let started = std::time::Instant::now();
        let resets = passwords::prepare_resets(self.deps, actor, self.ctx, read.users.clone(), &settings, now);
        tracing::debug!(
            users = read.walked,
            micros = started.elapsed().as_micros() as u64,
            "mass reset batch worked out"
        );
        Ok(Some(Prepared { read, resets, now }))
    }

    /// Write a prepared batch in one transaction: the users' changes, their
    /// mails, the job's progress and checkpoint with the outcomes. The batch's
    /// users are read again first, by id: if any changed since it was prepared
    /// (edited, disabled, moved out of the organizations, deleted), the batch is
    /// worked out again inside the transaction from what is there now, so no
    /// mail goes to an old address and nobody is reset against the rule of now.
    #[tracing::instrument(skip_all, fields(job_id = self.job_id), err(level = "debug"))]
    pub async fn write(&self, at: Position, prepared: Prepared) -> AppResult<Step> {
        Ok(self.write_held(at, prepared).await?.0)
    }

    /// [`JobRun::write`], and how long its transaction held the writer (from
    /// `BEGIN`'s return to the commit's: not the wait for the lock).
    async fn write_held(&self, at: Position, prepared: Prepared) -> AppResult<(Step, std::time::Duration)> {
        let JobRun {
            deps,
            job_id,
            owner,
            grant,
            ctx,
            walk,
        } = *self;
        let actor = grant.actor();
        let mut tx = deps.store.begin().await?;
        let began = std::time::Instant::now();
        let now = clock::now();
        // before anything is read or changed: on PostgreSQL it holds the job's
        // row, so a worker that lost the job waits here and then finds it gone
        if !jobs::renew(&mut tx, job_id, owner, now + LEASE_MS, at.processed, None).await? {
            tx.rollback().await?;
            return Ok((Step::LostLease, began.elapsed()));
        }
        let size = i64::try_from(prepared.read.walked).unwrap_or(BATCH).max(1);
        let now_there = batch_users(&mut tx, job_id, actor, walk, at.after, size, Some(&prepared.read)).await?;
        let (read, done) = match now_there {
            Some(again) if again.users == prepared.read.users => {
                let done = passwords::write_resets(&mut tx, prepared.resets, prepared.now).await?;
                (prepared.read, done)
            }
            _ => {
                // changed meanwhile: this batch as it is now, worked out here (rare)
                let Some(read) = batch_users(&mut tx, job_id, actor, walk, at.after, size, None).await? else {
                    tx.rollback().await?;
                    return Ok((Step::End, began.elapsed()));
                };
                let done = passwords::reset_batch(&mut tx, deps, actor, ctx, read.users.clone(), now).await?;
                (read, done)
            }
        };
        let gone = read.walked - read.users.len();
        let count = |v: &Vec<i64>| i64::try_from(v.len()).unwrap_or(0);
        let mut next = Position {
            after: read.last,
            processed: at.processed + i64::try_from(read.walked).unwrap_or(0),
            done: at.done,
        };
        next.done.reset += count(&done.reset);
        next.done.disabled += count(&done.disabled);
        next.done.refused += count(&done.refused);
        next.done.own += count(&done.own);
        next.done.gone += i64::try_from(gone).unwrap_or(0);
        // the job's row is this transaction's since the renewal above: this cannot lose the lease
        if !jobs::renew(
            &mut tx,
            job_id,
            owner,
            now + LEASE_MS,
            next.processed,
            Some(&next.checkpoint()),
        )
        .await?
        {
            tx.rollback().await?;
            return Ok((Step::LostLease, began.elapsed()));
        }
        tx.commit().await?;
        let held = began.elapsed();
        mail::wake();
        Ok((Step::Done(next), held))
    }
}

/// The first batch of a job on SQLite, in users. Beside the mixed-load bench
/// (100,000 users, load average 12), 100 users held the writer ~24 ms and
/// 200 users 55–110 ms: the updates of the status, the audit events and the
/// outbox rows about a third each, reading the batch again 7–27 ms. Also the
/// smallest batch: with a floor of 25, 27,530 users took 33.5 s on a machine
/// at load average 15 (10.0 s with batches of 500 in the same window), most
/// likely in small batches, each paying its gap and its fixed statements.
const SQLITE_FIRST_BATCH: usize = 100;

/// How long one batch's write transaction should hold SQLite's writer: a
/// sign-in that arrives during one waits for it, then for its own Argon2.
const BATCH_TIME: std::time::Duration = std::time::Duration::from_millis(50);

/// Reset the job's users from its checkpoint on, a batch per transaction, then
/// mark it done with its outcome audited and its `job_users` rows deleted.
/// Also runs the scheduled reset of those on a foreign password scheme
/// (`foreign_hashes`), once its users are fixed: one way to reset many users.
#[tracing::instrument(skip_all, fields(job_id = job.id), err(level = "debug"))]
pub async fn run_batches(
    deps: Deps<'_>,
    job: &Job,
    owner: &str,
    grant: &Allowed<perm::ResetPasswords>,
    ctx: &Ctx,
    walk: &Walk,
) -> AppResult<Outcome> {
    let mut at = Position::of(job);
    let mut size = BatchSize::new(
        deps.store.backend,
        SQLITE_FIRST_BATCH,
        SQLITE_FIRST_BATCH,
        BATCH as usize,
        BATCH_TIME,
    );
    let run = JobRun {
        deps,
        job_id: job.id,
        owner,
        grant,
        ctx,
        walk,
    };
    let mut prepared = run.prepare(at, size.get() as i64).await?;
    while let Some(batch) = prepared {
        let users = batch.read.walked;
        let (step, held) = run.write_held(at, batch).await?;
        tracing::debug!(users, held_ms = held.as_millis() as u64, "mass reset batch");
        match step {
            Step::Done(next) => {
                at = next;
                let gap = size.committed(held, deps.store);
                // the next batch is read and rendered while other writers have their turn
                let (_, next) = tokio::join!(gap, run.prepare(at, size.get() as i64));
                prepared = next?;
            }
            Step::End => break,
            Step::LostLease => return Ok(Outcome::LostLease),
        }
    }
    let now = clock::now();
    let mut tx = deps.store.begin().await?;
    // outcomes of batches run before they moved into the checkpoint
    let mut done = at.done.plus(&Summary::of_rows(&mut tx, job.id).await?);
    let mut processed = at.processed;
    if matches!(walk, Walk::Filter { .. }) && processed < job.total {
        // counted when asked, gone from the selection (deleted, moved, changed) before the job reached them
        done.gone += job.total - processed;
        processed = job.total;
    }
    let last = Position {
        after: at.after,
        processed,
        done,
    };
    if !jobs::finish_keeping(&mut tx, job.id, owner, now, processed, &last.checkpoint()).await? {
        tx.rollback().await?;
        return Ok(Outcome::LostLease);
    }
    job_users::clear(&mut tx, job.id).await?;
    let mut summary = serde_json::Map::new();
    summary.insert("job".to_owned(), job.id.into());
    for (what, n) in [
        (outcome::RESET, done.reset),
        (outcome::DISABLED, done.disabled),
        (outcome::REFUSED, done.refused),
        (outcome::OWN, done.own),
        (outcome::GONE, done.gone),
    ] {
        if n > 0 {
            summary.insert(what.to_owned(), n.into());
        }
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

impl Summary {
    /// How job `job_id` went so far: the outcomes in its checkpoint (kept once it is done), plus
    /// those its `job_users` rows still hold from before they moved there.
    pub async fn of(store: &Store, job_id: i64) -> AppResult<Summary> {
        let mut conn = store.conn().await?;
        let at = jobs::get(&mut conn, job_id)
            .await?
            .map(|j| Position::of(&j).done)
            .unwrap_or_default();
        Ok(at.plus(&Summary::of_rows(&mut conn, job_id).await?))
    }

    async fn of_rows(conn: &mut muster_store::Conn, job_id: i64) -> AppResult<Summary> {
        let mut s = Summary::default();
        for (what, n) in job_users::outcome_counts(conn, job_id).await? {
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

    fn plus(&self, o: &Summary) -> Summary {
        Summary {
            reset: self.reset + o.reset,
            disabled: self.disabled + o.disabled,
            refused: self.refused + o.refused,
            own: self.own + o.own,
            gone: self.gone + o.gone,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_filter_reads_back_as_the_same_selection() {
        let asked = UserFilter {
            search: Some("van Dijk".to_owned()),
            exclude_ids: vec![4, 9],
            organization_id: Some(2),
            ..Default::default()
        };
        let back = crate::selection_query::parse(&kept(&asked)).0.filter;
        // no view (every user) is kept as `all`, not read back as the grid's default `active`
        assert_eq!(back.view, Some(View::All));
        assert_eq!(UserFilter { view: None, ..back }, asked);
        let active = UserFilter {
            view: Some(View::Active),
            ..asked
        };
        assert_eq!(crate::selection_query::parse(&kept(&active)).0.filter, active);
    }

    #[test]
    fn a_checkpoint_keeps_the_outcomes_and_reads_an_old_bare_id() {
        let at = Position {
            after: 1234,
            processed: 500,
            done: Summary {
                reset: 400,
                disabled: 90,
                refused: 5,
                own: 1,
                gone: 4,
            },
        };
        let job = |checkpoint: Option<String>| Job {
            id: 1,
            kind: KIND.to_owned(),
            payload: "{}".to_owned(),
            status: jobs::Status::Running,
            processed: 500,
            total: 600,
            created_by: Some(1),
            created_at: 0,
            started_at: None,
            finished_at: None,
            lease_owner: None,
            lease_until: None,
            attempts: 1,
            error: None,
            result_path: None,
            checkpoint,
            not_before: None,
        };
        assert_eq!(Position::of(&job(Some(at.checkpoint()))), at);
        let old = Position::of(&job(Some("77".to_owned())));
        assert_eq!((old.after, old.done), (77, Summary::default()));
        assert_eq!(Position::of(&job(None)).after, 0);
    }
}
