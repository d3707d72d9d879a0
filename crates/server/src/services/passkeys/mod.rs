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

use muster_domain::{Error as DomainError, Millis};
use muster_store::Store;
use muster_store::passkeys::{self as store, StoredPasskey};
use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{Passkey, Url, Uuid, Webauthn, WebauthnBuilder};

use crate::clock;
use crate::crypto::sha256_hex;
use crate::error::{AppError, AppResult};

/// A ceremony waits this long for the browser's answer (the authenticator's own timeout is 5 minutes).
pub const CEREMONY_TTL_MS: Millis = 5 * 60_000;
/// A passkey's name, as the profile lists it.
pub const NAME_MAX_CHARS: usize = 100;

pub(super) const REGISTER: &str = "register";
pub(super) const SECOND_STEP: &str = "second_step";
pub(super) const SIGN_IN: &str = "sign_in";
/// The `step` of login attempts decided by a passkey.
pub(super) const STEP: &str = "passkey";

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
pub(super) fn user_handle(user_id: i64) -> Uuid {
    Uuid::from_u64_pair(0, user_id.unsigned_abs())
}

pub(super) fn credential_key(raw_id: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw_id)
}

pub(super) fn parse<T: DeserializeOwned>(json: &str) -> Result<T, Refused> {
    serde_json::from_str(json).map_err(|e| Refused::Malformed(format!("this is not a WebAuthn answer ({e})")))
}

pub(super) fn decode_passkey(row: &StoredPasskey) -> AppResult<Passkey> {
    serde_json::from_str(&row.credential).map_err(|e| AppError::fault(format!("passkey {} is unreadable", row.id), e))
}

pub(super) fn encode<T: serde::Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(|e| AppError::fault("passkey state", e))
}

pub(super) async fn put(
    store: &Store,
    owner: &str,
    purpose: &str,
    user_id: Option<i64>,
    state: String,
) -> AppResult<()> {
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
pub(super) async fn take<T: DeserializeOwned>(
    store: &Store,
    owner: &str,
    purpose: &str,
) -> Result<(Option<i64>, T), Refused> {
    let taken = store::take_ceremony(&mut *store.conn().await?, &sha256_hex(owner), purpose).await?;
    match taken {
        Some(c) if c.expires_at > clock::now() => {
            let state = serde_json::from_str(&c.state).map_err(|e| AppError::fault("passkey state", e))?;
            Ok((c.user_id, state))
        }
        _ => Err(Refused::NoCeremony),
    }
}

/// A user's passkeys, as the profile lists them.
#[tracing::instrument(skip_all, fields(user_id = user_id), err(level = "debug"))]
pub async fn list(store: &Store, user_id: i64) -> AppResult<Vec<StoredPasskey>> {
    Ok(store::list(&mut *store.conn().await?, user_id).await?)
}

mod register;
mod sign_in;

pub use register::{finish_pending_registration, finish_registration, remove, start_registration};
pub use sign_in::{PasskeyStep, finish_second_step, finish_sign_in, sign_in_offered, start_second_step, start_sign_in};
