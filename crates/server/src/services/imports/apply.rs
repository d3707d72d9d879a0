//! Applying one parsed row: create or update the user, in the caller's savepoint.

use std::collections::HashMap;

use muster_domain::AuditAction;
use muster_domain::{Action, Actor, AuthStatus, Error as DomainError, FieldError, Millis, Role, TargetFacts};
use muster_store::users::{self, NewUser, ProfileChange, User};
use muster_store::{Conn, organizations, sessions, user_import};

use super::Tx;
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::services::{Ctx, audit};
use crate::user_csv::import::Row;

pub(super) enum Applied {
    Created,
    Updated,
    Unchanged,
}

/// Organizations by lower-cased name, only those the actor belongs to.
pub(super) struct Orgs(HashMap<String, i64>);

impl Orgs {
    pub(super) async fn load(conn: &mut Conn, actor: &Actor) -> AppResult<Orgs> {
        let all = organizations::list(conn).await?;
        Ok(Orgs(
            all.into_iter()
                .filter(|o| actor.organization_ids.contains(&o.id))
                .map(|o| (o.name.to_lowercase(), o.id))
                .collect(),
        ))
    }

    fn resolve(&self, names: &[String], errors: &mut Vec<FieldError>) -> Vec<i64> {
        let mut ids = Vec::new();
        for n in names {
            match self.0.get(&n.to_lowercase()) {
                Some(id) => ids.push(*id),
                None => errors.push(FieldError::new("organizations", format!("unknown organization {n:?}"))),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The unknown organizations of a row whose cells did not all parse, so
    /// that its report lists every reason at once.
    pub(super) fn unknown_in(
        &self,
        header: &crate::user_csv::import::Header,
        record: &csv::StringRecord,
    ) -> Vec<FieldError> {
        let cell = header
            .position(crate::user_csv::Column::Organizations)
            .and_then(|i| record.get(i))
            .map(|c| crate::user_csv::columns::unguard(c).trim())
            .unwrap_or("");
        let mut errors = Vec::new();
        if !cell.is_empty() {
            self.resolve(&crate::user_csv::import::split_list(cell), &mut errors);
        }
        errors
    }
}

/// Row problems found by the store (a taken email) become the row's errors.
fn rejected(e: muster_store::Error) -> Result<Vec<FieldError>, AppError> {
    match e {
        muster_store::Error::Domain(DomainError::Invalid(f)) => Ok(f),
        muster_store::Error::Domain(DomainError::Conflict { field }) => {
            Ok(vec![FieldError::new("username", format!("{field} is already taken"))])
        }
        other => Err(other.into()),
    }
}

pub(super) async fn apply_in_savepoint(
    tx: &mut Tx,
    actor: &Actor,
    ctx: &Ctx,
    orgs: &Orgs,
    row: &Row,
    dry_run: bool,
) -> AppResult<Result<Applied, Vec<FieldError>>> {
    // a transaction begun inside a transaction is a SAVEPOINT
    let mut tx = sqlx::Connection::begin(&mut **tx).await?;
    let result = match apply(&mut tx, actor, ctx, orgs, row).await {
        Ok(r) => r,
        Err(AppError::Domain(d)) => match rejected(muster_store::Error::Domain(d)) {
            Ok(errors) => Err(errors),
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    match (&result, dry_run) {
        (Ok(_), false) => tx.commit().await?,
        _ => tx.rollback().await?,
    }
    Ok(result)
}

async fn apply(
    tx: &mut Conn,
    actor: &Actor,
    ctx: &Ctx,
    orgs: &Orgs,
    row: &Row,
) -> AppResult<Result<Applied, Vec<FieldError>>> {
    let mut errors = Vec::new();
    let c = &row.cells;
    let org_ids = c.organizations.as_ref().map(|names| {
        let ids = orgs.resolve(names, &mut errors);
        if names.is_empty() {
            errors.push(FieldError::new("organizations", "choose at least one organization"));
        }
        ids
    });
    if c.roles.as_ref().is_some_and(Vec::is_empty) {
        errors.push(FieldError::new("roles", "choose at least one role"));
    }
    let now = clock::now();
    match users::find_by_username(tx, row.username.as_str()).await? {
        Some(existing) => {
            let existing_orgs = users::organization_ids(tx, existing.id).await?;
            let facts = TargetFacts {
                id: existing.id,
                roles: &existing.roles,
                organization_ids: Some(&existing_orgs),
            };
            // the rule of acting on another user, as on every other path
            match actor.may(Action::Edit, &facts) {
                Ok(()) => {}
                Err(DomainError::NotFound(_)) => errors.push(FieldError::new(
                    "username",
                    "is already taken by a user outside your organizations",
                )),
                Err(refused) => errors.push(FieldError::new("username", refused.to_string())),
            }
            if existing.id == actor.user_id {
                check_own_row(row, &mut errors);
            }
            if !errors.is_empty() {
                return Ok(Err(errors));
            }
            // organizations the actor does not belong to are kept: they cannot see them to drop them
            let org_ids = org_ids.map(|mut ids| {
                ids.extend(existing_orgs.iter().filter(|o| !actor.organization_ids.contains(o)));
                ids.sort_unstable();
                ids.dedup();
                ids
            });
            update(tx, actor, ctx, row, &existing, &existing_orgs, org_ids, now).await
        }
        None => {
            let required = [
                ("email", c.email.is_none()),
                ("first_name", c.first_name.is_none()),
                ("last_name", c.last_name.is_none()),
                ("organizations", c.organizations.is_none()),
                ("roles", c.roles.is_none()),
            ];
            for (key, missing) in required {
                if missing {
                    errors.push(FieldError::new(key, "is required for a new user"));
                }
            }
            let (Some(email), Some(first_name), Some(last_name), Some(org_ids), Some(roles), true) = (
                c.email.clone(),
                c.first_name.clone(),
                c.last_name.clone(),
                org_ids,
                c.roles.clone(),
                errors.is_empty(),
            ) else {
                return Ok(Err(errors));
            };
            let (password_hash, auth_status) = match &c.password_hash {
                Some(h) => (h.clone(), c.auth_status.unwrap_or(AuthStatus::Active)),
                // nobody can sign in until a reset link is used
                None => (
                    format!("!unusable-{}", crate::crypto::random_token(16)),
                    AuthStatus::PasswordReset,
                ),
            };
            let new = NewUser {
                username: row.username.clone(),
                email,
                first_name,
                last_name,
                enabled: c.enabled.unwrap_or(true),
                auth_status,
                password_hash,
                roles,
                organization_ids: org_ids,
            };
            let id = match users::insert(tx, &new, now).await {
                Ok(id) => id,
                Err(e) => return Ok(Err(rejected(e)?)),
            };
            user_import::set_history(tx, id, c.created_at, c.last_login_at, c.login_count).await?;
            let user = users::get(tx, id).await?.ok_or_else(|| AppError::not_found("user"))?;
            let mut after = audit::snapshot(&user);
            after["import"] = serde_json::json!("created");
            audit::record(
                tx,
                ctx,
                audit::Entry {
                    action: AuditAction::UserImported,
                    actor: Some(actor),
                    target: Some(&user),
                    before: None,
                    after: Some(after),
                },
            )
            .await?;
            Ok(Ok(Applied::Created))
        }
    }
}

/// An administrator cannot lock themself out by importing their own row.
fn check_own_row(row: &Row, errors: &mut Vec<FieldError>) {
    let c = &row.cells;
    if c.enabled == Some(false) {
        errors.push(FieldError::new("enabled", "you cannot disable yourself"));
    }
    if c.auth_status.is_some_and(|s| s != AuthStatus::Active) {
        errors.push(FieldError::new(
            "auth_status",
            "you cannot lock yourself or reset your own password",
        ));
    }
    if c.roles.as_ref().is_some_and(|r| !r.contains(&Role::Administrator)) {
        errors.push(FieldError::new(
            "roles",
            "you cannot remove your own Administrator role",
        ));
    }
}

#[allow(clippy::too_many_arguments)]
async fn update(
    tx: &mut Conn,
    actor: &Actor,
    ctx: &Ctx,
    row: &Row,
    before: &User,
    before_orgs: &[i64],
    org_ids: Option<Vec<i64>>,
    now: Millis,
) -> AppResult<Result<Applied, Vec<FieldError>>> {
    let c = &row.cells;
    let id = before.id;
    let mut changed = false;
    let profile = ProfileChange {
        username: row.username.clone(),
        email: c
            .email
            .clone()
            .map_or_else(|| muster_domain::EmailAddress::parse(&before.email), Ok)?,
        first_name: c.first_name.clone().map_or_else(
            || muster_domain::PersonName::parse("first_name", &before.first_name),
            Ok,
        )?,
        last_name: c
            .last_name
            .clone()
            .map_or_else(|| muster_domain::PersonName::parse("last_name", &before.last_name), Ok)?,
    };
    if profile.username.as_str() != before.username
        || profile.email.as_str() != before.email
        || profile.first_name.as_str() != before.first_name
        || profile.last_name.as_str() != before.last_name
    {
        if let Err(e) = users::update_profile(tx, id, &profile, now).await {
            return Ok(Err(rejected(e)?));
        }
        changed = true;
    }
    let mut end_sessions = false;
    if let Some(enabled) = c.enabled
        && enabled != before.enabled
    {
        users::set_enabled(tx, id, enabled, now).await?;
        end_sessions |= !enabled;
        changed = true;
    }
    if let Some(status) = c.auth_status
        && status != before.auth_status
    {
        users::set_auth_status(tx, id, status, now).await?;
        end_sessions |= status != AuthStatus::Active;
        changed = true;
    }
    let mut password_changed = false;
    if let Some(hash) = &c.password_hash
        && *hash != before.password_hash
    {
        user_import::set_hash(tx, id, hash, now).await?;
        end_sessions = true;
        password_changed = true;
        changed = true;
    }
    if let Some(roles) = &c.roles {
        let mut wanted = roles.clone();
        wanted.sort();
        wanted.dedup();
        let mut had = before.roles.clone();
        had.sort();
        if wanted != had {
            users::set_roles(tx, id, &wanted).await?;
            changed = true;
        }
    }
    if let Some(ids) = &org_ids
        && ids.as_slice() != before_orgs
    {
        users::set_organizations(tx, id, ids).await?;
        changed = true;
    }
    if !changed {
        return Ok(Ok(Applied::Unchanged));
    }
    if end_sessions {
        sessions::delete_for_user(tx, id, None).await?;
    }
    let after = users::get(tx, id).await?.ok_or_else(|| AppError::not_found("user"))?;
    if password_changed {
        let by = format!("{} (an import of users)", actor.username);
        let mail = crate::mail::messages::password_changed(&after, Some(&by), &clock::format(now));
        crate::mail::queue(tx, mail, now).await?;
    }
    let mut after_json = audit::snapshot(&after);
    after_json["import"] = serde_json::json!("updated");
    audit::record(
        tx,
        ctx,
        audit::Entry {
            action: AuditAction::UserImported,
            actor: Some(actor),
            target: Some(&after),
            before: Some(audit::snapshot(before)),
            after: Some(after_json),
        },
    )
    .await?;
    Ok(Ok(Applied::Updated))
}
