//! Passwords: an administrator's Change Password, the user's own change,
//! Reset Password for one user or many, *forgot password*, and the reset
//! link. Every change ends the user's other sessions, queues its mail in the
//! same transaction, and writes an audit event.

use muster_domain::AuditAction;
use muster_domain::permission::perm;
use muster_domain::status::{Transition, transition};
use muster_domain::{Action, Actor, Allowed, AuthStatus, Error as DomainError, FieldError, TargetFacts, UserFilter};
use muster_store::users::{self, User};
use muster_store::{Conn, audit as store_audit, password_resets as resets, sessions};

use super::users::{Target, load_target, scope_of};
use super::{Ctx, audit};
use crate::clock;
use crate::crypto::{random_token, sha256_hex};
use crate::error::{AppError, AppResult};
use crate::mail::{self, messages};
use crate::services::Deps;
use crate::settings::Settings;

/// Users per transaction in a mass reset.
pub const BATCH: i64 = 500;

fn user_inputs(u: &User) -> [&str; 4] {
    [&u.username, &u.email, &u.first_name, &u.last_name]
}

/// Check `raw` against the policy for `user`, and hash it (off the runtime).
async fn check_and_hash(deps: Deps<'_>, settings: &Settings, user: &User, raw: &str) -> AppResult<String> {
    let pw = settings.password_policy().check(raw, &user_inputs(user))?;
    deps.hasher.hash(pw.expose().to_owned(), settings.argon2()).await
}

/// Store a new hash and apply `t` to the status; outstanding links die.
async fn store_password(conn: &mut Conn, user: &User, hash: &str, t: Transition, now: i64) -> AppResult<()> {
    let to = transition(user.auth_status, t)?;
    users::set_password_hash(conn, user.id, hash, now).await?;
    if to != user.auth_status || to == AuthStatus::Active {
        // Active also clears the failed-login counter.
        users::set_auth_status(conn, user.id, to, now).await?;
    }
    resets::spend_for_users(conn, &[user.id], now).await?;
    Ok(())
}

async fn reload(conn: &mut Conn, id: i64) -> AppResult<User> {
    users::get(conn, id).await?.ok_or_else(|| AppError::not_found("user"))
}

