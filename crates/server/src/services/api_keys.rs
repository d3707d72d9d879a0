//! API keys: `mk_` and 32 random bytes in URL-safe base64. Only the SHA-256
//! of a key is stored, and a request's key is found by that hash: a key has
//! 256 bits of entropy, so a slow hash (Argon2) would add nothing but cost.
//!
//! A key belongs to one user in one organization and acts within that
//! organization only. Generating again replaces it. A key works only while
//! its user may sign in (enabled and active) and still belongs to its
//! organization.

use muster_domain::AuditAction;
use muster_domain::permission::perm;
use muster_domain::{Action, Actor, Error as DomainError, Millis};
use muster_store::api_keys::{self, ApiKey};
use muster_store::users::User;
use muster_store::{Conn, Store, login_attempts, organizations, users};

use super::users::load_target;
use super::{Ctx, audit};
use crate::clock;
use crate::crypto::{random_token, sha256_hex};
use crate::error::{AppError, AppResult};

/// Every key starts with this, so a leaked key is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "mk_";
/// `mk_` and 43 characters of base64url.
pub const KEY_LENGTH: usize = 46;
/// How much of a key is kept in clear to tell keys apart in the UI.
const SHOWN_PREFIX: usize = 10;

/// A key just made; the secret exists only in this value.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub secret: String,
    pub key: ApiKey,
    pub organization_name: String,
    pub user: User,
}

/// One organization where the actor may see or manage the target's key.
#[derive(Debug, Clone)]
pub struct KeySlot {
    pub organization_id: i64,
    pub organization_name: String,
    pub key: Option<ApiKey>,
}

/// The user whose keys are managed. One's own key needs nothing; another
/// user's needs `ManageApiKeys` and the rule of acting on that user.
async fn key_owner(conn: &mut Conn, actor: &Actor, target_id: i64) -> AppResult<User> {
    if target_id == actor.user_id {
        return users::get(conn, target_id)
            .await?
            .ok_or_else(|| AppError::not_found("user"));
    }
    let grant = actor.allow::<perm::ManageApiKeys>()?;
    Ok(load_target(conn, &grant, Action::ManageApiKey, target_id).await?.user)
}

/// The organizations where `actor` may manage the target's key: the target's,
/// within the actor's scope.
async fn shared_orgs(conn: &mut Conn, actor: &Actor, target: &User) -> AppResult<Vec<i64>> {
    let target_orgs = users::organization_ids(conn, target.id).await?;
    Ok(target_orgs
        .into_iter()
        .filter(|o| actor.organization_ids.contains(o))
        .collect())
}

fn pick_org(shared: &[i64], wanted: Option<i64>) -> AppResult<i64> {
    match wanted {
        Some(o) if shared.contains(&o) => Ok(o),
        Some(_) => Err(AppError::not_found("organization")),
        None => shared
            .first()
            .copied()
            .ok_or_else(|| DomainError::Refused("the user belongs to none of your organizations".to_owned()).into()),
    }
}

