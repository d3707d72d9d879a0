//! Users still on a password hash made by another application: the Argon2id
//! upgrade at their first sign-in, how many are left per scheme, and a
//! reset of those still on a scheme.

use muster_domain::Allowed;
use muster_domain::AuditAction;
use muster_domain::Error as DomainError;
use muster_domain::password_hash::{Scheme, scheme_of};
use muster_domain::permission::perm;
use muster_store::users::User;
use muster_store::{Store, password_schemes};

use super::{Ctx, audit, passwords};
use crate::error::AppResult;
use crate::hashing::{Hasher, Params};
use crate::services::Deps;

/// After a successful sign-in with a hash that needs replacing (a foreign
/// scheme, or Argon2 with other parameters): hash `password` with Argon2id and
/// store it if the hash is still the one verified. Leaving a foreign scheme is
/// audited as `user.password_rehashed`.
#[tracing::instrument(skip_all, fields(user_id = user.id), err(level = "debug"))]
pub async fn rehash_at_sign_in(
    store: &Store,
    hasher: &Hasher,
    user: &User,
    password: &str,
    params: Params,
    ctx: &Ctx,
) -> AppResult<()> {
    let new_hash = hasher.hash(password.to_owned(), params).await?;
    let mut tx = store.begin().await?;
    let replaced = password_schemes::rehash(&mut tx, user.id, &user.password_hash, &new_hash).await?;
    if let Some(scheme) = scheme_of(&user.password_hash).filter(|s| *s != Scheme::Argon2)
        && replaced
    {
        let me = super::auth::actor_for(&mut tx, user).await?;
        audit::record(
            &mut tx,
            ctx,
            audit::Entry {
                action: AuditAction::UserPasswordRehashed,
                actor: Some(&me),
                target: Some(user),
                before: Some(serde_json::json!({"passwordScheme": scheme.key()})),
                after: Some(serde_json::json!({"passwordScheme": "argon2id"})),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Set the hasher's failure floor (`Hasher::verify`) to the slowest check of
/// a hash still stored: every foreign hash is walked once, one hash of each
/// cost class (`ParsedHash::cost_class`) is checked twice with a password
/// that cannot match, and the slower time counts. With no foreign hash left
/// the floor is zero: Argon2 users and the dummy cost the same already.
/// Returns the floor and how many classes were timed.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn calibrate_failure_floor(store: &Store, hasher: &Hasher) -> AppResult<(std::time::Duration, usize)> {
    let prefixes: Vec<&str> = Scheme::FOREIGN
        .iter()
        .flat_map(|s| s.prefixes().iter().copied())
        .collect();
    let mut classes: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut after = 0;
    loop {
        let page = password_schemes::hashes_after(&mut *store.conn().await?, &prefixes, after, 2_000).await?;
        let Some(last) = page.last() else { break };
        after = last.0;
        for (_, hash) in page {
            if let Ok(parsed) = muster_domain::password_hash::parse(&hash)
                && !parsed.is_weak()
            {
                classes.entry(parsed.cost_class()).or_insert(hash);
            }
        }
    }
    let mut slowest = std::time::Duration::ZERO;
    for hash in classes.values() {
        for _ in 0..2 {
            slowest = slowest.max(hasher.time_failure(hash.clone()).await?);
        }
    }
    hasher.set_failure_floor(slowest);
    Ok((hasher.failure_floor(), classes.len()))
}

/// How often `serve` times the stored hashes again: an import by another
/// process (the CLI, another instance) brings new classes, a sign-in upgrade
/// takes them away.
pub const CALIBRATE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Calibrate every `CALIBRATE_EVERY` from now on, for as long as the process runs.
pub fn spawn_recalibration(store: Store, hasher: Hasher) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CALIBRATE_EVERY).await;
            if store.is_closed() {
                return;
            }
            match calibrate_failure_floor(&store, &hasher).await {
                Ok((floor, classes)) => {
                    tracing::info!(
                        floor_ms = floor.as_millis() as u64,
                        classes,
                        "sign-in failure floor set"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "timing the stored password hashes failed"),
            }
        }
    })
}