/// Change Password by an administrator. The user's sessions end and they are told by mail.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn set_password(
    deps: Deps<'_>,
    grant: &Allowed<perm::SetPasswords>,
    ctx: &Ctx,
    id: i64,
    new_password: &str,
) -> AppResult<User> {
    let actor = grant.actor();
    let mut conn = deps.store.conn().await?;
    let settings = Settings::load(&mut conn).await?;
    let target = load_target(&mut conn, grant, Action::SetPassword, id).await?.user;
    drop(conn);
    let hash = check_and_hash(deps, &settings, &target, new_password).await?;
    let now = clock::now();
    let mut tx = deps.store.begin().await?;
    // again in the transaction: the target's roles may have changed during hashing
    let Target { user: before, proof } = load_target(&mut tx, grant, Action::SetPassword, id).await?;
    let id = proof.target_id();
    store_password(&mut tx, &before, &hash, Transition::PasswordSet, now).await?;
    sessions::delete_for_user(&mut tx, id, None).await?;
    let after = reload(&mut tx, id).await?;
    let when = clock::format(now);
    mail::queue(
        &mut tx,
        messages::password_changed(&after, Some(&actor.username), &when),
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserPasswordChanged,
            actor: Some(actor),
            target: Some(&after),
            before: Some(audit::snapshot(&before)),
            after: Some(audit::snapshot(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    mail::wake();
    Ok(after)
}

/// The signed-in user changes their own password, giving the current one.
/// Every other session of theirs ends; the one in use (`keep_session`) stays.
#[tracing::instrument(skip_all, fields(user_id = user_id), err(level = "debug"))]
pub async fn change_own_password(
    deps: Deps<'_>,
    ctx: &Ctx,
    user_id: i64,
    current_password: &str,
    new_password: &str,
    keep_session: &str,
) -> AppResult<User> {
    let mut conn = deps.store.conn().await?;
    let settings = Settings::load(&mut conn).await?;
    let user = reload(&mut conn, user_id).await?;
    drop(conn);
    let mut errors = Vec::new();
    if !deps
        .hasher
        .verify(current_password.to_owned(), user.password_hash.clone())
        .await?
    {
        errors.push(FieldError::new("current_password", "is not your current password"));
    }
    if let Err(DomainError::Invalid(f)) = settings.password_policy().check(new_password, &user_inputs(&user)) {
        errors.extend(f);
    }
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    if current_password == new_password {
        return Err(DomainError::invalid("password", "must differ from your current password").into());
    }
    let hash = check_and_hash(deps, &settings, &user, new_password).await?;
    let now = clock::now();
    let mut tx = deps.store.begin().await?;
    let before = reload(&mut tx, user_id).await?;
    if before.password_hash != user.password_hash {
        return Err(DomainError::Refused("your password was changed meanwhile; sign in again".into()).into());
    }
    store_password(&mut tx, &before, &hash, Transition::PasswordSet, now).await?;
    sessions::delete_for_user(&mut tx, user_id, Some(keep_session)).await?;
    let after = reload(&mut tx, user_id).await?;
    mail::queue(
        &mut tx,
        messages::password_changed(&after, None, &clock::format(now)),
        now,
    )
    .await?;
    let me = super::auth::actor_for(&mut tx, &after).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserPasswordChanged,
            actor: Some(&me),
            target: Some(&after),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    mail::wake();
    Ok(after)
}

/// A new reset token for `user`, and its mail. Returns the token's row and the mail.
fn new_token(deps: Deps<'_>, user: &User, expires_at: i64, by_admin: bool) -> ((String, i64), mail::Outgoing) {
    let token = random_token(32);
    let link = format!("{}/reset-password?token={token}", deps.public_url);
    let mail = messages::password_reset(user, &link, &clock::format(expires_at), by_admin);
    ((sha256_hex(&token), user.id), mail)
}

/// Reset Password for one user: status *Password reset*, sessions end,
/// earlier links die, and one mail with a new single-use link.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn reset_password(
    deps: Deps<'_>,
    grant: &Allowed<perm::ResetPasswords>,
    ctx: &Ctx,
    id: i64,
) -> AppResult<User> {
    let actor = grant.actor();
    let now = clock::now();
    let mut tx = deps.store.begin().await?;
    let settings = Settings::load(&mut tx).await?;
    let Target { user: before, proof } = load_target(&mut tx, grant, Action::ResetPassword, id).await?;
    let id = proof.target_id();
    if !before.enabled {
        return Err(DomainError::Refused(format!(
            "{} is disabled: enable the user first, then reset the password",
            before.username
        ))
        .into());
    }
    let to = transition(before.auth_status, Transition::ResetPassword)?;
    users::set_auth_status(&mut tx, id, to, now).await?;
    sessions::delete_for_user(&mut tx, id, None).await?;
    resets::spend_for_users(&mut tx, &[id], now).await?;
    let after = reload(&mut tx, id).await?;
    let expires = now + settings.get("reset_ttl_admin_hours") * 3_600_000;
    let (row, outgoing) = new_token(deps, &after, expires, true);
    resets::insert_many(&mut tx, &[row], now, expires).await?;
    mail::queue(&mut tx, outgoing, now).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserPasswordReset,
            actor: Some(actor),
            target: Some(&after),
            before: Some(audit::snapshot(&before)),
            after: Some(audit::snapshot(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    mail::wake();
    Ok(after)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MassResult {
    pub queued: u64,
    pub skipped_disabled: u64,
    /// The acting administrator, who is never reset by a mass action.
    pub skipped_self: bool,
    /// Users the rule refused to this actor (an Administrator, for a User Manager).
    pub refused: u64,
}

impl MassResult {
    pub fn message(&self) -> String {
        let mut m = format!("Password reset completed: {} emails queued", self.queued);
        let mut skipped = Vec::new();
        if self.skipped_disabled > 0 {
            skipped.push(format!("{} disabled user(s) skipped", self.skipped_disabled));
        }
        if self.skipped_self {
            skipped.push("your own account skipped".to_owned());
        }
        if self.refused > 0 {
            skipped.push(format!(
                "{} administrator(s) skipped: only an administrator may reset the password of an administrator",
                self.refused
            ));
        }
        if !skipped.is_empty() {
            m.push_str(&format!(" ({})", skipped.join(", ")));
        }
        m
    }
}

/// What one batch of a mass reset did, user by user.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub reset: Vec<i64>,
    pub disabled: Vec<i64>,
    /// Users the rule refused to the actor (an Administrator, for a User Manager).
    pub refused: Vec<i64>,
    /// The acting administrator, who is never reset by a mass action.
    pub own: Vec<i64>,
}

impl BatchOutcome {
    pub fn add_to(&self, result: &mut MassResult) {
        result.queued += self.reset.len() as u64;
        result.skipped_disabled += self.disabled.len() as u64;
        result.refused += self.refused.len() as u64;
        result.skipped_self |= !self.own.is_empty();
    }
}

/// Reset Password for a batch of users of the actor's organizations, in the
/// caller's transaction, with a few set-based statements: status *Password
/// reset*, sessions ended, earlier links spent, one new link, its mail and an
/// audit event per user. The actor's rights are checked per user here, so
/// every caller (the mass reset job, the import, the CLI) applies the same rule.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn reset_batch(
    tx: &mut Conn,
    deps: Deps<'_>,
    actor: &Actor,
    ctx: &Ctx,
    batch: Vec<User>,
    now: i64,
) -> AppResult<BatchOutcome> {
    let settings = Settings::load(tx).await?;
    let prepared = prepare_resets(deps, actor, ctx, batch, &settings, now);
    write_resets(tx, prepared, now).await
}

/// A batch's Reset Password worked out before anything is written: who is
/// reset and who skipped, and every row to write (links, mails, audit
/// events). The mass reset job prepares it before its write transaction, so
/// that on SQLite the one writer is held for the writes alone.
#[derive(Debug, Default)]
pub struct PreparedResets {
    outcome: BatchOutcome,
    tokens: Vec<(String, i64)>,
    mails: Vec<muster_store::outbox::NewMail>,
    events: Vec<store_audit::Event>,
    expires: i64,
}

/// [`reset_batch`]'s rule and rendering, without the database: the users as
/// read, the settings of now.
pub fn prepare_resets(
    deps: Deps<'_>,
    actor: &Actor,
    ctx: &Ctx,
    batch: Vec<User>,
    settings: &Settings,
    now: i64,
) -> PreparedResets {
    let mut out = BatchOutcome::default();
    let mut targets = Vec::with_capacity(batch.len());
    for u in batch {
        // the batch was selected within the actor's organizations
        let facts = TargetFacts {
            id: u.id,
            roles: &u.roles,
            organization_ids: None,
        };
        if u.id == actor.user_id {
            out.own.push(u.id);
        } else if actor.may(Action::ResetPassword, &facts).is_err() {
            out.refused.push(u.id);
        } else if !u.enabled {
            out.disabled.push(u.id);
        } else {
            targets.push(u);
        }
    }
    let expires = now + settings.get("reset_ttl_admin_hours") * 3_600_000;
    let mut tokens = Vec::with_capacity(targets.len());
    let mut mails = Vec::with_capacity(targets.len());
    let mut events = Vec::with_capacity(targets.len());
    for u in &targets {
        let (row, outgoing) = new_token(deps, u, expires, true);
        tokens.push(row);
        mails.push(outgoing.into_new());
        events.push(audit::event(
            ctx,
            audit::Entry {
                action: AuditAction::UserPasswordReset,
                actor: Some(actor),
                target: Some(u),
                before: Some(serde_json::json!({"authStatus": u.auth_status.as_str()})),
                after: Some(serde_json::json!({"authStatus": "password_reset", "mass": true})),
            },
            now,
        ));
    }
    out.reset = targets.iter().map(|u| u.id).collect();
    PreparedResets {
        outcome: out,
        tokens,
        mails,
        events,
        expires,
    }
}

/// Write what [`prepare_resets`] worked out, in the caller's transaction.
pub async fn write_resets(tx: &mut Conn, prepared: PreparedResets, now: i64) -> AppResult<BatchOutcome> {
    let ids = &prepared.outcome.reset;
    resets::mark_reset(tx, ids, now).await?;
    resets::spend_for_users(tx, ids, now).await?;
    resets::insert_many(tx, &prepared.tokens, now, prepared.expires).await?;
    muster_store::outbox::enqueue_many(tx, &prepared.mails, now).await?;
    resets::insert_audit_many(tx, &prepared.events).await?;
    Ok(prepared.outcome)
}

/// Reset Password over many users at once, in this request: for callers that
/// hold a short list (the import's set-up mails, the CLI). The grid and the
/// API run it as a job instead (`services::mass_reset`). Commits every
/// [`BATCH`] users.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn mass_reset_password(
    deps: Deps<'_>,
    grant: &Allowed<perm::ResetPasswords>,
    ctx: &Ctx,
    filter: &UserFilter,
) -> AppResult<MassResult> {
    let actor = grant.actor();
    let scope = scope_of(actor);
    let mut result = MassResult::default();
    let mut after_id = 0;
    loop {
        let now = clock::now();
        let mut tx = deps.store.begin().await?;
        let batch = muster_store::user_cursor::page_after(&mut tx, &scope, filter, after_id, BATCH).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after_id = last.id;
        let done = reset_batch(&mut tx, deps, actor, ctx, batch, now).await?;
        tx.commit().await?;
        done.add_to(&mut result);
        mail::wake();
    }
    Ok(result)
}

/// *Forgot password*: a link for an enabled account found by username or
/// email. The caller answers the same whether or not one was found, and the
/// work done is the same too, so the time taken does not tell either
/// (finding 6 of issue 18: 2.47 ms vs 1.94 ms before).
///
/// In every case: both lookups (the email one whenever the login has an `@`),
/// the count of recent links, a token and its rendered mail, the INSERTs of the
/// token, the outbox row and the audit event, and a commit. When no mail is
/// due — no such account, a disabled one, or three links in the last quarter
/// hour — those three rows are decoys deleted again in the same transaction:
/// no other transaction ever sees them, no mail leaves, the token was never
/// shown to anyone. Decoys rather than a sleep: equal work stays equal on a
/// slower or busier machine, a sleep would not. `muster-bench --forgot-timing`
/// measures what is left (`crates/bench/src/timing.rs`; release build, shared
/// 2-core machine, 150 + 150 requests): before, medians 0.52 vs 0.23 ms and
/// 1.24 vs 0.60 ms, z = 13.0 and 10.7; with the decoys, medians within 6 to
/// 62 µs of each other, the decoy the slower, z from −0.5 to −2.9 over nine
/// runs (PostgreSQL: z = −0.6). Without the audit decoy, existing accounts
/// were slower again (z up to 6.7); with a hash lookup in place of the token
/// decoy, z from 0.7 to 3.2: the full decoy is kept as the honest "same work".
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn forgot_password(deps: Deps<'_>, ctx: &Ctx, login: &str) -> AppResult<()> {
    let login = login.trim();
    if login.is_empty() {
        return Err(DomainError::invalid("login", "enter your username or email").into());
    }
    let now = clock::now();
    let mut tx = deps.store.begin().await?;
    let settings = Settings::load(&mut tx).await?;
    let by_username = users::find_by_username(&mut tx, login).await?;
    let by_email = if login.contains('@') {
        users::find_by_email(&mut tx, login).await?
    } else {
        None
    };
    let found = by_username.or(by_email).filter(|u| u.enabled);
    // At most 3 links per quarter hour: the form must not flood a mailbox.
    // Counted for user 0 (nobody) too, so the same query runs.
    let recent = resets::count_recent(&mut tx, found.as_ref().map_or(0, |u| u.id), now - 15 * 60_000).await?;
    let target = found.filter(|_| recent < 3);
    let expires = now + settings.get("reset_ttl_forgot_minutes") * 60_000;
    let stand_in;
    let for_user = match &target {
        Some(u) => u,
        None => {
            stand_in = stand_in_user(login, now);
            &stand_in
        }
    };
    let (row, outgoing) = new_token(deps, for_user, expires, false);
    match &target {
        Some(user) => {
            resets::insert_many(&mut tx, &[row], now, expires).await?;
            mail::queue(&mut tx, outgoing, now).await?;
            audit::record(
                &mut tx,
                ctx,
                audit::Entry {
                    action: AuditAction::UserPasswordResetRequested,
                    actor: None,
                    target: Some(user),
                    before: None,
                    after: None,
                },
            )
            .await?;
        }
        None => {
            resets::insert_discarded(&mut tx, &row.0, now, expires).await?;
            muster_store::outbox::enqueue_discarded(&mut tx, &outgoing.into_new(), now).await?;
            store_audit::insert_discarded(
                &mut tx,
                &store_audit::Event {
                    at: now,
                    actor_username: "system".to_owned(),
                    action: AuditAction::UserPasswordResetRequested.code().to_owned(),
                    target_username: for_user.username.clone(),
                    ip: ctx.ip.clone(),
                    ..Default::default()
                },
            )
            .await?;
        }
    }
    tx.commit().await?;
    // No wake-up: the worker finds the mail at its next poll (within a second).
    // Woken now, it would deliver while this response is still being written,
    // competing for the cores only after a real request (not measured apart:
    // it was removed together with the adding of the token and audit decoys).
    Ok(())
}

/// Whom the decoy mail of [`forgot_password`] is rendered for: the login as the
/// name, so the mail has the size a real one would.
fn stand_in_user(login: &str, now: i64) -> User {
    User {
        id: 0,
        username: login.chars().take(64).collect(),
        email: String::new(),
        first_name: login.chars().take(16).collect(),
        last_name: String::new(),
        enabled: true,
        auth_status: AuthStatus::Active,
        failed_login_count: 0,
        login_count: 0,
        last_login_at: None,
        password_hash: String::new(),
        password_changed_at: now,
        created_at: now,
        updated_at: now,
        roles: Vec::new(),
        organizations: Vec::new(),
    }
}

/// The user a reset link is for, if the link can still be used.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn check_token(deps: Deps<'_>, token: &str) -> AppResult<Option<User>> {
    let mut conn = deps.store.conn().await?;
    let Some(t) = resets::find(&mut conn, &sha256_hex(token)).await? else {
        return Ok(None);
    };
    if t.used_at.is_some() || t.expires_at <= clock::now() {
        return Ok(None);
    }
    Ok(users::get(&mut conn, t.user_id).await?.filter(|u| u.enabled))
}

/// Why a reset link was refused.
#[derive(Debug)]
pub enum CompleteError {
    /// Used, expired, unknown, or its user disabled.
    InvalidLink,
    App(AppError),
}

impl<E: Into<AppError>> From<E> for CompleteError {
    fn from(e: E) -> Self {
        CompleteError::App(e.into())
    }
}

/// Set a new password through a reset link: the policy applies, then the
/// status is *Active*, the counter 0, every link of the user spent, and
/// every session ended.
pub async fn complete_reset(deps: Deps<'_>, ctx: &Ctx, token: &str, new_password: &str) -> Result<User, CompleteError> {
    let Some(user) = check_token(deps, token).await? else {
        return Err(CompleteError::InvalidLink);
    };
    let mut conn = deps.store.conn().await?;
    let settings = Settings::load(&mut conn).await?;
    drop(conn);
    let hash = check_and_hash(deps, &settings, &user, new_password).await?;
    let now = clock::now();
    let mut tx = deps.store.begin().await?;
    // The link is spent here, in one statement: of two uses, one wins.
    let Some(user_id) = resets::consume(&mut tx, &sha256_hex(token), now).await? else {
        return Err(CompleteError::InvalidLink);
    };
    let before = reload(&mut tx, user_id).await?;
    if !before.enabled {
        return Err(CompleteError::InvalidLink);
    }
    store_password(&mut tx, &before, &hash, Transition::ResetLinkUsed, now).await?;
    sessions::delete_for_user(&mut tx, user_id, None).await?;
    let after = reload(&mut tx, user_id).await?;
    mail::queue(
        &mut tx,
        messages::password_changed(&after, None, &clock::format(now)),
        now,
    )
    .await?;
    let me = super::auth::actor_for(&mut tx, &after).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserPasswordResetCompleted,
            actor: Some(&me),
            target: Some(&after),
            before: Some(audit::snapshot(&before)),
            after: Some(audit::snapshot(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    mail::wake();
    Ok(after)
}
