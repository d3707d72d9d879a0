//! `/admin/mail`: the outbox for administrators, failed and waiting mail with
//! a Retry. Bodies are never shown: they may hold reset links.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use muster_domain::AuditAction;
use muster_domain::permission::perm;
use muster_store::outbox;

use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use super::{PageError, TimeFmt};
use crate::app::AppState;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/mail", get(mail_page))
        .route("/admin/mail/{id}/retry", post(mail_retry))
}

#[derive(Template, WebTemplate)]
#[template(path = "passwords/admin_mail.html")]
struct MailPage {
    layout: Layout,
    transport: String,
    counts: Vec<(String, i64)>,
    mails: Vec<outbox::Mail>,
}

/// Failed and waiting mail, for administrators. Bodies are never shown: they may hold reset links.
async fn mail_page(State(state): State<AppState>, layout: Layout, viewer: Viewer) -> Result<MailPage, PageError> {
    viewer.actor.allow::<perm::ManageSettings>()?;
    let mut conn = state.store.conn().await?;
    let transport = crate::mail::transport::Transport::describe_config(&state.config);
    Ok(MailPage {
        layout,
        transport,
        counts: outbox::counts(&mut conn).await?,
        mails: outbox::list(&mut conn, &["failed", "pending"], 200).await?,
    })
}

async fn mail_retry(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ManageSettings>()?;
    let mut tx = state.store.begin().await?;
    if !outbox::retry(&mut tx, id, crate::clock::now()).await? {
        return Err(AppError::not_found("mail waiting for delivery").into());
    }
    crate::services::audit::record(
        &mut tx,
        &ctx,
        crate::services::audit::Entry {
            action: AuditAction::MailRetried,
            actor: Some(grant.actor()),
            target: None,
            before: None,
            after: Some(serde_json::json!({ "mailId": id })),
        },
    )
    .await?;
    tx.commit().await?;
    crate::mail::wake();
    Ok(redirect_with_flash(
        &state,
        "/admin/mail",
        "success",
        "The mail is queued again.",
    ))
}
