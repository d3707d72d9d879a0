//! The second factor: enrolment (a TOTP secret confirmed by a first code,
//! then ten recovery codes shown once), the second step of a sign-in, and the
//! administrator's *Reset two-factor*. The rule of when a code is asked is
//! `muster_domain::second_factor`; the lockout is the password's own
//! (`auth::record_failure`): a wrong code counts exactly like a wrong password.

use muster_domain::permission::perm;
use muster_domain::second_factor::{AfterPassword, after_password as rule_after_password};
use muster_domain::{Action, Allowed, AuditAction, Error as DomainError, LoginOutcome, Millis};
use muster_store::second_factor::{self as store, Pending};
use muster_store::users::{self, User};
use muster_store::{Conn, Store, login_attempts};

use super::users::{Target, load_target};
use super::{Ctx, audit};
use crate::clock;
use crate::crypto::{random_token, sha256_hex};
use crate::error::{AppError, AppResult};
use crate::settings::Settings;
use crate::totp;

/// A code step waits this long for its code.
pub const CODE_TTL_MS: Millis = 5 * 60_000;
/// Enrolment during sign-in takes longer: the app must be installed and the code scanned.
pub const ENROL_TTL_MS: Millis = 15 * 60_000;
/// Wrong codes one pending sign-in takes before the password must be entered
/// again (each also counts toward the account's lockout).
pub const WRONG_CODES_PER_PENDING: i64 = 5;

pub const STAGE_CODE: &str = "code";
pub const STAGE_ENROL: &str = "enrol";

/// What comes after `user`'s right password.
#[tracing::instrument(skip_all, fields(user_id = user.id), err(level = "debug"))]
pub async fn after_password(conn: &mut Conn, settings: &Settings, user: &User) -> AppResult<AfterPassword> {
    let rule = settings.second_factor_rule(&user.roles);
    Ok(rule_after_password(rule, store::has_factor(conn, user.id).await?))
}

/// A user's second factor as their profile shows it.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub enrolled: bool,
    /// Whether the profile offers to set one up (the role's rule is not *off*).
    pub offered: bool,
    pub required: bool,
    pub recovery_codes_left: i64,
    /// An authenticator app is set up (`enrolled` also counts passkeys).
    pub totp: bool,
    pub passkeys: Vec<muster_store::passkeys::StoredPasskey>,
    /// Whether passkeys work with this installation's public URL.
    pub passkeys_available: bool,
}

#[tracing::instrument(skip_all, fields(user_id = user.id), err(level = "debug"))]
pub async fn status(store: &Store, public_url: &str, user: &User) -> AppResult<Status> {
    let mut conn = store.conn().await?;
    let rule = Settings::load(&mut conn).await?.second_factor_rule(&user.roles);
    Ok(Status {
        enrolled: store::has_factor(&mut conn, user.id).await?,
        offered: rule.offers_enrolment(),
        required: rule == muster_domain::second_factor::FactorRule::Required,
        recovery_codes_left: store::recovery_codes_left(&mut conn, user.id).await?,
        totp: store::totp(&mut conn, user.id)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some()),
        passkeys: muster_store::passkeys::list(&mut conn, user.id).await?,
        passkeys_available: super::passkeys::available(public_url),
    })
}

/// The ways a user can pass the second step.
#[derive(Debug, Clone, Copy)]
pub struct Ways {
    pub totp: bool,
    pub passkey: bool,
}

#[tracing::instrument(skip_all, fields(user_id = user_id), err(level = "debug"))]
pub async fn ways(store: &Store, public_url: &str, user_id: i64) -> AppResult<Ways> {
    let mut conn = store.conn().await?;
    Ok(Ways {
        totp: store::totp(&mut conn, user_id)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some()),
        passkey: super::passkeys::available(public_url)
            && !muster_store::passkeys::list(&mut conn, user_id).await?.is_empty(),
    })
}

