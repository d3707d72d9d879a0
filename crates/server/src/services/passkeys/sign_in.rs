//! A passkey at sign-in: the second step after the password, or (setting
//! `passkey_sign_in`) the whole sign-in with a discoverable credential.

use muster_domain::{Error as DomainError, LoginOutcome, Millis};
use muster_store::passkeys::{self as store, StoredPasskey};
use muster_store::second_factor::{self as factors, Pending};
use muster_store::users::{self, User};
use muster_store::{Store, login_attempts};
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential};

use super::{
    Refused, SECOND_STEP, SIGN_IN, STEP, available, credential_key, decode_passkey, encode, list, parse, put,
    relying_party, take, user_handle,
};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::services::Ctx;
use crate::services::second_factor::CodeRefused;
use crate::settings::Settings;

/// Start the passkey assertion of a pending sign-in (`pending_token` is its raw cookie).
pub async fn start_second_step(
    store: &Store,
    public_url: &str,
    pending_token: &str,
    user: &User,
) -> Result<serde_json::Value, Refused> {
    let rp = relying_party(public_url)?;
    let mut keys = Vec::new();
    for row in list(store, user.id).await? {
        keys.push(decode_passkey(&row)?);
    }
    if keys.is_empty() {
        return Err(Refused::Unavailable("you have no passkey: use your code"));
    }
    let (options, state) = rp
        .start_passkey_authentication(&keys)
        .map_err(|e| AppError::fault("passkey options", e))?;
    put(
        store,
        pending_token,
        SECOND_STEP,
        Some(user.id),
        encode::<PasskeyAuthentication>(&state)?,
    )
    .await?;
    serde_json::to_value(&options).map_err(|e| Refused::App(AppError::fault("passkey options", e)))
}

/// The row of the passkey an assertion names, if it is one of `user_id`'s.
async fn own_passkey(store: &Store, user_id: i64, answer: &PublicKeyCredential) -> AppResult<Option<StoredPasskey>> {
    let row = store::by_credential_id(&mut *store.conn().await?, &credential_key(&answer.raw_id)).await?;
    Ok(row.filter(|r| r.user_id == user_id))
}

/// The second step with a passkey: like a right code, it ends the pending
/// sign-in and records the success; a failed assertion counts like a wrong code.
pub async fn finish_second_step(
    store: &Store,
    public_url: &str,
    ctx: &Ctx,
    p: &Pending,
    pending_token: &str,
    user: &User,
    answer: &str,
) -> Result<User, PasskeyStep> {
    let rp = relying_party(public_url)?;
    let (owner, state): (_, PasskeyAuthentication) = take(store, pending_token, SECOND_STEP).await?;
    if owner != Some(user.id) {
        return Err(Refused::NoCeremony.into());
    }
    let answer: PublicKeyCredential = parse(answer)?;
    let now = clock::now();
    let mut conn = store.conn().await?;
    let settings = Settings::load(&mut conn).await?;
    crate::services::auth::address_pause(&mut conn, &settings, ctx, now).await?;
    drop(conn);
    let verified = match own_passkey(store, user.id, &answer).await? {
        Some(row) => rp
            .finish_passkey_authentication(&answer, &state)
            .ok()
            .map(|result| (row, result)),
        None => None,
    };
    let mut attempt = attempt_row(user, ctx, now);
    if let Some((row, result)) = verified {
        let mut tx = store.begin().await?;
        if !factors::delete_pending(&mut tx, &p.id_hash).await?
            || !users::record_successful_login(&mut tx, user.id, &user.password_hash, now).await?
        {
            return Err(PasskeyStep::Code(CodeRefused::Ended));
        }
        keep_counter(&mut tx, &row, &result).await?;
        attempt.success = true;
        attempt.reason = format!("signed in with the passkey {:?}", row.name);
        login_attempts::insert(&mut tx, &attempt).await?;
        tx.commit().await?;
        crate::metrics::sign_in("web", "success");
        return Ok(fresh(store, user.id).await?);
    }
    let wrong = factors::count_wrong_code(&mut *store.conn().await?, &p.id_hash).await?;
    let locked = count_failure(store, &settings, ctx, user, attempt, now).await?;
    if locked || wrong >= crate::services::second_factor::WRONG_CODES_PER_PENDING {
        factors::delete_pending(&mut *store.conn().await?, &p.id_hash).await?;
        return Err(PasskeyStep::Code(CodeRefused::Ended));
    }
    Err(PasskeyStep::Code(CodeRefused::Wrong))
}

