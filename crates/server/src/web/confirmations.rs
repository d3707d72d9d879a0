//! The confirmation pages (`GET`) of the user actions that cannot be undone:
//! Reset Password, Delete (with the reason it would be refused, said before
//! anything is confirmed), Generate Key over an existing key, and Revoke.
//! Each answers as the action itself would for a viewer who may not take it
//! (403, or 404 outside their organizations), so a page shown is an action allowed.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use muster_domain::permission::perm;
use muster_domain::{Action, Error as DomainError};
use serde::Serialize;

use super::PageError;
use super::confirm::{Confirm, ConfirmPage, back_field, back_or, field};
use super::session::{Layout, Viewer};
use super::user_pages::user_href;
use crate::app::AppState;
use crate::error::AppError;
use crate::services;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/{id}/reset-password", get(reset_password))
        .route("/admin/users/{id}/delete", get(delete))
        .route("/admin/users/{id}/delete/check", get(delete_check))
        .route("/admin/users/{id}/api-key", get(generate_key))
        .route("/admin/users/{id}/api-key/revoke", get(revoke_key))
        .route("/profile/api-key", get(generate_own_key))
        .route("/profile/api-key/revoke", get(revoke_own_key))
}

type Pairs = Vec<(String, String)>;

fn back_fields(back: &str) -> Vec<(String, String)> {
    vec![("back".to_owned(), back.to_owned())]
}

async fn reset_password(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Pairs>,
) -> Result<ConfirmPage, PageError> {
    let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
    let user = services::users::get_for(&state.store, &grant, Action::ResetPassword, id).await?;
    let back = back_or(back_field(&q), user_href(id));
    Ok(ConfirmPage {
        layout,
        c: Confirm {
            title: "Reset Password".to_owned(),
            message: format!(
                "Reset the password of {}? They cannot sign in until they set a new password with the link \
                 emailed to {}, and their sessions end now.",
                user.username, user.email
            ),
            action: format!("/admin/users/{id}/reset-password"),
            fields: back_fields(&back),
            button: "Reset".to_owned(),
            cancel: back,
            ..Default::default()
        },
    })
}

/// Why deleting user `id` would be refused, if it would, and the way past it.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeleteCheck {
    username: String,
    refused: Option<String>,
    way_out: Option<WayOut>,
}

#[derive(Serialize)]
struct WayOut {
    href: String,
    label: String,
}

async fn check_delete(state: &AppState, viewer: &Viewer, id: i64) -> Result<DeleteCheck, PageError> {
    let grant = viewer.actor.allow::<perm::DeleteUsers>()?;
    let view = viewer.actor.allow::<perm::ViewUsers>()?;
    // outside the viewer's organizations: not found, as the delete itself would say
    let user = services::users::get(&state.store, &view, id).await?;
    let refused_by_rule = match services::users::get_for(&state.store, &grant, Action::Delete, id).await {
        Ok(_) => None,
        Err(AppError::Domain(DomainError::Forbidden(why))) => Some(why),
        Err(e) => return Err(e.into()),
    };
    if let Some(why) = refused_by_rule {
        return Ok(DeleteCheck {
            refused: Some(format!("Cannot delete {}: {why}.", user.username)),
            username: user.username,
            way_out: None,
        });
    }
    let assigned = services::users::assigned_records(&state.store, &view, id, 0).await?;
    if assigned.total == 0 {
        return Ok(DeleteCheck {
            username: user.username,
            ..Default::default()
        });
    }
    let way_out = services::users::may(&viewer.actor, Action::ReassignRecords, &user).then(|| WayOut {
        href: format!("{}#records", user_href(id)),
        label: "Reassign records".to_owned(),
    });
    Ok(DeleteCheck {
        refused: Some(format!(
            "Cannot delete {}: {}. Reassign their records first.",
            user.username,
            assigned.describe()
        )),
        username: user.username,
        way_out,
    })
}