#[tracing::instrument(skip_all, fields(user_id = user_id), err(level = "debug"))]
pub async fn has_factor(store: &Store, user_id: i64) -> AppResult<bool> {
    Ok(store::has_factor(&mut *store.conn().await?, user_id).await?)
}

/// Which of these users have a second factor (the grid's column).
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn with_factor(store: &Store, user_ids: &[i64]) -> AppResult<Vec<i64>> {
    Ok(store::with_factor(&mut *store.conn().await?, user_ids).await?)
}

/// What the enrolment page shows: the QR code and the same secret as text.
#[derive(Clone)]
pub struct Enrolment {
    pub secret: String,
    pub qr_data_url: String,
}

/// Start (or show again) the enrolment of `user`: the unconfirmed secret is
/// kept, so a reload or a wrong first code shows the same QR code.
#[tracing::instrument(skip_all, fields(user_id = user.id), err(level = "debug"))]
pub async fn enrolment(store: &Store, user: &User) -> AppResult<Enrolment> {
    let mut tx = store.begin().await?;
    let rule = Settings::load(&mut tx).await?.second_factor_rule(&user.roles);
    let secret = match store::totp(&mut tx, user.id).await? {
        Some(t) if t.confirmed_at.is_some() => {
            return Err(DomainError::Refused(
                "two-factor sign-in is already set up; an administrator can reset it".into(),
            )
            .into());
        }
        Some(t) => t.secret,
        None => {
            if !rule.offers_enrolment() {
                return Err(DomainError::Forbidden("two-factor sign-in is off for your role".into()).into());
            }
            let secret = totp::new_secret();
            if !store::begin_totp(&mut tx, user.id, &secret, clock::now()).await? {
                return Err(DomainError::Refused("two-factor sign-in is already set up".into()).into());
            }
            secret
        }
    };
    tx.commit().await?;
    let uri = totp::otpauth_uri(&secret, &user.username);
    let qr_data_url = totp::qr_data_url(&uri).ok_or_else(|| AppError::Internal("QR code".into()))?;
    Ok(Enrolment { secret, qr_data_url })
}

/// Confirm the enrolment with a first code. Returns the ten recovery codes,
/// in clear for the one page that shows them; only their hashes are stored.
#[tracing::instrument(skip_all, fields(user_id = user.id), err(level = "debug"))]
pub async fn confirm(store: &Store, ctx: &Ctx, user: &User, code: &str) -> AppResult<Vec<String>> {
    let now = clock::now();
    let mut tx = store.begin().await?;
    let Some(pending) = store::totp(&mut tx, user.id)
        .await?
        .filter(|t| t.confirmed_at.is_none())
    else {
        return Err(DomainError::Refused("there is no set-up in progress; start again".into()).into());
    };
    let Some(step) = totp::matching_step(&pending.secret, code, now / 1000) else {
        return Err(DomainError::invalid(
            "code",
            "that is not the current code of this secret: check the six digits and the time of your device",
        )
        .into());
    };
    if !store::confirm_totp(&mut tx, user.id, &pending.secret, step, now).await? {
        return Err(DomainError::Refused("the set-up changed meanwhile; start again".into()).into());
    }
    let codes: Vec<String> = (0..totp::RECOVERY_CODES).map(|_| totp::new_recovery_code()).collect();
    let hashes: Vec<String> = codes.iter().filter_map(|c| totp::recovery_code_hash(c)).collect();
    store::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
    let actor = super::auth::actor_for(&mut tx, user).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserSecondFactorEnrolled,
            actor: Some(&actor),
            target: Some(user),
            before: None,
            after: Some(serde_json::json!({"kind": store::TOTP})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Start the second step after the right password: a pending sign-in row and
/// the raw id for its cookie.
#[tracing::instrument(skip_all, fields(user_id = user.id), err(level = "debug"))]
pub async fn begin_pending(store: &Store, user: &User, next: AfterPassword, to: &str) -> AppResult<String> {
    let token = random_token(32);
    let now = clock::now();
    let (stage, ttl) = match next {
        AfterPassword::Enrol => (STAGE_ENROL, ENROL_TTL_MS),
        _ => (STAGE_CODE, CODE_TTL_MS),
    };
    // expired rows are ignored by `pending` and swept by the mail worker's cleanup
    let mut conn = store.conn().await?;
    store::create_pending(
        &mut conn,
        &Pending {
            id_hash: sha256_hex(&token),
            user_id: user.id,
            stage: stage.to_owned(),
            password_hash_sha256: sha256_hex(&user.password_hash),
            next: to.to_owned(),
            wrong_codes: 0,
            expires_at: now + ttl,
        },
        now,
    )
    .await?;
    Ok(token)
}

/// The pending sign-in of a cookie and its user, if both still stand: not
/// expired, the user still allowed to sign in, the password unchanged.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn pending(store: &Store, token: &str) -> AppResult<Option<(Pending, User)>> {
    let mut conn = store.conn().await?;
    let Some(p) = store::pending(&mut conn, &sha256_hex(token), clock::now()).await? else {
        return Ok(None);
    };
    let user = users::get(&mut conn, p.user_id).await?;
    match user {
        Some(u) if u.can_sign_in() && sha256_hex(&u.password_hash) == p.password_hash_sha256 => Ok(Some((p, u))),
        _ => {
            store::delete_pending(&mut conn, &p.id_hash).await?;
            Ok(None)
        }
    }
}

#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn cancel(store: &Store, token: &str) -> AppResult<()> {
    store::delete_pending(&mut *store.conn().await?, &sha256_hex(token)).await?;
    Ok(())
}