fn all_prefixes() -> Vec<(&'static str, &'static [&'static str])> {
    Scheme::FOREIGN.iter().map(|s| (s.key(), s.prefixes())).collect()
}

/// How many users are on each foreign scheme, in the order of `Scheme::FOREIGN`;
/// schemes nobody is on are left out.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn counts(store: &Store) -> AppResult<Vec<(Scheme, i64)>> {
    let rows = password_schemes::count_by_scheme(&mut *store.conn().await?, &all_prefixes()).await?;
    Ok(Scheme::FOREIGN
        .into_iter()
        .filter_map(|s| rows.iter().find(|(k, _)| k == s.key()).map(|(_, n)| (s, *n)))
        .collect())
}

/// Reset Password for every user still on `scheme`, as the mass action does
/// (disabled users and the acting admin are skipped; one mail each).
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn reset_scheme(
    deps: Deps<'_>,
    grant: &Allowed<perm::ResetPasswords>,
    ctx: &Ctx,
    scheme: Scheme,
) -> AppResult<passwords::MassResult> {
    let ids = password_schemes::user_ids_on(&mut *deps.store.conn().await?, scheme.prefixes()).await?;
    if ids.is_empty() {
        return Ok(passwords::MassResult::default());
    }
    let users = muster_domain::UserFilter {
        only_ids: Some(ids),
        ..Default::default()
    };
    passwords::mass_reset_password(deps, grant, ctx, &users).await
}

/// The job kind of a reset of those still on a scheme, scheduled for a date.
pub const RESET_KIND: &str = "password_scheme_reset";