/// What ends a passkey second step: a refusal of the answer itself, or the
/// outcome a code would have had (wrong, or the pending sign-in ended).
#[derive(Debug)]
pub enum PasskeyStep {
    Answer(Refused),
    Code(CodeRefused),
}

impl From<Refused> for PasskeyStep {
    fn from(e: Refused) -> Self {
        PasskeyStep::Answer(e)
    }
}

impl From<AppError> for PasskeyStep {
    fn from(e: AppError) -> Self {
        PasskeyStep::Answer(Refused::App(e))
    }
}

impl From<muster_store::Error> for PasskeyStep {
    fn from(e: muster_store::Error) -> Self {
        PasskeyStep::Answer(e.into())
    }
}

impl From<sqlx::Error> for PasskeyStep {
    fn from(e: sqlx::Error) -> Self {
        PasskeyStep::Answer(e.into())
    }
}

// ---- sign-in with a passkey alone ---------------------------------------------------------

/// Whether the sign-in page offers a passkey alone.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn sign_in_offered(store: &Store, public_url: &str) -> AppResult<bool> {
    if !available(public_url) {
        return Ok(false);
    }
    Ok(Settings::load(&mut *store.conn().await?).await?.flag("passkey_sign_in"))
}

/// Start a sign-in with a discoverable passkey (`browser` is the raw anonymous
/// `muster_passkey` cookie): no user is known yet.
pub async fn start_sign_in(store: &Store, public_url: &str, browser: &str) -> Result<serde_json::Value, Refused> {
    let rp = relying_party(public_url)?;
    if !sign_in_offered(store, public_url).await? {
        return Err(Refused::Unavailable("sign-in with a passkey alone is off"));
    }
    let (options, state) = rp
        .start_discoverable_authentication()
        .map_err(|e| AppError::fault("passkey options", e))?;
    put(
        store,
        browser,
        SIGN_IN,
        None,
        encode::<DiscoverableAuthentication>(&state)?,
    )
    .await?;
    let mut options = serde_json::to_value(&options).map_err(|e| AppError::fault("passkey options", e))?;
    // webauthn-rs asks for conditional mediation (autofill); this is a button.
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    Ok(options)
}

