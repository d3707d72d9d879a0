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

pub async fn get(store: &Store, grant: &Allowed<perm::ViewUsers>, id: i64) -> AppResult<User> {
    get_for(store, grant, Action::View, id).await
}

/// Load a user for a page that offers `action` (a form), refusing as the action itself would.
pub async fn get_for<P: Perm>(store: &Store, grant: &Allowed<P>, action: Action, id: i64) -> AppResult<User> {
    let mut conn = store.conn().await?;
    Ok(load_target(&mut conn, grant, action, id).await?.user)
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
    let (hash, status) = match (&input.password, imported_hash) {
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
                (h.stored.clone(), AuthStatus::Active)
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
            (
                hasher.hash(pw.expose().to_owned(), settings.argon2()).await?,
                AuthStatus::Active,
            )
        }
        // No password: nobody can sign in as this user until a reset link is used.
        (None, None) => (
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
        audit::Entry {
            action: AuditAction::UserCreated,
            actor: Some(actor),
            target: Some(&user),
            before: None,
            after: Some(audit::snapshot(&user)),
        },
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
async fn refuse_assignment_change(conn: &mut Conn, actor: &Actor, before: &User, input: &UserInput) -> AppResult<()> {
    let refuse = |field: &str, what: &str| -> AppResult<()> {
        Err(DomainError::ForbiddenField(FieldError::new(
            field,
            format!("only an administrator may change {what}"),
        ))
        .into())
    };
    let mut asked = Vec::new();
    for r in &input.roles {
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
    let member_of = users::organization_ids(conn, before.id).await?;
    let mut asked = std::collections::BTreeSet::new();
    for name in &input.organizations {
        match organizations::find_by_name(conn, name).await? {
            Some(o) if actor.organization_ids.contains(&o.id) => {
                asked.insert(o.id);
            }
            Some(o) if member_of.contains(&o.id) => {}
            _ => return refuse("organizations", "organizations"),
        }
    }
    let current: std::collections::BTreeSet<i64> = member_of
        .into_iter()
        .filter(|o| actor.organization_ids.contains(o))
        .collect();
    if asked != current {
        return refuse("organizations", "organizations");
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

/// Between two batches on SQLite the mass action lets go of the one writer
/// for this long: a sign-in waiting in SQLite's busy handler polls every
/// 1–25 ms in its first 130 ms of waiting, so it finds the lock free within
/// this gap instead of queueing behind the whole action.
const SQLITE_BATCH_GAP: std::time::Duration = std::time::Duration::from_millis(25);

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
    let batch = batch.max(1);
    let mut size = batch;
    let mut start = 0;
    while start < ids.len() {
        let end = (start + size).min(ids.len());
        let (chunk, last) = (&ids[start..end], end == ids.len());
        if start > 0 && store.backend == muster_store::Backend::Sqlite {
            tokio::time::sleep(SQLITE_BATCH_GAP).await;
        }
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
        // On SQLite a batch holds the one writer for its whole length; on a
        // loaded machine or a bigger table the same 1,000 users took 300 ms.
        // Keep it near BATCH_TIME: halve a slow batch, grow a quick one back,
        // never past `batch`. PostgreSQL locks only the batch's own rows, and
        // there smaller batches only cost commits (measured: 100-user batches
        // made a 27,000-user disable 3.7 times slower than one statement).
        let (took, sqlite) = (began.elapsed(), store.backend == muster_store::Backend::Sqlite);
        if sqlite && took > 2 * BATCH_TIME {
            size = (size / 2).max(batch.min(100));
        } else if sqlite && took < BATCH_TIME / 2 {
            size = (size * 2).min(batch);
        }
        start = end;
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

/// Edit a user. Username, email and names need `EditUsers`; roles and
/// organizations change only when the actor may assign them, and only within
/// the actor's organizations (memberships elsewhere are kept).
pub async fn update(
    store: &Store,
    grant: &Allowed<perm::EditUsers>,
    ctx: &Ctx,
    id: i64,
    input: &UserInput,
) -> AppResult<User> {
    let actor = grant.actor();
    let mut tx = store.begin().await?;
    let Target { user: before, proof } = load_target(&mut tx, grant, Action::Edit, id).await?;
    let id = proof.target_id();
    let assign = may_assign_roles(actor);
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
    let mut org_ids = Vec::new();
    if assign {
        for r in &input.roles {
            match Role::parse(r) {
                Ok(role) => roles.push(role),
                Err(e) => take(e),
            }
        }
        if roles.is_empty() {
            errors.push(FieldError::new("roles", "choose at least one role"));
        }
        if id == actor.user_id && before.roles.contains(&Role::Administrator) && !roles.contains(&Role::Administrator) {
            errors.push(FieldError::new(
                "roles",
                "you cannot remove your own Administrator role",
            ));
        }
        let current = users::organization_ids(&mut tx, id).await?;
        org_ids = current
            .into_iter()
            .filter(|o| !actor.organization_ids.contains(o))
            .collect();
        let mut chosen = 0;
        for name in &input.organizations {
            match organizations::find_by_name(&mut tx, name).await? {
                Some(o) if actor.organization_ids.contains(&o.id) => {
                    org_ids.push(o.id);
                    chosen += 1;
                }
                _ => errors.push(FieldError::new(
                    "organizations",
                    format!("unknown organization {name:?}"),
                )),
            }
        }
        if chosen == 0 && org_ids.is_empty() {
            errors.push(FieldError::new("organizations", "choose at least one organization"));
        }
    } else {
        refuse_assignment_change(&mut tx, actor, &before, input).await?;
    }
    collect_taken(&mut tx, username.as_ref(), email.as_ref(), Some(id), &mut errors).await?;
    let enabled_changes = input.enabled != before.enabled;
    if enabled_changes && !input.enabled && id == actor.user_id {
        errors.push(FieldError::new("enabled", "you cannot disable yourself"));
    }
    if enabled_changes && !actor.has(Permission::EnableDisable) {
        errors.push(FieldError::new("enabled", "you may not enable or disable users"));
    }
    let (Some(username), Some(email), Some(first_name), Some(last_name)) = (username, email, first_name, last_name)
    else {
        return Err(DomainError::Invalid(errors).into());
    };
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    let now = clock::now();
    users::update_profile(
        &mut tx,
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
    if assign {
        users::set_roles(&mut tx, id, &roles).await?;
        org_ids.sort_unstable();
        org_ids.dedup();
        users::set_organizations(&mut tx, id, &org_ids).await?;
    }
    if enabled_changes {
        users::set_enabled(&mut tx, id, input.enabled, now).await?;
        if !input.enabled {
            sessions::delete_for_user(&mut tx, id, None).await?;
        }
    }
    let after = users::get(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    if audit::snapshot(&before) != audit::snapshot(&after) {
        audit::record(
            &mut tx,
            ctx,
            audit::Entry {
                action: AuditAction::UserUpdated,
                actor: Some(actor),
                target: Some(&after),
                before: Some(audit::snapshot(&before)),
                after: Some(audit::snapshot(&after)),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

/// The audit events about one user, newest first.
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