/// A scheduled reset of those still on a scheme: its job and its scheme.
pub struct ScheduledReset {
    pub job: muster_store::jobs::Job,
    pub scheme: Option<Scheme>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ResetPayload {
    scheme: String,
}

/// Schedule [`reset_scheme`] for the start (00:00 UTC) of `day`
/// (`YYYY-MM-DD`, today or later): whoever is still on `scheme` then gets the
/// reset mail; whoever signed in before has an Argon2id hash and is left
/// alone. It runs as a job, as `actor`, with `actor`'s rights at that time.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn schedule_reset(
    store: &Store,
    grant: &Allowed<perm::ResetPasswords>,
    ctx: &Ctx,
    scheme: Scheme,
    day: &str,
) -> AppResult<i64> {
    let field = "reset_on";
    let day = day.trim();
    let at = match muster_domain::dates::parse_date(day, false) {
        Some(at) if day.len() == 10 => at,
        _ => return Err(DomainError::invalid(field, "give a date as YYYY-MM-DD").into()),
    };
    let now = crate::clock::now();
    let today = now - now.rem_euclid(86_400_000);
    if at < today {
        return Err(DomainError::invalid(field, "is in the past: give today or a later date").into());
    }
    let mut tx = store.begin().await?;
    let pending = queued_resets(&mut tx).await?;
    if let Some(other) = pending.iter().find(|r| r.scheme == Some(scheme)) {
        let when = other
            .job
            .not_before
            .map(|t| muster_domain::dates::format_bound(t, false));
        return Err(DomainError::invalid(
            field,
            format!(
                "a reset of {} is already scheduled for {}: cancel it first",
                scheme.label(),
                when.unwrap_or_default()
            ),
        )
        .into());
    }
    let payload = serde_json::to_string(&ResetPayload {
        scheme: scheme.key().to_owned(),
    })
    .map_err(|e| crate::error::AppError::fault("writing the reset job payload", e))?;
    let actor = grant.actor();
    let id = muster_store::jobs::enqueue_at(&mut tx, RESET_KIND, &payload, Some(actor.user_id), now, at).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::SettingsUpdated,
            actor: Some(actor),
            target: None,
            before: None,
            after: Some(serde_json::json!({"passwordSchemeReset": {"scheme": scheme.key(), "on": day, "job": id}})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn queued_resets(conn: &mut muster_store::Conn) -> AppResult<Vec<ScheduledReset>> {
    Ok(scheduled_resets(conn)
        .await?
        .into_iter()
        .filter(|r| r.job.status == muster_store::jobs::Status::Queued)
        .collect())
}

/// The newest scheduled resets, queued, done or failed.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn scheduled_resets(conn: &mut muster_store::Conn) -> AppResult<Vec<ScheduledReset>> {
    let jobs = muster_store::jobs::list(conn, RESET_KIND, 20).await?;
    Ok(jobs
        .into_iter()
        .map(|job| {
            let scheme = serde_json::from_str::<ResetPayload>(&job.payload)
                .ok()
                .and_then(|p| Scheme::from_key(&p.scheme));
            ScheduledReset { job, scheme }
        })
        .collect())
}

/// Cancel a scheduled reset that has not started. Whether there was one.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn cancel_reset(store: &Store, grant: &Allowed<perm::ResetPasswords>, ctx: &Ctx, id: i64) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let cancelled = muster_store::jobs::cancel_queued(&mut tx, id, RESET_KIND).await?;
    if cancelled {
        audit::record(
            &mut tx,
            ctx,
            audit::Entry {
                action: AuditAction::SettingsUpdated,
                actor: Some(grant.actor()),
                target: None,
                before: Some(serde_json::json!({"passwordSchemeReset": {"job": id}})),
                after: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(cancelled)
}

/// Run a scheduled reset (the job worker): as the administrator who scheduled
/// it, if they may still reset passwords, through the mass reset's batches
/// (`mass_reset::run_batches`); `processed` counts the users gone through.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn run_scheduled_reset(
    deps: Deps<'_>,
    job: &muster_store::jobs::Job,
    owner: &str,
) -> AppResult<crate::jobs::Outcome> {
    let payload: ResetPayload = serde_json::from_str(&job.payload)
        .map_err(|e| crate::error::AppError::fault("reading the reset job payload", e))?;
    let scheme = Scheme::from_key(&payload.scheme)
        .filter(|s| Scheme::FOREIGN.contains(s))
        .ok_or_else(|| DomainError::invalid("scheme", format!("unknown scheme {:?}", payload.scheme)))?;
    let mut conn = deps.store.conn().await?;
    let by = match job.created_by {
        Some(id) => muster_store::users::get(&mut conn, id).await?,
        None => None,
    };
    let Some(by) = by.filter(|u| u.enabled) else {
        return Err(DomainError::invalid("job", "the administrator who scheduled it is gone or disabled").into());
    };
    let actor = super::auth::actor_for(&mut conn, &by).await?;
    drop(conn);
    let grant = actor.allow::<perm::ResetPasswords>()?;
    let ctx = Ctx {
        ip: "scheduled".to_owned(),
        user_agent: format!("muster job {}", job.id),
    };
    // The first run fixes who is still on the scheme then as the job's users,
    // with a checkpoint, in one transaction: a retry after a crash goes on
    // after the last committed batch instead of choosing again.
    let job = if job.checkpoint.is_none() {
        let ids = password_schemes::user_ids_on(&mut *deps.store.conn().await?, scheme.prefixes()).await?;
        let mut tx = deps.store.begin().await?;
        let users = muster_domain::UserFilter {
            only_ids: Some(ids),
            ..Default::default()
        };
        muster_store::job_users::snapshot(&mut tx, job.id, &super::users::scope_of(grant.actor()), &users).await?;
        let until = crate::clock::now() + crate::jobs::LEASE_MS;
        if !muster_store::jobs::renew(&mut tx, job.id, owner, until, 0, Some("0")).await? {
            tx.rollback().await?;
            return Ok(crate::jobs::Outcome::LostLease);
        }
        let job = muster_store::jobs::get(&mut tx, job.id)
            .await?
            .ok_or_else(|| crate::error::AppError::not_found("job"))?;
        tx.commit().await?;
        job
    } else {
        job.clone()
    };
    super::mass_reset::run_batches(deps, &job, owner, &grant, &ctx, &super::mass_reset::Walk::Rows).await
}
