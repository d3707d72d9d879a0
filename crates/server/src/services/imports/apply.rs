//! Applying one parsed row, in the caller's savepoint, through the one writer
//! of users (`services::users::{create_in, update_in}`): the import adds only
//! what its syntax means (an empty cell keeps the value; a new user needs
//! these cells) and its history fields; every rule is the writer's.

use muster_domain::permission::perm;
use muster_domain::{Action, Actor, AuthStatus, Error as DomainError, FieldError};
use muster_store::{Conn, user_import, users};

use super::Tx;
use crate::error::{AppError, AppResult};
use crate::services::Ctx;
use crate::services::users::{Credential, Origin, UserChanges, UserInput, create_in, load_target, update_in};
use crate::user_csv::import::Row;

pub(super) enum Applied {
    Created,
    Updated,
    Unchanged,
}

/// A rule's refusal becomes the row's errors; anything else is not the row's fault.
fn rejected(e: AppError) -> Result<Vec<FieldError>, AppError> {
    let mut fields = match e {
        AppError::Domain(DomainError::Invalid(f)) => f,
        AppError::Domain(DomainError::ForbiddenField(f)) => vec![f],
        AppError::Domain(DomainError::Conflict { field }) => {
            vec![FieldError::new("username", format!("{field} is already taken"))]
        }
        AppError::Domain(e @ (DomainError::Forbidden(_) | DomainError::Refused(_))) => {
            vec![FieldError::new("row", e.to_string())]
        }
        other => return Err(other),
    };
    for f in &mut fields {
        if f.field.is_empty() {
            "row".clone_into(&mut f.field);
        }
    }
    Ok(fields)
}

pub(super) async fn apply_in_savepoint(
    tx: &mut Tx,
    actor: &Actor,
    ctx: &Ctx,
    row: &Row,
    dry_run: bool,
) -> AppResult<Result<Applied, Vec<FieldError>>> {
    // a transaction begun inside a transaction is a SAVEPOINT
    let mut tx = sqlx::Connection::begin(&mut **tx).await?;
    let result = match apply(&mut tx, actor, ctx, row).await {
        Ok(r) => r,
        Err(e) => Err(rejected(e)?),
    };
    match (&result, dry_run) {
        (Ok(_), false) => tx.commit().await?,
        _ => tx.rollback().await?,
    }
    Ok(result)
}

async fn apply(tx: &mut Conn, actor: &Actor, ctx: &Ctx, row: &Row) -> AppResult<Result<Applied, Vec<FieldError>>> {
    let c = &row.cells;
    let roles = c
        .roles
        .as_ref()
        .map(|r| r.iter().map(|r| r.name().to_owned()).collect::<Vec<_>>());
    match users::find_by_username(tx, row.username.as_str()).await? {
        Some(existing) => {
            let grant = actor.allow::<perm::EditUsers>()?;
            let target = match load_target(tx, &grant, Action::Edit, existing.id).await {
                Ok(t) => t,
                Err(AppError::Domain(DomainError::NotFound(_))) => {
                    return Ok(Err(vec![FieldError::new(
                        "username",
                        "is already taken by a user outside your organizations",
                    )]));
                }
                Err(AppError::Domain(refused @ DomainError::Forbidden(_))) => {
                    return Ok(Err(vec![FieldError::new("username", refused.to_string())]));
                }
                Err(e) => return Err(e),
            };
            let changes = UserChanges {
                // matched in any case: the file's spelling is kept
                username: Some(row.username.as_str().to_owned()),
                email: c.email.as_ref().map(|e| e.as_str().to_owned()),
                first_name: c.first_name.as_ref().map(|n| n.as_str().to_owned()),
                last_name: c.last_name.as_ref().map(|n| n.as_str().to_owned()),
                enabled: c.enabled,
                roles,
                organizations: c.organizations.clone(),
                auth_status: c.auth_status,
                password_hash: c.password_hash.clone(),
            };
            let updated = update_in(tx, &grant, ctx, target, &changes, Origin::Import).await?;
            Ok(Ok(if updated.changed {
                Applied::Updated
            } else {
                Applied::Unchanged
            }))
        }
        None => {
            let required = [
                ("email", c.email.is_none()),
                ("first_name", c.first_name.is_none()),
                ("last_name", c.last_name.is_none()),
                ("organizations", c.organizations.is_none()),
                ("roles", c.roles.is_none()),
            ];
            let mut errors: Vec<FieldError> = required
                .into_iter()
                .filter(|(_, missing)| *missing)
                .map(|(key, _)| FieldError::new(key, "is required for a new user"))
                .collect();
            if !errors.is_empty() {
                // every reason at once: the organizations given are checked too
                if let Some(names) = &c.organizations {
                    errors.extend(crate::services::users::organization_errors(tx, actor, names).await?);
                }
                return Ok(Err(errors));
            }
            let grant = actor.allow::<perm::CreateUsers>()?;
            let input = UserInput {
                username: row.username.as_str().to_owned(),
                email: c.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
                first_name: c.first_name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default(),
                last_name: c.last_name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default(),
                password: None,
                enabled: c.enabled.unwrap_or(true),
                roles: roles.unwrap_or_default(),
                organizations: c.organizations.clone().unwrap_or_default(),
            };
            let credential = match &c.password_hash {
                Some(hash) => Credential::Hash {
                    hash: hash.clone(),
                    status: c.auth_status.unwrap_or(AuthStatus::Active),
                },
                None => Credential::None,
            };
            let user = create_in(tx, &grant, ctx, &input, credential, Origin::Import).await?;
            user_import::set_history(tx, user.id, c.created_at, c.last_login_at, c.login_count).await?;
            Ok(Ok(Applied::Created))
        }
    }
}
