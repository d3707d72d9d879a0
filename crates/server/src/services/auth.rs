//! Sign-in with the exact lockout, and turning a user into an `Actor`.

use muster_domain::AuditAction;
use muster_domain::second_factor::AfterPassword;
use muster_domain::{Actor, AuthStatus, Error as DomainError, LoginOutcome, Millis};
use muster_store::{Conn, Store, login_attempts, users};

use super::{Ctx, audit};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::hashing::{self, Hasher};
use crate::settings::Settings;

/// `web` or `api`.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    Web,
    Api,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Web => "web",
            Source::Api => "api",
        }
    }
}

#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn actor_for(conn: &mut Conn, user: &users::User) -> AppResult<Actor> {
    Ok(Actor {
        user_id: user.id,
        username: user.username.clone(),
        roles: user.roles.clone(),
        organization_ids: users::organization_ids(conn, user.id).await?,
    })
}

/// A hash of a password nobody has, verified for unknown users so that an
/// unknown name takes as long as a wrong password.
pub struct DummyHash(pub String);

/// The result of a right password.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: the success is recorded.
    Done(users::User),
    /// A second step is due (a code, or enrolment first); nothing is recorded yet.
    SecondStep(users::User, AfterPassword),
}

/// Check a username (or email) and password. Every failure is the same
/// `InvalidCredentials`; the reason is kept in the login attempt row only.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn sign_in(
    store: &Store,
    hasher: &Hasher,
    dummy: &DummyHash,
    login: &str,
    password: &str,
    source: Source,
    ctx: &Ctx,
) -> AppResult<SignIn> {
    let mut conn = store.conn().await?;
    let settings = Settings::load(&mut conn).await?;
    if let Source::Web = source
        && let Err(e) = address_pause(&mut conn, &settings, ctx, clock::now()).await
    {
        if matches!(e, AppError::TooManyAttempts { .. }) {
            crate::metrics::sign_in(source.as_str(), "throttled");
        }
        return Err(e);
    }
    let login = login.trim();
    let mut user = users::find_by_username(&mut conn, login).await?;
    if user.is_none() && login.contains('@') {
        user = users::find_by_email(&mut conn, login).await?;
    }
    // The hash is checked before anything else is decided, so every branch costs the same.
    let hash = user
        .as_ref()
        .map_or_else(|| dummy.0.clone(), |u| u.password_hash.clone());
    // Not held while the hash waits for a hashing thread: a burst of sign-ins
    // queued there would hold every connection of the pool, and every other
    // page would wait for the burst to pass.
    drop(conn);
    let password_ok = hasher.verify(password.to_owned(), hash.clone()).await? && user.is_some();

    let now = clock::now();
    let mut attempt = login_attempts::Attempt {
        at: now,
        username: login.chars().take(200).collect(),
        user_id: user.as_ref().map(|u| u.id),
        source: source.as_str().to_owned(),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.chars().take(500).collect(),
        ..Default::default()
    };
    // One connection at a time: holding one while waiting for another can starve the pool.
    let Some(user) = user else {
        attempt.reason = "unknown user".into();
        login_attempts::insert(&mut *store.conn().await?, &attempt).await?;
        crate::metrics::sign_in(source.as_str(), "unknown_user");
        return Err(DomainError::InvalidCredentials.into());
    };
    let policy = settings.lockout();
    match policy.decide(user.enabled, user.auth_status, user.failed_login_count, password_ok) {
        LoginOutcome::Refused => {
            attempt.reason = refusal_reason(&user).into();
            login_attempts::insert(&mut *store.conn().await?, &attempt).await?;
            crate::metrics::sign_in(source.as_str(), "refused");
            Err(DomainError::InvalidCredentials.into())
        }
        LoginOutcome::Failed { .. } => {
            record_failure(store, ctx, &user, policy.limit, attempt, "wrong password", now).await?;
            crate::metrics::sign_in(source.as_str(), "wrong_password");
            Err(DomainError::InvalidCredentials.into())
        }
        LoginOutcome::Success => {
            let next = super::second_factor::after_password(&mut *store.conn().await?, &settings, &user).await?;
            if next != AfterPassword::SignedIn {
                // Nothing is recorded yet: the sign-in succeeds (and the failed-login
                // count resets) only after the second step, so a known password cannot
                // clear the count that wrong codes raise.
                let params = settings.argon2();
                if hashing::needs_rehash(&user.password_hash, params) {
                    super::foreign_hashes::rehash_at_sign_in(store, hasher, &user, password, params, ctx).await?;
                }
                let fresh = users::get(&mut *store.conn().await?, user.id)
                    .await?
                    .ok_or_else(|| AppError::not_found("user"))?;
                return Ok(SignIn::SecondStep(fresh, next));
            }
            let mut tx = store.begin().await?;
            if !users::record_successful_login(&mut tx, user.id, &user.password_hash, now).await? {
                // locked, disabled or given a new password while we were hashing
                attempt.reason = "account changed during sign-in".into();
                login_attempts::insert(&mut tx, &attempt).await?;
                tx.commit().await?;
                crate::metrics::sign_in(source.as_str(), "refused");
                return Err(DomainError::InvalidCredentials.into());
            }
            attempt.success = true;
            login_attempts::insert(&mut tx, &attempt).await?;
            tx.commit().await?;
            crate::metrics::sign_in(source.as_str(), "success");
            let params = settings.argon2();
            // other Argon2 parameters, or a foreign hash from an import (audited)
            if hashing::needs_rehash(&user.password_hash, params) {
                super::foreign_hashes::rehash_at_sign_in(store, hasher, &user, password, params, ctx).await?;
            }
            let mut conn = store.conn().await?;
            let fresh = users::get(&mut conn, user.id)
                .await?
                .ok_or_else(|| AppError::not_found("user"))?;
            Ok(SignIn::Done(fresh))
        }
    }
}