/// Generate (or replace) the target's key in `organization` (default: the
/// first organization the actor and the target share).
#[tracing::instrument(skip_all, fields(target_id = target_id), err(level = "debug"))]
pub async fn generate(
    store: &Store,
    actor: &Actor,
    ctx: &Ctx,
    target_id: i64,
    organization: Option<i64>,
) -> AppResult<NewKey> {
    let mut tx = store.begin().await?;
    let target = key_owner(&mut tx, actor, target_id).await?;
    let shared = shared_orgs(&mut tx, actor, &target).await?;
    let org_id = pick_org(&shared, organization)?;
    let org = organizations::get(&mut tx, org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let secret = format!("{KEY_PREFIX}{}", random_token(32));
    let hash = sha256_hex(&secret);
    let shown: String = secret.chars().take(SHOWN_PREFIX).collect();
    api_keys::replace(&mut tx, target.id, org_id, &hash, &shown, clock::now()).await?;
    let key = api_keys::find_by_hash(&mut tx, &hash)
        .await?
        .ok_or_else(|| AppError::Internal("the new API key was not stored".to_owned()))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::ApiKeyGenerated,
            actor: Some(actor),
            target: Some(&target),
            before: None,
            after: Some(serde_json::json!({"organization": org.name, "keyPrefix": shown})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(NewKey {
        secret,
        key,
        organization_name: org.name,
        user: target,
    })
}

/// Revoke the target's key in `organization`, or in every organization the
/// actor shares with them. No key to revoke is "not found".
#[tracing::instrument(skip_all, fields(target_id = target_id), err(level = "debug"))]
pub async fn revoke(
    store: &Store,
    actor: &Actor,
    ctx: &Ctx,
    target_id: i64,
    organization: Option<i64>,
) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let target = key_owner(&mut tx, actor, target_id).await?;
    let shared = shared_orgs(&mut tx, actor, &target).await?;
    let orgs = match organization {
        Some(o) => vec![pick_org(&shared, Some(o))?],
        None => shared,
    };
    let mut revoked = Vec::new();
    for org_id in orgs {
        if api_keys::revoke(&mut tx, target.id, Some(org_id)).await? > 0 {
            revoked.push(org_id);
        }
    }
    if revoked.is_empty() {
        return Err(AppError::not_found("API key"));
    }
    let mut names = Vec::new();
    for o in &revoked {
        if let Some(org) = organizations::get(&mut tx, *o).await? {
            names.push(org.name);
        }
    }
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::ApiKeyRevoked,
            actor: Some(actor),
            target: Some(&target),
            before: Some(serde_json::json!({"organizations": names})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The target's key slots the actor may see: one per shared organization.
#[tracing::instrument(skip_all, fields(target_id = target_id), err(level = "debug"))]
pub async fn slots(store: &Store, actor: &Actor, target_id: i64) -> AppResult<Vec<KeySlot>> {
    let mut conn = store.conn().await?;
    let target = key_owner(&mut conn, actor, target_id).await?;
    let shared = shared_orgs(&mut conn, actor, &target).await?;
    let keys = api_keys::for_user(&mut conn, target.id).await?;
    let mut out = Vec::new();
    for org_id in shared {
        let Some(org) = organizations::get(&mut conn, org_id).await? else {
            continue;
        };
        out.push(KeySlot {
            organization_id: org_id,
            organization_name: org.name,
            key: keys.iter().find(|k| k.organization_id == org_id).cloned(),
        });
    }
    Ok(out)
}

/// Why a presented key was not accepted (kept in the login attempt, never told to the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Unknown,
    /// The key is known; its user may not authenticate now.
    UserRefused {
        user_id: i64,
        username: String,
        reason: &'static str,
    },
}

impl Refusal {
    fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed API key",
            Refusal::Unknown => "unknown API key",
            Refusal::UserRefused { reason, .. } => reason,
        }
    }
}

/// The actor a key stands for, scoped to the key's organization.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn authenticate(store: &Store, presented: &str, now: Millis) -> AppResult<Result<(Actor, User), Refusal>> {
    if presented.len() != KEY_LENGTH || !presented.starts_with(KEY_PREFIX) {
        return Ok(Err(Refusal::Malformed));
    }
    let mut conn = store.conn().await?;
    let Some(key) = api_keys::find_by_hash(&mut conn, &sha256_hex(presented)).await? else {
        return Ok(Err(Refusal::Unknown));
    };
    let Some(user) = users::get(&mut conn, key.user_id).await? else {
        return Ok(Err(Refusal::Unknown));
    };
    let refuse = |reason| {
        Ok(Err(Refusal::UserRefused {
            user_id: user.id,
            username: user.username.clone(),
            reason,
        }))
    };
    if !user.enabled {
        return refuse("disabled");
    }
    match user.auth_status {
        muster_domain::AuthStatus::Active => {}
        muster_domain::AuthStatus::Locked => return refuse("locked"),
        muster_domain::AuthStatus::PasswordReset => return refuse("password reset pending"),
    }
    let orgs = users::organization_ids(&mut conn, user.id).await?;
    if !orgs.contains(&key.organization_id) {
        return refuse("no longer in the key's organization");
    }
    // At most one write a minute per key, decided here so most requests only read.
    if key.last_used_at.is_none_or(|t| t < now - 60_000) {
        api_keys::touch(&mut conn, key.id, now).await?;
    }
    let actor = Actor {
        user_id: user.id,
        username: user.username.clone(),
        roles: user.roles.clone(),
        organization_ids: vec![key.organization_id],
    };
    Ok(Ok((actor, user)))
}

/// A refused key, as a failed login attempt with source `api`.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn record_refusal(store: &Store, ctx: &Ctx, presented: &str, refusal: &Refusal) -> AppResult<()> {
    let (user_id, username) = match refusal {
        Refusal::UserRefused { user_id, username, .. } => (Some(*user_id), username.clone()),
        // Never the key itself: only as much as the UI shows of a key, and
        // nothing of a malformed one (it may be a password sent by mistake).
        Refusal::Unknown => (None, presented.chars().take(SHOWN_PREFIX).collect()),
        Refusal::Malformed => (None, String::new()),
    };
    let mut conn = store.conn().await?;
    login_attempts::insert(
        &mut conn,
        &login_attempts::Attempt {
            at: clock::now(),
            username,
            user_id,
            success: false,
            source: "api".to_owned(),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.chars().take(500).collect(),
            reason: refusal.reason().to_owned(),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}
