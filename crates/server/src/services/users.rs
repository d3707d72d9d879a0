//! Users: create, read within the actor's organizations, list, enable/disable, activate.

use muster_domain::AuditAction;
use muster_domain::permission::{Perm, perm};
use muster_domain::{
    Action, Actor, Allowed, AuthStatus, EmailAddress, Error as DomainError, FieldError, OnUser, Permission, PersonName,
    Role, TargetFacts, UserFilter, UserSort, Username,
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

/// A user loaded to be acted on, with the proof that the rule allows it.
#[derive(Debug)]
pub struct Target<P: Perm> {
    pub user: User,
    pub proof: OnUser<P>,
}

impl<P: Perm> Target<P> {
    pub fn id(&self) -> i64 {
        self.proof.target_id()
    }
}

/// The one way to load another user for an action: it applies the domain's
/// rule ([`Actor::may`]): users outside the actor's organizations are "not
/// found", so ids outside the scope reveal nothing; a User Manager is refused
/// on an Administrator; nobody disables, deletes or resets themself.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn load_target<P: Perm>(
    conn: &mut Conn,
    grant: &Allowed<P>,
    action: Action,
    id: i64,
) -> AppResult<Target<P>> {
    let Some(user) = users::get(conn, id).await? else {
        return Err(AppError::not_found("user"));
    };
    let orgs = users::organization_ids(conn, id).await?;
    let proof = grant.on(
        action,
        &TargetFacts {
            id,
            roles: &user.roles,
            organization_ids: Some(&orgs),
        },
    )?;
    Ok(Target { user, proof })
}

/// Whether `actor` may do `action` to `user`, a user already selected within
/// the actor's organizations (a grid row, a page shown): what the UI offers.
pub fn may(actor: &Actor, action: Action, user: &User) -> bool {
    actor
        .may(
            action,
            &TargetFacts {
                id: user.id,
                roles: &user.roles,
                organization_ids: None,
            },
        )
        .is_ok()
}

#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn get(store: &Store, grant: &Allowed<perm::ViewUsers>, id: i64) -> AppResult<User> {
    get_for(store, grant, Action::View, id).await
}

/// Load a user for a page that offers `action` (a form), refusing as the action itself would.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn get_for<P: Perm>(store: &Store, grant: &Allowed<P>, action: Action, id: i64) -> AppResult<User> {
    let mut conn = store.conn().await?;
    Ok(load_target(&mut conn, grant, action, id).await?.user)
}

pub struct Page {
    pub users: Vec<User>,
    pub total: i64,
    /// Counting stopped: at least `total` users match ([`browse`]).
    pub total_is_lower_bound: bool,
}

#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn list(
    store: &Store,
    grant: &Allowed<perm::ViewUsers>,
    filter: &UserFilter,
    sort: &UserSort,
    page: i64,
    size: i64,
) -> AppResult<Page> {
    page_of(store, grant, filter, sort, page, size, Counting::Exact).await
}

/// [`list`] for browsing (the grid, `GET /api/users`): where the total would
/// be counted match by match (a search, a filter the counters do not hold) it
/// stops at `cap`, and the page says "at least". A confirmation or an export
/// that states how many users it acts on uses [`list`].
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn browse(
    store: &Store,
    grant: &Allowed<perm::ViewUsers>,
    filter: &UserFilter,
    sort: &UserSort,
    page: i64,
    size: i64,
    cap: i64,
) -> AppResult<Page> {
    page_of(store, grant, filter, sort, page, size, Counting::UpTo(cap)).await
}

/// How [`page_of`] counts the matching users.
enum Counting {
    Exact,
    UpTo(i64),
}