/// The login attempt row of a second step (web only: API keys have no second factor).
fn second_step_attempt(user: &User, ctx: &Ctx, now: Millis) -> login_attempts::Attempt {
    login_attempts::Attempt {
        at: now,
        username: user.username.clone(),
        user_id: Some(user.id),
        source: "web".to_owned(),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.chars().take(500).collect(),
        step: "second_factor".to_owned(),
        ..Default::default()
    }
}

/// Why a code did not sign the user in.
#[derive(Debug)]
pub enum CodeRefused {
    /// Wrong, replayed or used: the pending sign-in goes on.
    Wrong,
    /// The pending sign-in ended (locked, too many wrong codes, account changed): sign in again.
    Ended,
    App(AppError),
}

impl From<AppError> for CodeRefused {
    fn from(e: AppError) -> Self {
        CodeRefused::App(e)
    }
}

impl From<muster_store::Error> for CodeRefused {
    fn from(e: muster_store::Error) -> Self {
        CodeRefused::App(e.into())
    }
}

impl From<sqlx::Error> for CodeRefused {
    fn from(e: sqlx::Error) -> Self {
        CodeRefused::App(e.into())
    }
}

/// The second step: a TOTP code (accepted once per step) or a recovery code
/// (accepted once). Success records the sign-in (login count, failed count to
/// 0, a successful attempt) and ends the pending sign-in; a wrong code counts
/// toward the lockout like a wrong password.
pub async fn verify_code(store: &Store, ctx: &Ctx, p: &Pending, user: &User, code: &str) -> Result<User, CodeRefused> {
    let mut conn = store.conn().await?;
    let settings = Settings::load(&mut conn).await?;
    let now = clock::now();
    super::auth::address_pause(&mut conn, &settings, ctx, now).await?;
    let factor = store::totp(&mut conn, user.id)
        .await?
        .filter(|t| t.confirmed_at.is_some());
    drop(conn);
    let mut attempt = second_step_attempt(user, ctx, now);
    let mut tx = store.begin().await?;
    let (accepted, how) = match (&factor, totp::is_totp_code(code)) {
        (Some(f), true) => match totp::matching_step(&f.secret, code, now / 1000) {
            Some(step) if store::accept_step(&mut tx, user.id, step).await? => (true, "code"),
            Some(_) => (false, "code already used"),
            None => (false, "wrong code"),
        },
        _ => match totp::recovery_code_hash(code) {
            Some(h) if store::use_recovery_code(&mut tx, user.id, &h, now).await? => (true, "recovery code"),
            _ => (false, "wrong code"),
        },
    };
    if accepted {
        // the password is the one checked at the first step, and the account still active
        if !store::delete_pending(&mut tx, &p.id_hash).await?
            || !users::record_successful_login(&mut tx, user.id, &user.password_hash, now).await?
        {
            return Err(CodeRefused::Ended);
        }
        attempt.success = true;
        attempt.reason = format!("signed in with a {how}");
        login_attempts::insert(&mut tx, &attempt).await?;
        tx.commit().await?;
        crate::metrics::sign_in("web", "success");
        let fresh = users::get(&mut *store.conn().await?, user.id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        return Ok(fresh);
    }
    let wrong = store::count_wrong_code(&mut tx, &p.id_hash).await?;
    tx.commit().await?;
    let policy = settings.lockout();
    let locked = match policy.decide(user.enabled, user.auth_status, user.failed_login_count, false) {
        LoginOutcome::Failed { .. } => {
            super::auth::record_failure(store, ctx, user, policy.limit, attempt, how, now).await?
        }
        _ => {
            attempt.reason = super::auth::refusal_reason(user).into();
            login_attempts::insert(&mut *store.conn().await?, &attempt).await?;
            true
        }
    };
    crate::metrics::sign_in("web", "wrong_code");
    if locked || wrong >= WRONG_CODES_PER_PENDING {
        store::delete_pending(&mut *store.conn().await?, &p.id_hash).await?;
        return Err(CodeRefused::Ended);
    }
    Err(CodeRefused::Wrong)
}

/// Enrolment during sign-in, for a role that requires a factor: confirm the
/// first code, record the sign-in, end the pending sign-in. Returns the user
/// and their recovery codes.
#[tracing::instrument(skip_all, fields(user_id = user.id), err(level = "debug"))]
pub async fn confirm_pending(
    store: &Store,
    ctx: &Ctx,
    p: &Pending,
    user: &User,
    code: &str,
) -> AppResult<(User, Vec<String>)> {
    let codes = confirm(store, ctx, user, code).await?;
    let now = clock::now();
    let mut tx = store.begin().await?;
    if !store::delete_pending(&mut tx, &p.id_hash).await?
        || !users::record_successful_login(&mut tx, user.id, &user.password_hash, now).await?
    {
        return Err(DomainError::InvalidCredentials.into());
    }
    let mut attempt = second_step_attempt(user, ctx, now);
    attempt.success = true;
    attempt.reason = "signed in after setting up two-factor sign-in".into();
    login_attempts::insert(&mut tx, &attempt).await?;
    tx.commit().await?;
    crate::metrics::sign_in("web", "success");
    let fresh = users::get(&mut *store.conn().await?, user.id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    Ok((fresh, codes))
}

/// *Reset two-factor*: remove every factor and recovery code of a user (and
/// any sign-in waiting for a code), audited, and mail the user. The next
/// sign-in asks for enrolment if their role requires a factor.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn reset(store: &Store, grant: &Allowed<perm::ResetPasswords>, ctx: &Ctx, id: i64) -> AppResult<User> {
    let mut tx = store.begin().await?;
    let Target { user, proof } = load_target(&mut tx, grant, Action::ResetSecondFactor, id).await?;
    let removed = store::delete_for_user(&mut tx, proof.target_id()).await?;
    if removed == 0 {
        return Err(DomainError::Refused(format!("{} has no two-factor sign-in to reset", user.username)).into());
    }
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserSecondFactorReset,
            actor: Some(grant.actor()),
            target: Some(&user),
            before: Some(serde_json::json!({"secondFactor": true})),
            after: Some(serde_json::json!({"secondFactor": false})),
        },
    )
    .await?;
    let mail = crate::mail::messages::second_factor_reset(&user, &grant.actor().username);
    crate::mail::queue(&mut tx, mail, clock::now()).await?;
    tx.commit().await?;
    crate::mail::wake();
    Ok(user)
}
