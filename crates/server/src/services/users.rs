//! Users: create, read within the actor's organizations, list, enable/disable, activate.

use muster_domain::permission::perm;
use muster_domain::{
    Actor, Allowed, AuthStatus, EmailAddress, Error as DomainError, FieldError, Permission, PersonName, Role,
    UserFilter, UserSort, Username,
};
use muster_store::users::{self, NewUser, Scope, User};
use muster_store::{Conn, Store, organizations, sessions};

use super::{Ctx, audit};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::hashing::Hasher;
use crate::settings::Settings;

pub fn scope_of(actor: &Actor) -> Scope {
    Scope::Organizations(actor.organization_ids.clone())
}

/// A user the actor may act on: one who shares an organization with them.
/// Anyone else is "not found", so ids outside the scope reveal nothing.
pub async fn load_target(conn: &mut Conn, actor: &Actor, id: i64) -> AppResult<User> {
    let Some(user) = users::get(conn, id).await? else {
        return Err(AppError::not_found("user"));
    };
    let orgs = users::organization_ids(conn, id).await?;
    if user.id != actor.user_id && !actor.shares_organization(&orgs) {
        return Err(AppError::not_found("user"));
    }
    Ok(user)
}

pub async fn get(store: &Store, grant: &Allowed<perm::ViewUsers>, id: i64) -> AppResult<User> {
    let mut conn = store.conn().await?;
    load_target(&mut conn, grant.actor(), id).await
}

pub struct Page {
    pub users: Vec<User>,
    pub total: i64,
}

pub async fn list(
    store: &Store,
    grant: &Allowed<perm::ViewUsers>,
    filter: &UserFilter,
    sort: &UserSort,
    page: i64,
    size: i64,
) -> AppResult<Page> {
    let mut conn = store.conn().await?;
    let scope = scope_of(grant.actor());
    let size = size.clamp(1, 1000);
    let offset = (page.max(1) - 1).saturating_mul(size);
    let users = users::list(&mut conn, &scope, filter, sort, size, offset).await?;
    let total = users::count(&mut conn, &scope, filter).await?;
    Ok(Page { users, total })
}

/// What a form or the API gives to create a user; parsed here, every problem reported at once.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: Option<String>,
    pub enabled: bool,
    pub roles: Vec<String>,
    pub organizations: Vec<String>,
}

struct Parsed {
    username: Username,
    email: EmailAddress,
    first_name: PersonName,
    last_name: PersonName,
    roles: Vec<Role>,
    org_ids: Vec<i64>,
}

async fn parse_input(conn: &mut Conn, actor: &Actor, input: &UserInput) -> AppResult<Parsed> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut take = |e: DomainError| match e {
        DomainError::Invalid(f) => errors.extend(f),
        other => errors.push(FieldError::new("", other.to_string())),
    };
    let username = Username::parse(&input.username).map_err(&mut take).ok();
    let email = EmailAddress::parse(&input.email).map_err(&mut take).ok();
    let first_name = PersonName::parse("first_name", &input.first_name)
        .map_err(&mut take)
        .ok();
    let last_name = PersonName::parse("last_name", &input.last_name).map_err(&mut take).ok();
    let mut roles = Vec::new();
    for r in &input.roles {
        match Role::parse(r) {
            Ok(role) => roles.push(role),
            Err(e) => take(e),
        }
    }
    if roles.is_empty() {
        errors.push(FieldError::new("roles", "choose at least one role"));
    }
    let mut org_ids = Vec::new();
    if input.organizations.is_empty() {
        errors.push(FieldError::new("organizations", "choose at least one organization"));
    }
    for name in &input.organizations {
        match organizations::find_by_name(conn, name).await? {
            Some(o) if actor.organization_ids.contains(&o.id) => org_ids.push(o.id),
            _ => errors.push(FieldError::new(
                "organizations",
                format!("unknown organization {name:?}"),
            )),
        }
    }
    match (username, email, first_name, last_name) {
        (Some(username), Some(email), Some(first_name), Some(last_name)) if errors.is_empty() => Ok(Parsed {
            username,
            email,
            first_name,
            last_name,
            roles,
            org_ids,
        }),
        _ => Err(DomainError::Invalid(errors).into()),
    }
}

