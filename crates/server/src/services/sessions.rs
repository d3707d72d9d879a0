//! A user's signed-in sessions, as an administrator sees and ends them (like
//! Keycloak's and Authentik's "sessions" tab). Ending a session signs that
//! browser out at its next request; it is audited.
//!
//! The rule is the one for Disable (`Action::Disable`): whoever may lock a
//! user out may also sign them out; a User Manager may not sign an
//! Administrator out, and ids outside the actor's organizations are not found.

use muster_domain::permission::perm;
use muster_domain::{Action, Actor, Allowed, AuditAction, Error as DomainError};
use muster_store::sessions::{self, PUBLIC_ID_LEN, SessionInfo};
use muster_store::{Store, users::User};

use super::users::{load_target, may};
use super::{Ctx, audit};
use crate::clock;
use crate::error::{AppError, AppResult};

/// Whether `actor` may see and end the sessions of `user` (a user already
/// shown to them): what the user page offers.
pub fn may_manage(actor: &Actor, user: &User) -> bool {
    may(actor, Action::Disable, user)
}

/// The live sessions of a user the actor may manage.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn list(store: &Store, grant: &Allowed<perm::EnableDisable>, id: i64) -> AppResult<Vec<SessionInfo>> {
    let mut conn = store.conn().await?;
    let target = load_target(&mut conn, grant, Action::Disable, id).await?;
    Ok(sessions::list_for_user(&mut conn, target.id(), clock::now()).await?)
}

/// A public id as the forms send it: 16 lowercase hex digits, or a field error.
pub fn parse_public_id(raw: &str) -> AppResult<String> {
    let s = raw.trim().to_ascii_lowercase();
    if s.len() == PUBLIC_ID_LEN && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s)
    } else {
        Err(DomainError::invalid("session", "choose a session from the list").into())
    }
}

/// End one session of user `id`; a session that is already gone is "not found".
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn end_one(
    store: &Store,
    grant: &Allowed<perm::EnableDisable>,
    ctx: &Ctx,
    id: i64,
    public_id: &str,
) -> AppResult<User> {
    let public_id = parse_public_id(public_id)?;
    let mut tx = store.begin().await?;
    let target = load_target(&mut tx, grant, Action::Disable, id).await?;
    if sessions::delete_by_public_id(&mut tx, target.id(), &public_id).await? == 0 {
        return Err(AppError::not_found("session"));
    }
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::SessionEnded,
            actor: Some(grant.actor()),
            target: Some(&target.user),
            before: None,
            after: Some(serde_json::json!({ "session": public_id })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(target.user)
}

/// End every session of user `id`; how many ended.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn end_all(
    store: &Store,
    grant: &Allowed<perm::EnableDisable>,
    ctx: &Ctx,
    id: i64,
) -> AppResult<(User, u64)> {
    let mut tx = store.begin().await?;
    let target = load_target(&mut tx, grant, Action::Disable, id).await?;
    let n = sessions::delete_for_user(&mut tx, target.id(), None).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::SessionsEnded,
            actor: Some(grant.actor()),
            target: Some(&target.user),
            before: None,
            after: Some(serde_json::json!({ "sessions": n })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((target.user, n))
}
