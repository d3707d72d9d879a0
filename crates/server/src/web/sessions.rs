//! A user's sessions on their page: the list (started, last seen, address,
//! user agent) with **End session** and **End all sessions**, each confirmed
//! (a dialog with JavaScript, the `GET` page without it) and audited.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use muster_domain::permission::perm;
use muster_domain::{Actor, Error as DomainError};
use muster_store::sessions::SessionInfo;
use muster_store::users::User;

use super::PageError;
use super::confirm::{Confirm, ConfirmPage, back_field, back_or, field};
use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::services;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/{id}/sessions/end", get(end_confirm).post(end))
        .route("/admin/users/{id}/sessions/end-all", get(end_all_confirm).post(end_all))
}

type Pairs = Vec<(String, String)>;

/// What the user page shows of the sessions: nothing to a viewer who may not end them.
#[derive(Debug, Clone, Default)]
pub struct SessionsSection {
    pub visible: bool,
    pub rows: Vec<SessionInfo>,
}

impl SessionsSection {
    pub async fn load(state: &AppState, actor: &Actor, user: &User) -> AppResult<Self> {
        if !services::sessions::may_manage(actor, user) {
            return Ok(SessionsSection::default());
        }
        let grant = actor.allow::<perm::EnableDisable>()?;
        Ok(SessionsSection {
            visible: true,
            rows: services::sessions::list(&state.store, &grant, user.id).await?,
        })
    }
}

fn sessions_href(id: i64) -> String {
    format!("{}#sessions", super::user_pages::user_href(id))
}

async fn end_confirm(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Pairs>,
) -> Result<ConfirmPage, PageError> {
    let grant = viewer.actor.allow::<perm::EnableDisable>()?;
    let public_id = services::sessions::parse_public_id(field(&q, "session").unwrap_or(""))?;
    let list = services::sessions::list(&state.store, &grant, id).await?;
    let Some(s) = list.iter().find(|s| s.public_id == public_id) else {
        return Err(AppError::not_found("session").into());
    };
    let view = viewer.actor.allow::<perm::ViewUsers>()?;
    let user = services::users::get(&state.store, &view, id).await?;
    let back = back_or(back_field(&q), sessions_href(id));
    Ok(ConfirmPage {
        layout,
        c: Confirm {
            title: "End session".to_owned(),
            message: format!(
                "End the session of {} from {} ({})? That browser is signed out at once.",
                user.username,
                if s.ip.is_empty() { "an unknown address" } else { &s.ip },
                s.user_agent
            ),
            action: format!("/admin/users/{id}/sessions/end"),
            fields: vec![("session".to_owned(), public_id), ("back".to_owned(), back.clone())],
            button: "End session".to_owned(),
            cancel: back,
            ..Default::default()
        },
    })
}

async fn end(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<Pairs>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::EnableDisable>()?;
    let back = back_or(back_field(&form), sessions_href(id));
    let session = field(&form, "session").unwrap_or("");
    match services::sessions::end_one(&state.store, &grant, &ctx, id, session).await {
        Ok(u) => Ok(redirect_with_flash(
            &state,
            &back,
            "success",
            &format!("Session ended: {} is signed out of that browser.", u.username),
        )),
        // a session that ended meanwhile (or a made-up id) is a message, not an error page
        Err(AppError::Domain(DomainError::NotFound(what))) if what == "session" => Ok(redirect_with_flash(
            &state,
            &back,
            "error",
            "That session has already ended.",
        )),
        Err(AppError::Domain(DomainError::Invalid(_))) => Ok(redirect_with_flash(
            &state,
            &back,
            "error",
            "Choose a session from the list.",
        )),
        Err(e) => Err(e.into()),
    }
}

async fn end_all_confirm(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Pairs>,
) -> Result<ConfirmPage, PageError> {
    let grant = viewer.actor.allow::<perm::EnableDisable>()?;
    let n = services::sessions::list(&state.store, &grant, id).await?.len();
    let view = viewer.actor.allow::<perm::ViewUsers>()?;
    let user = services::users::get(&state.store, &view, id).await?;
    let back = back_or(back_field(&q), sessions_href(id));
    Ok(ConfirmPage {
        layout,
        c: Confirm {
            title: "End all sessions".to_owned(),
            message: format!(
                "End all {n} session(s) of {}? They are signed out everywhere and must sign in again.",
                user.username
            ),
            action: format!("/admin/users/{id}/sessions/end-all"),
            fields: vec![("back".to_owned(), back.clone())],
            button: "End all sessions".to_owned(),
            cancel: back,
            ..Default::default()
        },
    })
}

async fn end_all(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<Pairs>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::EnableDisable>()?;
    let back = back_or(back_field(&form), sessions_href(id));
    let (u, n) = services::sessions::end_all(&state.store, &grant, &ctx, id).await?;
    Ok(redirect_with_flash(
        &state,
        &back,
        "success",
        &format!("{n} session(s) of {} were ended.", u.username),
    ))
}
