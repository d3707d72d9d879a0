//! Passkeys (WebAuthn, with webauthn-rs): registered on the profile, asked as
//! the second step of a sign-in beside the TOTP code, or (setting
//! `passkey_sign_in`) the whole sign-in as a discoverable credential.
//!
//! Each ceremony is two requests: the options (a challenge) and the browser's
//! answer. Its state lives in `passkey_ceremonies`, bound to the SHA-256 of
//! the cookie it was started under (session, pending sign-in, or the anonymous
//! `muster_passkey` cookie), so any instance takes the answer; the answer
//! consumes it (no replay), and it lasts [`CEREMONY_TTL_MS`].
//!
//! A failed assertion for a known user counts toward the lockout exactly like
//! a wrong password or code (`auth::record_failure`).

use muster_domain::{AuditAction, Error as DomainError, LoginOutcome, Millis};
use muster_store::passkeys::{self as store, StoredPasskey};
use muster_store::second_factor::{self as factors, Pending};
use muster_store::users::{self, User};
use muster_store::{Store, login_attempts};
use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::second_factor::CodeRefused;
use super::{Ctx, audit};
use crate::clock;
use crate::crypto::sha256_hex;
use crate::error::{AppError, AppResult};
use crate::settings::Settings;

/// A ceremony waits this long for the browser's answer (the authenticator's own timeout is 5 minutes).
pub const CEREMONY_TTL_MS: Millis = 5 * 60_000;
/// A passkey's name, as the profile lists it.
pub const NAME_MAX_CHARS: usize = 100;

const REGISTER: &str = "register";
const SECOND_STEP: &str = "second_step";
const SIGN_IN: &str = "sign_in";
/// The `step` of login attempts decided by a passkey.
const STEP: &str = "passkey";

/// Why a passkey answer was not taken.
#[derive(Debug)]
pub enum Refused {
    /// No ceremony for this cookie: never started, already answered, or expired.
    NoCeremony,
    /// Not a WebAuthn answer at all (400): the message says what is wrong.
    Malformed(String),
    /// A well-formed answer that does not verify, or a passkey that is not
    /// registered (here, or to this user).
    Rejected,
    /// Passkeys cannot work with this public URL, or are turned off.
    Unavailable(&'static str),
    App(AppError),
}

impl From<AppError> for Refused {
    fn from(e: AppError) -> Self {
        Refused::App(e)
    }
}

impl From<DomainError> for Refused {
    fn from(e: DomainError) -> Self {
        Refused::App(e.into())
    }
}

impl From<muster_store::Error> for Refused {
    fn from(e: muster_store::Error) -> Self {
        Refused::App(e.into())
    }
}

impl From<sqlx::Error> for Refused {
    fn from(e: sqlx::Error) -> Self {
        Refused::App(e.into())
    }
}

/// The relying party of this installation: its id is the host of the public
/// URL, its origin the public URL's. WebAuthn needs a secure context and a
/// domain name: `https://…`, or `http://localhost:PORT` for trying it out.
/// An IP address (`http://127.0.0.1:8080`) cannot be a relying party id.
pub fn relying_party(public_url: &str) -> Result<Webauthn, Refused> {
    const WHY: &str = "passkeys need the public URL of muster to be https:// with a domain name (or http://localhost)";
    let url = Url::parse(public_url).map_err(|_| Refused::Unavailable(WHY))?;
    let Some(host) = url.domain() else {
        return Err(Refused::Unavailable(WHY));
    };
    if url.scheme() != "https" && host != "localhost" {
        return Err(Refused::Unavailable(WHY));
    }
    WebauthnBuilder::new(host, &url)
        .and_then(|b| b.rp_name("muster").build())
        .map_err(|_| Refused::Unavailable(WHY))
}

/// Whether this installation can use passkeys at all (the profile hides them otherwise).
pub fn available(public_url: &str) -> bool {
    relying_party(public_url).is_ok()
}

/// The WebAuthn user handle of a user: their id, in a UUID's 16 bytes. Stable,
/// and no personal data (the spec asks for neither name nor email there).
fn user_handle(user_id: i64) -> Uuid {
    Uuid::from_u64_pair(0, user_id.unsigned_abs())
}

fn credential_key(raw_id: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw_id)
}

fn parse<T: DeserializeOwned>(json: &str) -> Result<T, Refused> {
    serde_json::from_str(json).map_err(|e| Refused::Malformed(format!("this is not a WebAuthn answer ({e})")))
}

fn decode_passkey(row: &StoredPasskey) -> AppResult<Passkey> {
    serde_json::from_str(&row.credential).map_err(|_| AppError::Internal(format!("passkey {} is unreadable", row.id)))
}

fn encode<T: serde::Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(|_| AppError::Internal("passkey state".into()))
}

async fn put(store: &Store, owner: &str, purpose: &str, user_id: Option<i64>, state: String) -> AppResult<()> {
    let expires = clock::now() + CEREMONY_TTL_MS;
    store::put_ceremony(
        &mut *store.conn().await?,
        &sha256_hex(owner),
        purpose,
        user_id,
        &state,
        expires,
    )
    .await?;
    Ok(())
}

/// Take the ceremony of `owner` for `purpose`: gone or expired is [`Refused::NoCeremony`].
async fn take<T: DeserializeOwned>(store: &Store, owner: &str, purpose: &str) -> Result<(Option<i64>, T), Refused> {
    let taken = store::take_ceremony(&mut *store.conn().await?, &sha256_hex(owner), purpose).await?;
    match taken {
        Some(c) if c.expires_at > clock::now() => {
            let state = serde_json::from_str(&c.state).map_err(|_| AppError::Internal("passkey state".into()))?;
            Ok((c.user_id, state))
        }
        _ => Err(Refused::NoCeremony),
    }
}

