//! The grid's mass actions (Enable, Disable, Reset Password) and the
//! question each asks first, naming how many users it will touch.
//!
//! With the page's script the question is a dialog (static/grid.js) and the
//! buttons never reach `/admin/users/mass/confirm`; without it they post
//! there and get the same question as a page. Both count what
//! `/admin/users/mass` acts on: the ticked ids, or every user the grid's
//! selection holds minus the rows unticked after "select all".

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use muster_domain::permission::perm;
use muster_domain::{Error as DomainError, UserFilter, UserSort};
use muster_store::users::User;

use super::PageError;
use super::grid_state::{GridState, thousands};
use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use crate::app::AppState;
use crate::services;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/mass", post(mass))
        .route("/admin/users/mass/confirm", post(confirm))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MassAction {
    Enable,
    Disable,
    ResetPassword,
}

impl MassAction {
    pub const ALL: [MassAction; 3] = [MassAction::Enable, MassAction::Disable, MassAction::ResetPassword];

    fn parse(s: &str) -> Result<MassAction, DomainError> {
        Ok(match s {
            "enable" => MassAction::Enable,
            "disable" => MassAction::Disable,
            "reset_password" => MassAction::ResetPassword,
            other => return Err(DomainError::invalid("action", format!("unknown mass action {other:?}"))),
        })
    }

    pub fn value(self) -> &'static str {
        match self {
            MassAction::Enable => "enable",
            MassAction::Disable => "disable",
            MassAction::ResetPassword => "reset_password",
        }
    }

    /// The confirm button's label: the seed's words (Reset for the password).
    pub fn button(self) -> &'static str {
        match self {
            MassAction::Enable => "Enable",
            MassAction::Disable => "Disable",
            MassAction::ResetPassword => "Reset",
        }
    }

    /// The question, `users` being "1 user" or "4,613 users" (the page's
    /// script fills the same sentence with `{n}` replaced).
    pub fn question(self, users: &str) -> String {
        match self {
            MassAction::Enable => format!("Enable {users}?"),
            MassAction::Disable => format!("Disable {users}?"),
            MassAction::ResetPassword => format!("Reset the password of {users}?"),
        }
    }
}

/// `1 user`, `4,613 users`.
pub fn users_phrase(n: i64) -> String {
    format!("{} user{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// The mass Reset Password's question for `count` users (also asked by the
/// confirmation page of `/admin/users/mass/reset-password`).
pub fn reset_question(count: i64) -> String {
    MassAction::ResetPassword.question(&users_phrase(count))
}

fn values<'a>(form: &'a [(String, String)], key: &str) -> impl Iterator<Item = &'a str> {
    form.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub(super) fn value<'a>(form: &'a [(String, String)], key: &str) -> &'a str {
    values(form, key).next().unwrap_or("")
}