pub async fn create(
    store: &Store,
    hasher: &Hasher,
    grant: &Allowed<perm::CreateUsers>,
    ctx: &Ctx,
    input: &UserInput,
) -> AppResult<User> {
    let actor = grant.actor();
    let mut conn = store.conn().await?;
    let settings = Settings::load(&mut conn).await?;
    let parsed = parse_input(&mut conn, actor, input).await?;
    drop(conn);
    let (hash, status) = match &input.password {
        Some(p) => {
            let inputs = [
                parsed.username.as_str(),
                parsed.email.as_str(),
                parsed.first_name.as_str(),
                parsed.last_name.as_str(),
            ];
            let pw = settings.password_policy().check(p, &inputs)?;
            (
                hasher.hash(pw.expose().to_owned(), settings.argon2()).await?,
                AuthStatus::Active,
            )
        }
        // No password: nobody can sign in as this user until a reset link is used.
        None => (
            format!("!unusable-{}", crate::crypto::random_token(16)),
            AuthStatus::PasswordReset,
        ),
    };
    let mut tx = store.begin().await?;
    let new = NewUser {
        username: parsed.username,
        email: parsed.email,
        first_name: parsed.first_name,
        last_name: parsed.last_name,
        enabled: input.enabled,
        auth_status: status,
        password_hash: hash,
        roles: parsed.roles,
        organization_ids: parsed.org_ids,
    };
    let id = users::insert(&mut tx, &new, clock::now()).await?;
    let user = users::get(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    audit::record(
        &mut tx,
        ctx,
        Some(actor),
        "user.created",
        Some(&user),
        None,
        Some(audit::snapshot(&user)),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Enable or disable one user. Disabling ends their sessions at once.
pub async fn set_enabled(
    store: &Store,
    grant: &Allowed<perm::EnableDisable>,
    ctx: &Ctx,
    id: i64,
    enabled: bool,
) -> AppResult<User> {
    let actor = grant.actor();
    if !enabled && id == actor.user_id {
        return Err(AppError::forbidden("you cannot disable yourself"));
    }
    let mut tx = store.begin().await?;
    let before = load_target(&mut tx, actor, id).await?;
    if users::set_enabled(&mut tx, id, enabled, clock::now()).await? {
        if !enabled {
            sessions::delete_for_user(&mut tx, id, None).await?;
        }
        let after = users::get(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        let action = if enabled { "user.enabled" } else { "user.disabled" };
        audit::record(
            &mut tx,
            ctx,
            Some(actor),
            action,
            Some(&after),
            Some(audit::snapshot(&before)),
            Some(audit::snapshot(&after)),
        )
        .await?;
    }
    let user = users::get(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    tx.commit().await?;
    Ok(user)
}

/// Activate: clear a lock and the failed-login counter.
pub async fn activate(store: &Store, grant: &Allowed<perm::Activate>, ctx: &Ctx, id: i64) -> AppResult<User> {
    let actor = grant.actor();
    let mut tx = store.begin().await?;
    let before = load_target(&mut tx, actor, id).await?;
    let to = muster_domain::status::transition(before.auth_status, muster_domain::status::Transition::Activate)?;
    users::set_auth_status(&mut tx, id, to, clock::now()).await?;
    let after = users::get(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    audit::record(
        &mut tx,
        ctx,
        Some(actor),
        "user.activated",
        Some(&after),
        Some(audit::snapshot(&before)),
        Some(audit::snapshot(&after)),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// What happens when the lockout locks a user (inside the locking transaction).
pub async fn on_locked(tx: &mut Conn, user: &User) -> AppResult<()> {
    sessions::delete_for_user(tx, user.id, None).await?;
    let limit = Settings::load(tx).await?.lockout().limit;
    crate::mail::queue(tx, crate::mail::messages::account_locked(user, limit), clock::now()).await?;
    Ok(())
}

/// Whether `actor` may change roles and organizations of users.
pub fn may_assign_roles(actor: &Actor) -> bool {
    actor.has(Permission::CreateUsers)
}