/// A user's passkeys, as the profile lists them.
pub async fn list(store: &Store, user_id: i64) -> AppResult<Vec<StoredPasskey>> {
    Ok(store::list(&mut *store.conn().await?, user_id).await?)
}

// ---- registration (profile) -------------------------------------------------------------

/// Start registering a passkey for the signed-in `user` (`session` is their
/// raw session cookie). Returns the options for `navigator.credentials.create`.
pub async fn start_registration(
    store: &Store,
    public_url: &str,
    session: &str,
    user: &User,
) -> Result<serde_json::Value, Refused> {
    let rp = relying_party(public_url)?;
    let existing = list(store, user.id).await?;
    let mut exclude = Vec::with_capacity(existing.len());
    for row in &existing {
        exclude.push(decode_passkey(row)?.cred_id().clone());
    }
    let display = format!("{} {}", user.first_name, user.last_name);
    let (options, state) = rp
        .start_passkey_registration(user_handle(user.id), &user.username, display.trim(), Some(exclude))
        .map_err(|e| AppError::Internal(format!("passkey registration options: {e}")))?;
    put(
        store,
        session,
        REGISTER,
        Some(user.id),
        encode::<PasskeyRegistration>(&state)?,
    )
    .await?;
    let mut options = serde_json::to_value(&options).map_err(|_| AppError::Internal("passkey options".into()))?;
    // webauthn-rs leaves the resident key to the authenticator; a passkey that
    // can sign in alone must be discoverable, so ask for one.
    if let Some(sel) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(|v| v.as_object_mut())
    {
        sel.insert("residentKey".into(), "required".into());
        sel.insert("requireResidentKey".into(), true.into());
    }
    Ok(options)
}

/// Finish the registration with the browser's answer; the passkey is stored
/// under `name`, audited like a TOTP enrolment.
pub async fn finish_registration(
    store: &Store,
    public_url: &str,
    ctx: &Ctx,
    session: &str,
    user: &User,
    name: &str,
    answer: &str,
) -> Result<StoredPasskey, Refused> {
    let rp = relying_party(public_url)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(Refused::Malformed(format!(
            "give the passkey a name of 1 to {NAME_MAX_CHARS} characters"
        )));
    }
    let (owner, state): (_, PasskeyRegistration) = take(store, session, REGISTER).await?;
    if owner != Some(user.id) {
        return Err(Refused::NoCeremony);
    }
    let answer: RegisterPublicKeyCredential = parse(answer)?;
    let passkey = rp
        .finish_passkey_registration(&answer, &state)
        .map_err(|_| Refused::Rejected)?;
    let key = credential_key(passkey.cred_id());
    let now = clock::now();
    let mut tx = store.begin().await?;
    if !store::insert(&mut tx, user.id, name, &key, &encode(&passkey)?, now).await? {
        return Err(Refused::Malformed("this passkey is already registered".into()));
    }
    let actor = super::auth::actor_for(&mut tx, user).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserSecondFactorEnrolled,
            actor: Some(&actor),
            target: Some(user),
            before: None,
            after: Some(serde_json::json!({"kind": store::PASSKEY, "name": name})),
        },
    )
    .await?;
    tx.commit().await?;
    let added = store::by_credential_id(&mut *store.conn().await?, &key)
        .await?
        .ok_or_else(|| AppError::not_found("passkey"))?;
    Ok(added)
}

/// Remove one of the user's own passkeys, audited. Not found if it is not theirs.
pub async fn remove(store: &Store, ctx: &Ctx, user: &User, id: i64) -> AppResult<StoredPasskey> {
    let mut tx = store.begin().await?;
    let Some(removed) = store::delete(&mut tx, user.id, id).await? else {
        return Err(AppError::not_found("passkey"));
    };
    let actor = super::auth::actor_for(&mut tx, user).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserSecondFactorRemoved,
            actor: Some(&actor),
            target: Some(user),
            before: Some(serde_json::json!({"kind": store::PASSKEY, "name": removed.name})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}

// ---- the second step of a sign-in --------------------------------------------------------

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
        .map_err(|e| AppError::Internal(format!("passkey options: {e}")))?;
    put(
        store,
        pending_token,
        SECOND_STEP,
        Some(user.id),
        encode::<PasskeyAuthentication>(&state)?,
    )
    .await?;
    serde_json::to_value(&options).map_err(|_| Refused::App(AppError::Internal("passkey options".into())))
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
    super::auth::address_pause(&mut conn, &settings, ctx, now).await?;
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
    if locked || wrong >= super::second_factor::WRONG_CODES_PER_PENDING {
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
        .map_err(|e| AppError::Internal(format!("passkey options: {e}")))?;
    put(
        store,
        browser,
        SIGN_IN,
        None,
        encode::<DiscoverableAuthentication>(&state)?,
    )
    .await?;
    let mut options = serde_json::to_value(&options).map_err(|_| AppError::Internal("passkey options".into()))?;
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
    super::auth::address_pause(&mut conn, &settings, ctx, now).await?;
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
        attempt.reason = super::auth::refusal_reason(&user).into();
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
            super::auth::record_failure(store, ctx, user, policy.limit, attempt, "passkey refused", now).await
        }
        _ => {
            attempt.reason = super::auth::refusal_reason(user).into();
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