async fn delete(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Pairs>,
) -> Result<ConfirmPage, PageError> {
    let check = check_delete(&state, &viewer, id).await?;
    let back = back_or(back_field(&q), "/admin/users".to_owned());
    Ok(ConfirmPage {
        layout,
        c: Confirm {
            title: "Deletion Confirmation".to_owned(),
            message: format!(
                "Are you sure you want to delete the user {}? This cannot be undone.",
                check.username
            ),
            action: format!("/admin/users/{id}/delete"),
            fields: back_fields(&back),
            button: "Yes, Delete".to_owned(),
            cancel: back,
            refused: check.refused,
            way_out: check.way_out.map(|w| (w.href, w.label)),
        },
    })
}

/// The same check for the Delete dialog, which asks before it offers **Yes, Delete**.
async fn delete_check(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Json<DeleteCheck>, PageError> {
    Ok(Json(check_delete(&state, &viewer, id).await?))
}

/// Which key a Generate Key or Revoke link is about: (organization id, its name, the key's prefix if one exists).
async fn key_slot(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    q: &[(String, String)],
) -> Result<(i64, String, Option<String>), PageError> {
    let slots = services::api_keys::slots(&state.store, &viewer.actor, id).await?;
    let wanted = field(q, "organization_id").and_then(|o| o.trim().parse::<i64>().ok());
    let slot = match wanted {
        Some(o) => slots.into_iter().find(|s| s.organization_id == o),
        None => slots.into_iter().next(),
    }
    .ok_or_else(|| AppError::not_found("organization"))?;
    Ok((
        slot.organization_id,
        slot.organization_name,
        slot.key.map(|k| k.key_prefix),
    ))
}

async fn key_confirm(
    state: &AppState,
    layout: Layout,
    viewer: &Viewer,
    id: i64,
    q: &[(String, String)],
    revoke: bool,
) -> Result<ConfirmPage, PageError> {
    let own = id == viewer.user.id;
    let (org_id, org, prefix) = key_slot(state, viewer, id, q).await?;
    let (base, whose, back) = if own {
        (
            "/profile/api-key".to_owned(),
            "your API key".to_owned(),
            "/profile".to_owned(),
        )
    } else {
        let view = viewer.actor.allow::<perm::ViewUsers>()?;
        let user = services::users::get(&state.store, &view, id).await?;
        (
            format!("/admin/users/{id}/api-key"),
            format!("the API key of {}", user.username),
            user_href(id),
        )
    };
    let fields = vec![("organization_id".to_owned(), org_id.to_string())];
    let c = if revoke {
        let Some(prefix) = prefix else {
            return Err(AppError::not_found("API key").into());
        };
        Confirm {
            title: "Revoke API key".to_owned(),
            message: format!(
                "Revoke {whose} in {org} ({prefix}…)? Programs that use it are refused from now on. \
                 This cannot be undone."
            ),
            action: format!("{base}/revoke"),
            button: "Revoke".to_owned(),
            fields,
            cancel: back,
            ..Default::default()
        }
    } else {
        let message = match prefix {
            Some(p) => format!(
                "Generate a new key to replace {whose} in {org} ({p}…)? The current key stops working at once: \
                 programs that use it must be given the new one."
            ),
            None => format!("Generate an API key in {org}? It is shown once."),
        };
        Confirm {
            title: "Generate Key".to_owned(),
            message,
            action: base,
            button: "Generate Key".to_owned(),
            fields,
            cancel: back,
            ..Default::default()
        }
    };
    Ok(ConfirmPage { layout, c })
}

async fn generate_key(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Pairs>,
) -> Result<ConfirmPage, PageError> {
    key_confirm(&state, layout, &viewer, id, &q, false).await
}

async fn revoke_key(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Pairs>,
) -> Result<ConfirmPage, PageError> {
    key_confirm(&state, layout, &viewer, id, &q, true).await
}

async fn generate_own_key(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Query(q): Query<Pairs>,
) -> Result<ConfirmPage, PageError> {
    let id = viewer.user.id;
    key_confirm(&state, layout, &viewer, id, &q, false).await
}

async fn revoke_own_key(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Query(q): Query<Pairs>,
) -> Result<ConfirmPage, PageError> {
    let id = viewer.user.id;
    key_confirm(&state, layout, &viewer, id, &q, true).await
}
