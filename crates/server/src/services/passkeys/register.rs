//! Registering a passkey on the profile, and removing one.

use muster_domain::{AuditAction, Error as DomainError};
use muster_store::Store;
use muster_store::login_attempts;
use muster_store::passkeys::{self as store, StoredPasskey};
use muster_store::second_factor::{self as factors, Pending};
use muster_store::users::{self, User};
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential};

use super::{
    NAME_MAX_CHARS, REGISTER, Refused, STEP, credential_key, decode_passkey, encode, list, parse, put, relying_party,
    take, user_handle,
};
use crate::clock;
use crate::error::AppError;
use crate::error::AppResult;
use crate::services::{Ctx, audit};

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
        .map_err(|e| AppError::fault("passkey registration options", e))?;
    put(
        store,
        session,
        REGISTER,
        Some(user.id),
        encode::<PasskeyRegistration>(&state)?,
    )
    .await?;
    let mut options = serde_json::to_value(&options).map_err(|e| AppError::fault("passkey options", e))?;
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
    let actor = crate::services::auth::actor_for(&mut tx, user).await?;
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
#[tracing::instrument(skip_all, fields(id = id, user_id = user.id), err(level = "debug"))]
pub async fn remove(store: &Store, ctx: &Ctx, user: &User, id: i64) -> AppResult<StoredPasskey> {
    let mut tx = store.begin().await?;
    let Some(removed) = store::delete(&mut tx, user.id, id).await? else {
        return Err(AppError::not_found("passkey"));
    };
    let actor = crate::services::auth::actor_for(&mut tx, user).await?;
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

/// Enrolment during sign-in, for a role that requires a factor: a passkey
/// instead of the authenticator app. The registration is bound to the pending
/// sign-in (`pending_token`); once stored, the sign-in is recorded and the
/// pending sign-in ends, as after a first TOTP code.
#[allow(clippy::too_many_arguments)]
pub async fn finish_pending_registration(
    store: &Store,
    public_url: &str,
    ctx: &Ctx,
    p: &Pending,
    pending_token: &str,
    user: &User,
    name: &str,
    answer: &str,
) -> Result<User, Refused> {
    finish_registration(store, public_url, ctx, pending_token, user, name, answer).await?;
    let now = clock::now();
    let mut tx = store.begin().await?;
    if !factors::delete_pending(&mut tx, &p.id_hash).await?
        || !users::record_successful_login(&mut tx, user.id, &user.password_hash, now).await?
    {
        return Err(DomainError::InvalidCredentials.into());
    }
    let attempt = login_attempts::Attempt {
        at: now,
        username: user.username.clone(),
        user_id: Some(user.id),
        source: "web".to_owned(),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.chars().take(500).collect(),
        step: STEP.to_owned(),
        success: true,
        reason: "signed in after registering a passkey".to_owned(),
        ..Default::default()
    };
    login_attempts::insert(&mut tx, &attempt).await?;
    tx.commit().await?;
    crate::metrics::sign_in("web", "success");
    Ok(users::get(&mut *store.conn().await?, user.id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?)
}