/// A wrong password or a wrong second-factor code (`what`): counted in one
/// atomic statement against the same limit, locking (with its audit event and
/// mail) exactly when the count reaches it. Returns whether this attempt locked
/// the account.
pub(super) async fn record_failure(
    store: &Store,
    ctx: &Ctx,
    user: &users::User,
    limit: i64,
    mut attempt: login_attempts::Attempt,
    what: &str,
    now: Millis,
) -> AppResult<bool> {
    // The decision to count was made on a row read earlier; the statement
    // re-checks the status and counts atomically.
    let mut tx = store.begin().await?;
    let counted = users::record_failed_login(&mut tx, user.id, limit, now).await?;
    let locked_now = matches!(counted, Some((count, AuthStatus::Locked)) if count == limit);
    attempt.reason = match counted {
        None => refusal_reason(user).into(),
        Some((count, AuthStatus::Locked)) if count == limit => {
            audit::record(
                &mut tx,
                ctx,
                audit::Entry {
                    action: AuditAction::UserLocked,
                    actor: None,
                    target: Some(user),
                    before: None,
                    after: Some(serde_json::json!({"failedLoginCount": count})),
                },
            )
            .await?;
            crate::services::users::on_locked(&mut tx, user).await?;
            format!("{what} ({count}); account locked")
        }
        Some((count, _)) => format!("{what} ({count})"),
    };
    login_attempts::insert(&mut tx, &attempt).await?;
    tx.commit().await?;
    crate::mail::wake();
    if locked_now {
        crate::metrics::lockout();
    }
    Ok(locked_now)
}

/// The per-address pause of failed web sign-ins (settings
/// `login_failures_per_address` in `login_failure_window_minutes`): counted
/// from the login attempts in the database, so every instance sees the same
/// count. A paused attempt is refused before the account is looked up or a
/// hash checked, so it says nothing about the password and never counts
/// against the account's lockout; it is not recorded either (a flood adds no
/// rows), which also lets the window slide on, so an address gets at most
/// `limit` tries per window. Parallel attempts may each pass the check before
/// any is recorded: the pause is a brake, the lockout the exact limit.
pub(super) async fn address_pause(conn: &mut Conn, settings: &Settings, ctx: &Ctx, now: Millis) -> AppResult<()> {
    let throttle = settings.address_throttle();
    if !throttle.is_on() || ctx.ip.is_empty() {
        return Ok(());
    }
    let nth = login_attempts::nth_recent_web_failure(conn, &ctx.ip, throttle.window_start(now), throttle.limit).await?;
    match throttle.retry_after(nth, now) {
        Some(retry_after_secs) => {
            tracing::info!(ip = %ctx.ip, retry_after_secs, "web sign-in paused for this address");
            Err(AppError::TooManyAttempts { retry_after_secs })
        }
        None => Ok(()),
    }
}

pub(super) fn refusal_reason(u: &users::User) -> &'static str {
    if !u.enabled {
        "disabled"
    } else {
        match u.auth_status {
            AuthStatus::Locked => "locked",
            AuthStatus::PasswordReset => "password reset pending",
            AuthStatus::Active => "not counted",
        }
    }
}