fn ids(form: &[(String, String)], key: &str) -> Vec<i64> {
    let mut v: Vec<i64> = values(form, key).filter_map(|s| s.parse().ok()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// What the mass form asks for: the grid it came from, the action and the users.
struct Request {
    gs: GridState,
    action: MassAction,
    filter: UserFilter,
    /// How the audit event describes the selection.
    described: serde_json::Value,
}

/// Read the mass form; `None` when it selects nobody (no ticked row, no "all").
fn read(form: &[(String, String)]) -> Result<Option<Request>, DomainError> {
    let gs = GridState::from_query(value(form, "query"));
    let action = MassAction::parse(value(form, "action"))?;
    let ticked = ids(form, "id");
    let (filter, described) = if value(form, "all") == "1" {
        // the page's script adds the rows unticked after "select all"; without it there are none
        let except = ids(form, "except");
        let mut f = gs.filter();
        f.exclude_ids.clone_from(&except);
        (f, serde_json::json!({"filter": gs.query(), "except": except}))
    } else if ticked.is_empty() {
        return Ok(None);
    } else {
        let f = UserFilter {
            only_ids: Some(ticked.clone()),
            ..Default::default()
        };
        (f, serde_json::json!({"ids": ticked}))
    };
    Ok(Some(Request {
        gs,
        action,
        filter,
        described,
    }))
}

/// Mass Enable / Disable / Reset Password over the ticked rows, or over every
/// user the grid's filter matches (at the time of the click) except the rows
/// unticked on the page shown.
async fn mass(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let Some(req) = read(&form)? else {
        let back = GridState::from_query(value(&form, "query")).href();
        return Ok(redirect_with_flash(&state, &back, "error", "Select at least one user."));
    };
    let back = req.gs.href();
    if req.action == MassAction::ResetPassword {
        let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
        let asked = services::mass_reset::request(&state.store, &grant, &ctx, &req.filter, req.described).await?;
        return Ok(started(&state, &asked));
    }
    let enabled = req.action == MassAction::Enable;
    let grant = viewer.actor.allow::<perm::EnableDisable>()?;
    let done =
        services::users::mass_set_enabled(&state.store, &grant, &ctx, &req.filter, enabled, req.described).await?;
    Ok(redirect_with_flash(&state, &back, "success", &done.message(enabled)))
}

/// To the job's progress page, saying what was started.
pub(super) fn started(state: &AppState, asked: &services::mass_reset::Requested) -> Response {
    redirect_with_flash(
        state,
        &super::jobs::href(asked.job.id),
        "success",
        &format!("Password reset of {} started.", users_phrase(asked.affected)),
    )
}

/// How many of the selected users the confirmation lists by name.
const SAMPLE: i64 = 10;

#[derive(Template, WebTemplate)]
#[template(path = "users_mass_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    question: String,
    button: &'static str,
    is_reset: bool,
    /// The form's own fields, posted again on confirmation.
    fields: Vec<(String, String)>,
    users: Vec<User>,
    more: String,
    back: String,
}

/// The question as a page, for a browser without the page's script.
async fn confirm(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let Some(req) = read(&form)? else {
        let back = GridState::from_query(value(&form, "query")).href();
        return Ok(redirect_with_flash(&state, &back, "error", "Select at least one user."));
    };
    match req.action {
        MassAction::ResetPassword => viewer.actor.allow::<perm::ResetPasswords>().map(drop)?,
        _ => viewer.actor.allow::<perm::EnableDisable>().map(drop)?,
    }
    let grant = viewer.actor.allow::<perm::ViewUsers>()?;
    // the count the action will take: the same filter, within the same organizations
    let page = services::users::list(&state.store, &grant, &req.filter, &UserSort::default(), 1, SAMPLE).await?;
    let shown = i64::try_from(page.users.len()).unwrap_or(0);
    Ok(ConfirmPage {
        layout,
        question: req.action.question(&users_phrase(page.total)),
        button: req.action.button(),
        is_reset: req.action == MassAction::ResetPassword,
        fields: form.into_iter().filter(|(k, _)| k != "csrf").collect(),
        users: page.users,
        more: if page.total > shown {
            format!("… and {} more", thousands(page.total - shown))
        } else {
            String::new()
        },
        back: req.gs.href(),
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_names_the_count() {
        assert_eq!(
            MassAction::Disable.question(&users_phrase(4613)),
            "Disable 4,613 users?"
        );
        assert_eq!(MassAction::Enable.question(&users_phrase(1)), "Enable 1 user?");
        assert_eq!(
            MassAction::ResetPassword.question(&users_phrase(2)),
            "Reset the password of 2 users?"
        );
    }

    #[test]
    fn the_form_selects_ticked_ids_or_all_matching_minus_exceptions() {
        let form = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let ticked = read(&form(&[
            ("query", "view=all"),
            ("action", "disable"),
            ("id", "3"),
            ("id", "2"),
            ("id", "3"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(ticked.filter.only_ids, Some(vec![2, 3]));
        let all = read(&form(&[
            ("query", "view=all&q=smith"),
            ("action", "enable"),
            ("all", "1"),
            ("except", "9"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(all.filter.search.as_deref(), Some("smith"));
        assert_eq!(all.filter.exclude_ids, vec![9]);
        assert!(
            read(&form(&[("query", "view=all"), ("action", "disable")]))
                .unwrap()
                .is_none()
        );
        assert!(read(&form(&[("action", "drop_table"), ("id", "1")])).is_err());
    }
}