async fn page_of(
    store: &Store,
    grant: &Allowed<perm::ViewUsers>,
    filter: &UserFilter,
    sort: &UserSort,
    page: i64,
    size: i64,
    counting: Counting,
) -> AppResult<Page> {
    let mut conn = store.conn().await?;
    let scope = users::effective_scope(&mut conn, &scope_of(grant.actor())).await?;
    let size = size.clamp(1, 1000);
    let offset = (page.max(1) - 1).saturating_mul(size);
    let users = users::list_resolved(&mut conn, &scope, filter, sort, size, offset).await?;
    let count = match counting {
        Counting::Exact => users::Count {
            n: users::count_resolved(&mut conn, &scope, filter).await?,
            at_least: false,
        },
        Counting::UpTo(cap) => users::count_up_to_resolved(&mut conn, &scope, filter, cap).await?,
    };
    let reached = offset.saturating_add(i64::try_from(users.len()).unwrap_or(0));
    let (total, total_is_lower_bound) = match count {
        users::Count { n, at_least: false } => (n, false),
        // a page past the cap that is not full is the last one: its end is the total
        _ if !users.is_empty() && users.len() < usize::try_from(size).unwrap_or(usize::MAX) => (reached, false),
        users::Count { n, at_least: true } => (n.max(reached), true),
    };
    Ok(Page {
        users,
        total,
        total_is_lower_bound,
    })
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

/// Add "is already taken" for the username and the email to `errors`, so a
/// form reports every problem at once (the insert or update checks again).
async fn collect_taken(
    conn: &mut Conn,
    username: Option<&Username>,
    email: Option<&EmailAddress>,
    except_id: Option<i64>,
    errors: &mut Vec<FieldError>,
) -> AppResult<()> {
    let (Some(u), Some(e)) = (username, email) else {
        return Ok(());
    };
    match users::check_unique(conn, u, e, except_id).await {
        Ok(()) => Ok(()),
        Err(muster_store::Error::Domain(DomainError::Invalid(f))) => {
            errors.extend(f);
            Ok(())
        }
        Err(other) => Err(other.into()),
    }
}

/// The ids of organizations named by a form, the API or an import, looked up
/// as their names are stored (any case); a name outside the actor's
/// organizations is "unknown", as if it did not exist.
async fn resolve_organizations(
    conn: &mut Conn,
    actor: &Actor,
    names: &[String],
    errors: &mut Vec<FieldError>,
) -> AppResult<Vec<i64>> {
    let mut ids = Vec::new();
    for name in names {
        match organizations::find_by_name(conn, name).await? {
            Some(o) if actor.organization_ids.contains(&o.id) => ids.push(o.id),
            _ => errors.push(FieldError::new(
                "organizations",
                format!("unknown organization {name:?}"),
            )),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The problems of a list of organization names, for a caller that reports
/// every reason at once even when other fields did not parse (an import row).
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn organization_errors(conn: &mut Conn, actor: &Actor, names: &[String]) -> AppResult<Vec<FieldError>> {
    let mut errors = Vec::new();
    resolve_organizations(conn, actor, names, &mut errors).await?;
    Ok(errors)
}

fn field_errors_of(e: DomainError) -> Vec<FieldError> {
    match e {
        DomainError::Invalid(f) => f,
        other => vec![FieldError::new("", other.to_string())],
    }
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
    if input.organizations.is_empty() {
        errors.push(FieldError::new("organizations", "choose at least one organization"));
    }
    let org_ids = resolve_organizations(conn, actor, &input.organizations, &mut errors).await?;
    collect_taken(conn, username.as_ref(), email.as_ref(), None, &mut errors).await?;
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

/// How the audit trail names a write: by the surface a person used, or as
/// part of an import (which keeps its own action and an `"import"` marker the
/// audit page shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Direct,
    Import,
}

impl Origin {
    fn audit_action(self, created: bool) -> AuditAction {
        match (self, created) {
            (Origin::Import, _) => AuditAction::UserImported,
            (Origin::Direct, true) => AuditAction::UserCreated,
            (Origin::Direct, false) => AuditAction::UserUpdated,
        }
    }

    fn mark(self, after: &mut serde_json::Value, created: bool) {
        if self == Origin::Import {
            after["import"] = serde_json::json!(if created { "created" } else { "updated" });
        }
    }
}

/// The credential a new user starts with, already resolved: hashing is slow and
/// must not happen inside the transaction that writes the user.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A hash (made here, or taken as it is from an import or `passwordHash`) and the status to start in.
    Hash { hash: String, status: AuthStatus },
    /// Nobody can sign in as this user until a reset link is used.
    None,
}

#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn create(
    store: &Store,
    hasher: &Hasher,
    grant: &Allowed<perm::CreateUsers>,
    ctx: &Ctx,
    input: &UserInput,
) -> AppResult<User> {
    create_with_hash(store, hasher, grant, ctx, input, None).await
}

/// `create`, or with a password hash made elsewhere (`POST /api/users` with
/// `passwordHash`) kept as it is until the user's first sign-in. A weak hash is refused.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn create_with_hash(
    store: &Store,
    hasher: &Hasher,
    grant: &Allowed<perm::CreateUsers>,
    ctx: &Ctx,
    input: &UserInput,
    imported_hash: Option<&muster_domain::password_hash::ParsedHash>,
) -> AppResult<User> {
    let actor = grant.actor();
    let mut conn = store.conn().await?;
    let settings = Settings::load(&mut conn).await?;
    let parsed = parse_input(&mut conn, actor, input).await?;
    drop(conn);
    let credential = match (&input.password, imported_hash) {
        (Some(_), Some(_)) => {
            return Err(DomainError::invalid("password_hash", "give a password or a password hash, not both").into());
        }
        (None, Some(h)) => match h.weak_reason() {
            Some(weak) => return Err(DomainError::invalid("password_hash", format!("{weak}; it is refused")).into()),
            None => {
                if h.is_foreign() {
                    // a wrong password against it must not answer faster than against this one
                    hasher.learn_failure_time(h.stored.clone()).await?;
                }
                Credential::Hash {
                    hash: h.stored.clone(),
                    status: AuthStatus::Active,
                }
            }
        },
        (Some(p), None) => {
            let inputs = [
                parsed.username.as_str(),
                parsed.email.as_str(),
                parsed.first_name.as_str(),
                parsed.last_name.as_str(),
            ];
            let pw = settings.password_policy().check(p, &inputs)?;
            Credential::Hash {
                hash: hasher.hash(pw.expose().to_owned(), settings.argon2()).await?,
                status: AuthStatus::Active,
            }
        }
        (None, None) => Credential::None,
    };
    let mut tx = store.begin().await?;
    let user = insert_parsed(&mut tx, actor, ctx, parsed, input.enabled, credential, Origin::Direct).await?;
    tx.commit().await?;
    Ok(user)
}

/// Create a user inside the caller's transaction (the import's savepoint):
/// the same parse, organization and uniqueness rules and audit as
/// [`create`], with a credential already resolved (no password policy: a
/// hash was checked where it was read).
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn create_in(
    conn: &mut Conn,
    grant: &Allowed<perm::CreateUsers>,
    ctx: &Ctx,
    input: &UserInput,
    credential: Credential,
    origin: Origin,
) -> AppResult<User> {
    let actor = grant.actor();
    if input.password.is_some() {
        return Err(DomainError::invalid("password", "is hashed before the transaction; give a credential").into());
    }
    let parsed = parse_input(conn, actor, input).await?;
    insert_parsed(conn, actor, ctx, parsed, input.enabled, credential, origin).await
}

async fn insert_parsed(
    conn: &mut Conn,
    actor: &Actor,
    ctx: &Ctx,
    parsed: Parsed,
    enabled: bool,
    credential: Credential,
    origin: Origin,
) -> AppResult<User> {
    let (password_hash, auth_status) = match credential {
        Credential::Hash { hash, status } => (hash, status),
        Credential::None => (
            format!("!unusable-{}", crate::crypto::random_token(16)),
            AuthStatus::PasswordReset,
        ),
    };
    let new = NewUser {
        username: parsed.username,
        email: parsed.email,
        first_name: parsed.first_name,
        last_name: parsed.last_name,
        enabled,
        auth_status,
        password_hash,
        roles: parsed.roles,
        organization_ids: parsed.org_ids,
    };
    let id = users::insert(conn, &new, clock::now()).await?;
    let user = users::get(conn, id).await?.ok_or_else(|| AppError::not_found("user"))?;
    let mut after = audit::snapshot(&user);
    origin.mark(&mut after, true);
    audit::record(
        conn,
        ctx,
        audit::Entry {
            action: origin.audit_action(true),
            actor: Some(actor),
            target: Some(&user),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    Ok(user)
}

/// Enable or disable one user. Disabling ends their sessions at once.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn set_enabled(
    store: &Store,
    grant: &Allowed<perm::EnableDisable>,
    ctx: &Ctx,
    id: i64,
    enabled: bool,
) -> AppResult<User> {
    let actor = grant.actor();
    let action = if enabled { Action::Enable } else { Action::Disable };
    let mut tx = store.begin().await?;
    let target = load_target(&mut tx, grant, action, id).await?;
    let (before, id) = (&target.user, target.id());
    if users::set_enabled(&mut tx, id, enabled, clock::now()).await? {
        if !enabled {
            sessions::delete_for_user(&mut tx, id, None).await?;
        }
        let after = users::get(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        let action = if enabled {
            AuditAction::UserEnabled
        } else {
            AuditAction::UserDisabled
        };
        audit::record(
            &mut tx,
            ctx,
            audit::Entry {
                action,
                actor: Some(actor),
                target: Some(&after),
                before: Some(audit::snapshot(before)),
                after: Some(audit::snapshot(&after)),
            },
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
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn activate(store: &Store, grant: &Allowed<perm::Activate>, ctx: &Ctx, id: i64) -> AppResult<User> {
    let actor = grant.actor();
    let mut tx = store.begin().await?;
    let Target { user: before, proof } = load_target(&mut tx, grant, Action::Activate, id).await?;
    let id = proof.target_id();
    let to = muster_domain::status::transition(before.auth_status, muster_domain::status::Transition::Activate)?;
    users::set_auth_status(&mut tx, id, to, clock::now()).await?;
    let after = users::get(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserActivated,
            actor: Some(actor),
            target: Some(&after),
            before: Some(audit::snapshot(&before)),
            after: Some(audit::snapshot(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// What happens when the lockout locks a user (inside the locking transaction).
#[tracing::instrument(skip_all, fields(user_id = user.id), err(level = "debug"))]
pub async fn on_locked(tx: &mut Conn, user: &User) -> AppResult<()> {
    sessions::delete_for_user(tx, user.id, None).await?;
    let limit = Settings::load(tx).await?.lockout().limit;
    crate::mail::queue(tx, crate::mail::messages::account_locked(user, limit), clock::now()).await?;
    Ok(())
}

/// An actor who may not assign roles and organizations is refused, not
/// ignored, when an edit asks for other ones than the user has. The
/// comparison is within the actor's organizations; memberships elsewhere
/// that the user already has may be named unchanged.
async fn refuse_assignment_change(
    conn: &mut Conn,
    actor: &Actor,
    before: &User,
    member_of: &[i64],
    changes: &UserChanges,
) -> AppResult<()> {
    let refuse = |field: &str, what: &str| -> AppResult<()> {
        Err(DomainError::ForbiddenField(FieldError::new(
            field,
            format!("only an administrator may change {what}"),
        ))
        .into())
    };
    if let Some(names) = &changes.roles {
        let mut asked = Vec::new();
        for r in names {
            match Role::parse(r) {
                Ok(role) => asked.push(role),
                Err(_) => return refuse("roles", "roles"),
            }
        }
        let mut current = before.roles.clone();
        for set in [&mut asked, &mut current] {
            set.sort_unstable();
            set.dedup();
        }
        if asked != current {
            return refuse("roles", "roles");
        }
    }
    if let Some(names) = &changes.organizations {
        let mut asked = std::collections::BTreeSet::new();
        for name in names {
            match organizations::find_by_name(conn, name).await? {
                Some(o) if actor.organization_ids.contains(&o.id) => {
                    asked.insert(o.id);
                }
                Some(o) if member_of.contains(&o.id) => {}
                _ => return refuse("organizations", "organizations"),
            }
        }
        let current: std::collections::BTreeSet<i64> = member_of
            .iter()
            .copied()
            .filter(|o| actor.organization_ids.contains(o))
            .collect();
        if asked != current {
            return refuse("organizations", "organizations");
        }
    }
    Ok(())
}

/// Whether `actor` may change roles and organizations of users.
pub fn may_assign_roles(actor: &Actor) -> bool {
    actor.has(Permission::CreateUsers)
}

/// The records a user owns: the count per kind and the newest ones.
pub struct Assigned {
    pub counts: Vec<(String, i64)>,
    pub total: i64,
    pub latest: Vec<muster_store::records::Record>,
}

impl Assigned {
    /// "3 records are assigned (2 contact, 1 task)".
    pub fn describe(&self) -> String {
        let kinds = self
            .counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ");
        let noun = if self.total == 1 { "record is" } else { "records are" };
        format!("{} {noun} assigned ({kinds})", self.total)
    }
}

async fn assigned_in(conn: &mut Conn, id: i64, latest: i64) -> AppResult<Assigned> {
    let counts = muster_store::records::counts_by_kind(conn, id).await?;
    let total = counts.iter().map(|(_, n)| n).sum();
    let latest = if latest > 0 && total > 0 {
        muster_store::records::list_owned(conn, id, latest).await?
    } else {
        Vec::new()
    };
    Ok(Assigned { counts, total, latest })
}

/// The records assigned to a user the actor may see.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn assigned_records(
    store: &Store,
    grant: &Allowed<perm::ViewUsers>,
    id: i64,
    latest: i64,
) -> AppResult<Assigned> {
    let mut conn = store.conn().await?;
    let target = load_target(&mut conn, grant, Action::View, id).await?;
    assigned_in(&mut conn, target.id(), latest).await
}

/// Delete a user: never oneself, never while records are assigned.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn delete(store: &Store, grant: &Allowed<perm::DeleteUsers>, ctx: &Ctx, id: i64) -> AppResult<User> {
    let actor = grant.actor();
    let mut tx = store.begin().await?;
    let Target { user, proof } = load_target(&mut tx, grant, Action::Delete, id).await?;
    let id = proof.target_id();
    let assigned = assigned_in(&mut tx, id, 0).await?;
    if assigned.total > 0 {
        return Err(DomainError::Refused(format!("Cannot delete {}: {}", user.username, assigned.describe())).into());
    }
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserDeleted,
            actor: Some(actor),
            target: Some(&user),
            before: Some(audit::snapshot(&user)),
            after: None,
        },
    )
    .await?;
    users::delete(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Move every record of `from` to `to`; both must be users the actor may act on.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn reassign_records(
    store: &Store,
    grant: &Allowed<perm::ManageRecords>,
    ctx: &Ctx,
    from: i64,
    to: i64,
) -> AppResult<u64> {
    let actor = grant.actor();
    if from == to {
        return Err(DomainError::invalid("toUserId", "choose another user than the current owner").into());
    }
    let mut tx = store.begin().await?;
    let source = load_target(&mut tx, grant, Action::ReassignRecords, from).await?.user;
    let target = match load_target(&mut tx, grant, Action::ReassignRecords, to).await {
        Ok(t) => t.user,
        Err(AppError::Domain(DomainError::NotFound(_))) => {
            return Err(DomainError::invalid("toUserId", "no such user").into());
        }
        Err(e) => return Err(e),
    };
    let moved = muster_store::records::reassign(&mut tx, from, to, clock::now()).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserRecordsReassigned,
            actor: Some(actor),
            target: Some(&source),
            before: None,
            after: Some(serde_json::json!({"toUserId": target.id, "toUsername": target.username, "count": moved})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(moved)
}

/// What a mass enable or disable did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MassChange {
    pub affected: u64,
    /// Selected users the rule refused (an Administrator, for a User Manager).
    pub refused: u64,
}

impl MassChange {
    /// "3 user(s) were disabled (1 administrator skipped: only an administrator may disable an administrator)".
    pub fn message(&self, enabled: bool) -> String {
        let verb = if enabled { "enable" } else { "disable" };
        let mut m = format!("{} user(s) were {verb}d", self.affected);
        if self.refused > 0 {
            m.push_str(&format!(
                " ({} administrator(s) skipped: only an administrator may {verb} an administrator)",
                self.refused
            ));
        }
        m
    }
}

/// Enable or disable every user `filter` selects within the actor's
/// organizations, in batches of [`users::MASS_BATCH`] (see
/// [`mass_set_enabled_in_batches`]). The actor is skipped, and so are the
/// users the rule guards from this actor (counted as refused); disabling ends
/// the sessions of the users it changes. One audit event per mass action.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn mass_set_enabled(
    store: &Store,
    grant: &Allowed<perm::EnableDisable>,
    ctx: &Ctx,
    filter: &UserFilter,
    enabled: bool,
    described: serde_json::Value,
) -> AppResult<MassChange> {
    mass_set_enabled_in_batches(store, grant, ctx, filter, enabled, described, users::MASS_BATCH).await
}

/// The first batch of a mass action on SQLite: the size that held the writer
/// ~40 ms on the wide users row; on the narrow status table (migration 0019)
/// a quiet machine grows it to [`users::MASS_BATCH`] within a batch or two,
/// while a loaded one keeps it small. Starting at 10,000, each flip's first
/// batch held the writer up to 1.5 s under the bench's mixed load (a sign-in
/// waited 1,503 ms; 610 ms with 1,000-user batches).
const SQLITE_FIRST_BATCH: usize = 1000;

/// How long one batch of a mass action should hold the writer: a sign-in
/// (~200 ms of Argon2) that waits for one batch stays within twice its time.
const BATCH_TIME: std::time::Duration = std::time::Duration::from_millis(50);

/// A mass enable/disable as a series of short transactions, so sign-ins and
/// other writers interleave with it instead of waiting for all of it.
///
/// The selection is fixed at the start (ids in order); each batch (at most
/// `batch` users, fewer while batches take longer than [`BATCH_TIME`]) is
/// updated, and on disable its users' sessions deleted, in its own
/// transaction, re-checking scope and guarded roles. The one audit event with
/// the totals commits with the last batch. If the action stops midway (an
/// error, a crash), the batches already committed stay done, their sessions
/// ended; the rest are untouched, and on an error an audit event with the
/// partial totals and `"interrupted": true` is written. Running the same
/// action again selects exactly the users still left.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn mass_set_enabled_in_batches(
    store: &Store,
    grant: &Allowed<perm::EnableDisable>,
    ctx: &Ctx,
    filter: &UserFilter,
    enabled: bool,
    described: serde_json::Value,
    batch: usize,
) -> AppResult<MassChange> {
    let actor = grant.actor();
    let scope = scope_of(actor);
    let guarded = actor.guarded_roles();
    let now = clock::now();
    let (ids, refused) = {
        let mut conn = store.conn().await?;
        let refused = users::count_guarded(&mut conn, &scope, filter, enabled, actor.user_id, &guarded).await?;
        let ids = users::mass_enabled_selection(&mut conn, &scope, filter, enabled, actor.user_id, &guarded).await?;
        (ids, refused)
    };
    let mut done = MassChange { affected: 0, refused };
    let mut size = super::batching::BatchSize::new(store.backend, SQLITE_FIRST_BATCH, 100, batch, BATCH_TIME);
    let mut start = 0;
    while start < ids.len() {
        let end = (start + size.get()).min(ids.len());
        let (chunk, last) = (&ids[start..end], end == ids.len());
        let began = std::time::Instant::now();
        let step = async {
            let mut tx = store.begin().await?;
            let changed = users::set_enabled_batch(&mut tx, &scope, chunk, enabled, &guarded, now).await?;
            if !enabled {
                sessions::delete_for_users(&mut tx, &changed).await?;
            }
            let total = done.affected + changed.len() as u64;
            if last {
                record_mass_enabled(&mut tx, ctx, actor, enabled, total, refused, described.clone(), false).await?;
            }
            tx.commit().await?;
            AppResult::Ok(total)
        };
        match step.await {
            Ok(total) => done.affected = total,
            Err(e) => {
                if done.affected > 0 {
                    // best effort: the error that stopped the action is the one to report
                    if let Ok(mut tx) = store.begin().await {
                        let noted = record_mass_enabled(
                            &mut tx,
                            ctx,
                            actor,
                            enabled,
                            done.affected,
                            refused,
                            described.clone(),
                            true,
                        )
                        .await;
                        if noted.is_ok() {
                            let _ = tx.commit().await;
                        }
                    }
                }
                return Err(e);
            }
        }
        let took = began.elapsed();
        tracing::debug!(
            users = chunk.len(),
            took_ms = took.as_millis() as u64,
            "mass enable/disable batch"
        );
        start = end;
        // near BATCH_TIME on SQLite, never past `batch` (see `batching`)
        let gap = size.committed(took, store);
        if !last {
            gap.await;
        }
    }
    if ids.is_empty() {
        let mut tx = store.begin().await?;
        record_mass_enabled(&mut tx, ctx, actor, enabled, 0, refused, described, false).await?;
        tx.commit().await?;
    }
    Ok(done)
}

/// The one audit event of a mass enable/disable.
#[allow(clippy::too_many_arguments)]
async fn record_mass_enabled(
    conn: &mut Conn,
    ctx: &Ctx,
    actor: &Actor,
    enabled: bool,
    affected: u64,
    refused: u64,
    described: serde_json::Value,
    interrupted: bool,
) -> AppResult<()> {
    let action = if enabled {
        AuditAction::UsersMassEnabled
    } else {
        AuditAction::UsersMassDisabled
    };
    let mut after = serde_json::json!({"affected": affected, "refused": refused, "selection": described});
    if interrupted {
        after["interrupted"] = serde_json::Value::Bool(true);
    }
    audit::record(
        conn,
        ctx,
        audit::Entry {
            action,
            actor: Some(actor),
            target: None,
            before: None,
            after: Some(after),
        },
    )
    .await
}

/// What a surface asks to change on a user: `None` keeps the current value.
/// The API's PATCH names only what it changes; the UI form names what it
/// offers; an import row names its non-empty cells.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Needs the right to enable and disable users; nobody disables themself.
    pub enabled: Option<bool>,
    /// Role names; only an actor who may assign roles changes them.
    pub roles: Option<Vec<String>>,
    /// Organization names within the actor's organizations; memberships elsewhere are kept.
    pub organizations: Option<Vec<String>>,
    /// The status as another system recorded it (an import): `active` needs
    /// the right to activate, `locked` and `password_reset` the right to reset passwords.
    pub auth_status: Option<AuthStatus>,
    /// A password hash taken as it is (an import; parsed and checked where it
    /// was read): as a password set by an admin, it ends the sessions and mails the user.
    pub password_hash: Option<String>,
}

/// What [`update_in`] did.
#[derive(Debug)]
pub struct Updated {
    pub user: User,
    /// Whether anything was written (and audited).
    pub changed: bool,
}

/// Edit a user: fields left out keep their value (the merge of a PATCH is here).
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn update(
    store: &Store,
    grant: &Allowed<perm::EditUsers>,
    ctx: &Ctx,
    id: i64,
    changes: &UserChanges,
) -> AppResult<User> {
    let mut tx = store.begin().await?;
    let target = load_target(&mut tx, grant, Action::Edit, id).await?;
    let updated = update_in(&mut tx, grant, ctx, target, changes, Origin::Direct).await?;
    tx.commit().await?;
    Ok(updated.user)
}

/// Why `actor` may not change the status of `id` to `to`, if they may not.
fn status_refusal(actor: &Actor, id: i64, to: AuthStatus) -> Option<FieldError> {
    if id == actor.user_id {
        return Some(FieldError::new(
            "auth_status",
            "you cannot lock yourself or reset your own password",
        ));
    }
    let needs = if to == AuthStatus::Active {
        Permission::Activate
    } else {
        Permission::ResetPasswords
    };
    (!actor.has(needs)).then(|| FieldError::new("auth_status", format!("you may not {}", needs.describe())))
}

/// Apply `changes` to `target` inside the caller's transaction: every rule of
/// editing a user (parse, uniqueness, roles and organizations only by an
/// actor who may assign them and only within their organizations,
/// self-protection), then only the writes that change something, the end of
/// sessions and the mail they call for, and one audit event.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn update_in(
    tx: &mut Conn,
    grant: &Allowed<perm::EditUsers>,
    ctx: &Ctx,
    target: Target<perm::EditUsers>,
    changes: &UserChanges,
    origin: Origin,
) -> AppResult<Updated> {
    let actor = grant.actor();
    let Target { user: before, proof } = target;
    let id = proof.target_id();
    let is_self = id == actor.user_id;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut take = |e: DomainError| match e {
        DomainError::Invalid(f) => errors.extend(f),
        other => errors.push(FieldError::new("", other.to_string())),
    };
    let pick = |given: &Option<String>, current: &str| given.clone().unwrap_or_else(|| current.to_owned());
    let username = Username::parse(&pick(&changes.username, &before.username))
        .map_err(&mut take)
        .ok();
    let email = EmailAddress::parse(&pick(&changes.email, &before.email))
        .map_err(&mut take)
        .ok();
    let first_name = PersonName::parse("first_name", &pick(&changes.first_name, &before.first_name))
        .map_err(&mut take)
        .ok();
    let last_name = PersonName::parse("last_name", &pick(&changes.last_name, &before.last_name))
        .map_err(&mut take)
        .ok();
    let before_orgs = users::organization_ids(tx, id).await?;
    let mut roles = None;
    let mut org_ids = None;
    if changes.roles.is_some() || changes.organizations.is_some() {
        if !may_assign_roles(actor) {
            refuse_assignment_change(tx, actor, &before, &before_orgs, changes).await?;
        } else {
            if let Some(names) = &changes.roles {
                let mut asked = Vec::new();
                for r in names {
                    match Role::parse(r) {
                        Ok(role) => asked.push(role),
                        Err(e) => errors.extend(field_errors_of(e)),
                    }
                }
                if asked.is_empty() {
                    errors.push(FieldError::new("roles", "choose at least one role"));
                }
                if is_self && before.roles.contains(&Role::Administrator) && !asked.contains(&Role::Administrator) {
                    errors.push(FieldError::new(
                        "roles",
                        "you cannot remove your own Administrator role",
                    ));
                }
                asked.sort_unstable();
                asked.dedup();
                roles = Some(asked);
            }
            if let Some(names) = &changes.organizations {
                let chosen = resolve_organizations(tx, actor, names, &mut errors).await?;
                // the actor acts in these: leaving all of them would lock their own session or key out
                if is_self && chosen.is_empty() {
                    return Err(DomainError::ForbiddenField(FieldError::new(
                        "organizations",
                        "you cannot leave every organization you act in: you would lock yourself out",
                    ))
                    .into());
                }
                // memberships outside the actor's organizations are kept: they cannot see them to drop them
                let mut ids: Vec<i64> = before_orgs
                    .iter()
                    .copied()
                    .filter(|o| !actor.organization_ids.contains(o))
                    .collect();
                if chosen.is_empty() && ids.is_empty() {
                    errors.push(FieldError::new("organizations", "choose at least one organization"));
                }
                ids.extend(chosen);
                ids.sort_unstable();
                ids.dedup();
                org_ids = Some(ids);
            }
        }
    }
    let enabled = changes.enabled.filter(|e| *e != before.enabled);
    if let Some(on) = enabled {
        if !on && is_self {
            errors.push(FieldError::new("enabled", "you cannot disable yourself"));
        }
        if !actor.has(Permission::EnableDisable) {
            errors.push(FieldError::new("enabled", "you may not enable or disable users"));
        }
    }
    let status = changes.auth_status.filter(|s| *s != before.auth_status);
    if let Some(to) = status {
        errors.extend(status_refusal(actor, id, to));
    }
    let hash = changes.password_hash.as_ref().filter(|h| **h != before.password_hash);
    if hash.is_some() {
        let facts = TargetFacts {
            id,
            roles: &before.roles,
            organization_ids: Some(&before_orgs),
        };
        if let Err(e) = actor.may(Action::SetPassword, &facts) {
            errors.push(FieldError::new("password_hash", e.to_string()));
        }
    }
    let roles = roles.filter(|r| {
        let mut had = before.roles.clone();
        had.sort_unstable();
        *r != had
    });
    let org_ids = org_ids.filter(|o| *o != before_orgs);
    // a value that did not parse differs from the stored one, which did
    let differs = |given: Option<&str>, current: &str| given.is_none_or(|v| v != current);
    let changed = differs(username.as_ref().map(Username::as_str), &before.username)
        || differs(email.as_ref().map(EmailAddress::as_str), &before.email)
        || differs(first_name.as_ref().map(PersonName::as_str), &before.first_name)
        || differs(last_name.as_ref().map(PersonName::as_str), &before.last_name)
        || roles.is_some()
        || org_ids.is_some()
        || enabled.is_some()
        || status.is_some()
        || hash.is_some();
    if changed {
        collect_taken(tx, username.as_ref(), email.as_ref(), Some(id), &mut errors).await?;
    }
    let (Some(username), Some(email), Some(first_name), Some(last_name)) = (username, email, first_name, last_name)
    else {
        return Err(DomainError::Invalid(errors).into());
    };
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    if !changed {
        return Ok(Updated {
            user: before,
            changed: false,
        });
    }
    let now = clock::now();
    // also when only roles or organizations change: it moves `updated_at`
    users::update_profile(
        tx,
        id,
        &users::ProfileChange {
            username,
            email,
            first_name,
            last_name,
        },
        now,
    )
    .await?;
    if let Some(roles) = &roles {
        users::set_roles(tx, id, roles).await?;
    }
    if let Some(ids) = &org_ids {
        users::set_organizations(tx, id, ids).await?;
    }
    let mut end_sessions = false;
    if let Some(on) = enabled {
        users::set_enabled(tx, id, on, now).await?;
        end_sessions |= !on;
    }
    if let Some(to) = status {
        users::set_auth_status(tx, id, to, now).await?;
        end_sessions |= to != AuthStatus::Active;
    }
    if let Some(hash) = hash {
        muster_store::user_import::set_hash(tx, id, hash, now).await?;
        end_sessions = true;
    }
    if end_sessions {
        sessions::delete_for_user(tx, id, None).await?;
    }
    let after = users::get(tx, id).await?.ok_or_else(|| AppError::not_found("user"))?;
    if hash.is_some() {
        let by = match origin {
            Origin::Import => format!("{} (an import of users)", actor.username),
            Origin::Direct => actor.username.clone(),
        };
        let mail = crate::mail::messages::password_changed(&after, Some(&by), &clock::format(now));
        crate::mail::queue(tx, mail, now).await?;
    }
    let mut after_json = audit::snapshot(&after);
    origin.mark(&mut after_json, false);
    audit::record(
        tx,
        ctx,
        audit::Entry {
            action: origin.audit_action(false),
            actor: Some(actor),
            target: Some(&after),
            before: Some(audit::snapshot(&before)),
            after: Some(after_json),
        },
    )
    .await?;
    Ok(Updated {
        user: after,
        changed: true,
    })
}

/// The audit events about one user, newest first.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn history(
    store: &Store,
    grant: &Allowed<perm::ViewUsers>,
    id: i64,
    limit: i64,
) -> AppResult<Vec<muster_store::audit::Event>> {
    let mut conn = store.conn().await?;
    let id = load_target(&mut conn, grant, Action::View, id).await?.id();
    let filter = muster_store::audit::Filter {
        target_id: Some(id),
        ..Default::default()
    };
    Ok(muster_store::audit::list(&mut conn, &filter, limit, 0).await?)
}