/// Finish a passkey-only sign-in. Every refusal the visitor sees is the same
/// (`InvalidCredentials`, the wrong-password words): an unknown passkey, a
/// disabled, locked or reset account, a failed assertion. A failed assertion
/// of a known user's passkey counts toward their lockout.
pub async fn finish_sign_in(
    store: &Store,
    public_url: &str,
    ctx: &Ctx,
    browser: &str,
    answer: &str,
) -> Result<User, Refused> {
    let rp = relying_party(public_url)?;
    if !sign_in_offered(store, public_url).await? {
        return Err(Refused::Unavailable("sign-in with a passkey alone is off"));
    }
    let (_, state): (_, DiscoverableAuthentication) = take(store, browser, SIGN_IN).await?;
    let answer: PublicKeyCredential = parse(answer)?;
    let now = clock::now();
    let mut conn = store.conn().await?;
    let settings = Settings::load(&mut conn).await?;
    crate::services::auth::address_pause(&mut conn, &settings, ctx, now).await?;
    let row = store::by_credential_id(&mut conn, &credential_key(&answer.raw_id)).await?;
    let user = match &row {
        Some(r) => users::get(&mut conn, r.user_id).await?,
        None => None,
    };
    drop(conn);
    let (Some(row), Some(user)) = (row, user) else {
        let attempt = login_attempts::Attempt {
            at: now,
            source: "web".to_owned(),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.chars().take(500).collect(),
            step: STEP.to_owned(),
            reason: "unknown passkey".to_owned(),
            ..Default::default()
        };
        login_attempts::insert(&mut *store.conn().await?, &attempt).await?;
        crate::metrics::sign_in("web", "unknown_user");
        return Err(DomainError::InvalidCredentials.into());
    };
    // the handle the authenticator holds must be the one registered for this user
    let handle_ok = rp
        .identify_discoverable_authentication(&answer)
        .is_ok_and(|(handle, _)| handle == user_handle(user.id));
    let mut attempt = attempt_row(&user, ctx, now);
    let passkey = decode_passkey(&row)?;
    let result = if handle_ok {
        rp.finish_discoverable_authentication_v2(&answer, state, &passkey).ok()
    } else {
        None
    };
    let Some(result) = result else {
        count_failure(store, &settings, ctx, &user, attempt, now).await?;
        return Err(DomainError::InvalidCredentials.into());
    };
    let policy = settings.lockout();
    if !matches!(
        policy.decide(user.enabled, user.auth_status, user.failed_login_count, true),
        LoginOutcome::Success
    ) {
        attempt.reason = crate::services::auth::refusal_reason(&user).into();
        login_attempts::insert(&mut *store.conn().await?, &attempt).await?;
        crate::metrics::sign_in("web", "refused");
        return Err(DomainError::InvalidCredentials.into());
    }
    let mut tx = store.begin().await?;
    if !users::record_successful_login(&mut tx, user.id, &user.password_hash, now).await? {
        attempt.reason = "account changed during sign-in".into();
        login_attempts::insert(&mut tx, &attempt).await?;
        tx.commit().await?;
        return Err(DomainError::InvalidCredentials.into());
    }
    keep_counter(&mut tx, &row, &result).await?;
    attempt.success = true;
    attempt.reason = format!("signed in with the passkey {:?} alone", row.name);
    login_attempts::insert(&mut tx, &attempt).await?;
    tx.commit().await?;
    crate::metrics::sign_in("web", "success");
    Ok(fresh(store, user.id).await?)
}

// ---- shared by both sign-ins ----------------------------------------------------------------

fn attempt_row(user: &User, ctx: &Ctx, now: Millis) -> login_attempts::Attempt {
    login_attempts::Attempt {
        at: now,
        username: user.username.clone(),
        user_id: Some(user.id),
        source: "web".to_owned(),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.chars().take(500).collect(),
        step: STEP.to_owned(),
        ..Default::default()
    }
}

/// A failed assertion of a known user: counted like a wrong password (or only
/// recorded, for an account that cannot sign in anyway). Whether it locked.
async fn count_failure(
    store: &Store,
    settings: &Settings,
    ctx: &Ctx,
    user: &User,
    mut attempt: login_attempts::Attempt,
    now: Millis,
) -> AppResult<bool> {
    crate::metrics::sign_in("web", "wrong_code");
    let policy = settings.lockout();
    match policy.decide(user.enabled, user.auth_status, user.failed_login_count, false) {
        LoginOutcome::Failed { .. } => {
            crate::services::auth::record_failure(store, ctx, user, policy.limit, attempt, "passkey refused", now).await
        }
        _ => {
            attempt.reason = crate::services::auth::refusal_reason(user).into();
            login_attempts::insert(&mut *store.conn().await?, &attempt).await?;
            Ok(true)
        }
    }
}

/// Keep the passkey's new signature counter (and backup flags).
async fn keep_counter(
    conn: &mut muster_store::Conn,
    row: &StoredPasskey,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> AppResult<()> {
    let mut passkey = decode_passkey(row)?;
    if passkey.update_credential(result) == Some(true) {
        store::update_credential(conn, row.id, &encode(&passkey)?).await?;
    }
    Ok(())
}

async fn fresh(store: &Store, id: i64) -> AppResult<User> {
    users::get(&mut *store.conn().await?, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))
}
