//! One user: the page `/admin/users/{id}`, the create and edit forms, and the
//! actions of the page and of the grid's row menu (enable, disable, activate,
//! delete, reassign records).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use muster_domain::permission::perm;
use muster_domain::{Action, Actor, AuthStatus, Error as DomainError, FieldError, Permission, Role};
use muster_store::users::User;

use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use super::{PageError, TimeFmt};
use crate::app::AppState;
use crate::error::AppError;
use crate::services::{self, users::Assigned, users::UserInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/new", get(new_form).post(create))
        .route("/admin/users/{id}", get(show))
        .route("/admin/users/{id}/edit", get(edit_form).post(update))
        .route("/admin/users/{id}/enable", post(enable))
        .route("/admin/users/{id}/disable", post(disable))
        .route("/admin/users/{id}/activate", post(activate))
        .route("/admin/users/{id}/delete", post(delete))
        .route("/admin/users/{id}/reassign", post(reassign))
}

type FormPairs = Vec<(String, String)>;

fn value<'a>(form: &'a [(String, String)], key: &str) -> &'a str {
    form.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

fn values(form: &[(String, String)], key: &str) -> Vec<String> {
    form.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
}

/// The page to return to after an action: a local admin path only.
fn back_or(form: &[(String, String)], fallback: String) -> String {
    super::redirect::local_path(value(form, "back"))
        .filter(|b| b.starts_with("/admin/"))
        .unwrap_or(fallback)
}

pub(super) fn user_href(id: i64) -> String {
    format!("/admin/users/{id}")
}

// ---- the user page ----

#[derive(Template, WebTemplate)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    user: User,
    /// The grid the admin came from (`?back=`, kept by the row menu's View), or the default grid.
    grid: String,
    /// This page, with that `back`: where the page's own actions return.
    here: String,
    is_self: bool,
    locked: bool,
    assigned: Assigned,
    history: Vec<super::audit_view::EventView>,
    sessions: super::sessions::SessionsSection,
    can_edit: bool,
    can_enable: bool,
    can_activate: bool,
    can_delete: bool,
    can_reassign: bool,
    can_set_password: bool,
    can_reset: bool,
    api_keys: crate::web::ApiKeySection,
    pw: crate::web::passwords::PasswordDialog,
    has_second_factor: bool,
    can_reset_second_factor: bool,
}

async fn show(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<FormPairs>,
) -> Result<UserPage, PageError> {
    // only a grid is a place to go back to from here
    let grid = super::confirm::field(&q, "back")
        .and_then(super::redirect::local_path)
        .filter(|b| b == "/admin/users" || b.starts_with("/admin/users?"));
    let here = match &grid {
        Some(g) => format!(
            "{}?back={}",
            user_href(id),
            url::form_urlencoded::byte_serialize(g.as_bytes()).collect::<String>()
        ),
        None => user_href(id),
    };
    let grant = viewer.actor.allow::<perm::ViewUsers>()?;
    let user = services::users::get(&state.store, &grant, id).await?;
    let assigned = services::users::assigned_records(&state.store, &grant, id, 50).await?;
    let history = services::users::history(&state.store, &grant, id, 50).await?;
    let history = history.into_iter().map(super::audit_view::view).collect();
    let a = &viewer.actor;
    let sessions = super::sessions::SessionsSection::load(&state, a, &user).await?;
    let may = |action| services::users::may(a, action, &user);
    let api_keys = crate::web::ApiKeySection::load(&state, a, user.id, false).await?;
    let policy = crate::settings::Settings::load(&mut *state.store.conn().await?)
        .await?
        .password_policy();
    let mut pw = crate::web::passwords::PasswordDialog::for_user(&layout.csrf, &user, &policy);
    pw.next.clone_from(&here);
    let has_second_factor = services::second_factor::has_factor(&state.store, user.id).await?;
    Ok(UserPage {
        has_second_factor,
        can_reset_second_factor: may(Action::ResetSecondFactor),
        layout,
        grid: grid.unwrap_or_else(|| "/admin/users".to_owned()),
        here,
        is_self: user.id == a.user_id,
        locked: user.auth_status == AuthStatus::Locked,
        can_edit: may(Action::Edit),
        can_enable: may(Action::Enable),
        can_activate: may(Action::Activate),
        can_delete: may(Action::Delete),
        can_reassign: may(Action::ReassignRecords),
        can_set_password: may(Action::SetPassword),
        can_reset: may(Action::ResetPassword),
        user,
        assigned,
        history,
        sessions,
        api_keys,
        pw,
    })
}

// ---- actions ----

/// A refusal (a rule said no) goes back with its message; other errors become pages.
fn done(state: &AppState, back: &str, r: Result<String, AppError>) -> Result<Response, PageError> {
    match r {
        Ok(msg) => Ok(redirect_with_flash(state, back, "success", &msg)),
        Err(AppError::Domain(DomainError::Refused(why))) => Ok(redirect_with_flash(state, back, "error", &why)),
        Err(e) => Err(e.into()),
    }
}

async fn set_enabled(
    state: AppState,
    viewer: Viewer,
    ctx: services::Ctx,
    id: i64,
    form: FormPairs,
    enabled: bool,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::EnableDisable>()?;
    let back = back_or(&form, user_href(id));
    let r = services::users::set_enabled(&state.store, &grant, &ctx, id, enabled)
        .await
        .map(|u| {
            let word = if enabled { "enabled" } else { "disabled" };
            format!("User {} was {word}.", u.username)
        });
    done(&state, &back, r)
}

async fn enable(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<FormPairs>,
) -> Result<Response, PageError> {
    set_enabled(state, viewer, ctx, id, form, true).await
}

async fn disable(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<FormPairs>,
) -> Result<Response, PageError> {
    set_enabled(state, viewer, ctx, id, form, false).await
}

async fn activate(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<FormPairs>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::Activate>()?;
    let back = back_or(&form, user_href(id));
    let r = services::users::activate(&state.store, &grant, &ctx, id)
        .await
        .map(|u| format!("User {} was activated.", u.username));
    done(&state, &back, r)
}

async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<FormPairs>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::DeleteUsers>()?;
    let back = back_or(&form, "/admin/users".to_owned());
    // after a delete the user's own page is gone: go to the grid instead
    let back = if back.starts_with(&user_href(id)) {
        "/admin/users".to_owned()
    } else {
        back
    };
    match services::users::delete(&state.store, &grant, &ctx, id).await {
        Ok(u) => Ok(redirect_with_flash(
            &state,
            &back,
            "success",
            &format!("User {} was deleted.", u.username),
        )),
        // the way out is on the user's page: the records and Reassign records
        Err(AppError::Domain(DomainError::Refused(why))) => Ok(redirect_with_flash(
            &state,
            &format!("{}#records", user_href(id)),
            "error",
            &format!("{why}. Reassign their records first."),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn reassign(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<FormPairs>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ManageRecords>()?;
    let back = format!("{}#records", user_href(id));
    // what is echoed back in the flash cookie stays short
    let to_name: String = value(&form, "to").trim().chars().take(64).collect();
    let mut conn = state.store.conn().await?;
    let to = muster_store::users::find_by_username(&mut conn, &to_name).await?;
    drop(conn);
    let Some(to) = to else {
        return Ok(redirect_with_flash(
            &state,
            &back,
            "error",
            &format!("No user named \u{201c}{to_name}\u{201d}."),
        ));
    };
    match services::users::reassign_records(&state.store, &grant, &ctx, id, to.id).await {
        Ok(n) => Ok(redirect_with_flash(
            &state,
            &back,
            "success",
            &format!("{n} record(s) were reassigned to {}.", to.username),
        )),
        Err(AppError::Domain(DomainError::Invalid(f))) => {
            let msg = f.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ");
            let msg = if msg == "no such user" {
                format!("No user named \u{201c}{to_name}\u{201d}.")
            } else {
                format!("Cannot reassign: {msg}.")
            };
            Ok(redirect_with_flash(&state, &back, "error", &msg))
        }
        Err(e) => Err(e.into()),
    }
}

// ---- create and edit ----

#[derive(Template, WebTemplate)]
#[template(path = "user_form.html")]
struct UserFormPage {
    layout: Layout,
    /// `None` when creating.
    user_id: Option<i64>,
    title: String,
    action: String,
    input: UserInput,
    errors: Vec<FieldError>,
    can_assign: bool,
    can_enable: bool,
    roles: Vec<(&'static str, bool)>,
    orgs: Vec<(String, bool)>,
    /// Read-only, when the actor may not assign them.
    current_roles: String,
    current_orgs: String,
}

impl UserFormPage {
    fn err(&self, field: &str) -> Option<String> {
        let msgs: Vec<&str> = self
            .errors
            .iter()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
            .collect();
        (!msgs.is_empty()).then(|| msgs.join("; "))
    }

    fn general_errors(&self) -> Vec<String> {
        const KNOWN: [&str; 8] = [
            "username",
            "email",
            "first_name",
            "last_name",
            "password",
            "roles",
            "organizations",
            "enabled",
        ];
        self.errors
            .iter()
            .filter(|e| !KNOWN.contains(&e.field.as_str()))
            .map(|e| {
                if e.field.is_empty() {
                    e.message.clone()
                } else {
                    format!("{}: {}", e.field, e.message)
                }
            })
            .collect()
    }
}

async fn form_page(
    state: &AppState,
    layout: Layout,
    actor: &Actor,
    user: Option<&User>,
    input: UserInput,
    errors: Vec<FieldError>,
) -> Result<UserFormPage, PageError> {
    let mut conn = state.store.conn().await?;
    let orgs = muster_store::organizations::list(&mut conn).await?;
    drop(conn);
    let (title, action) = match user {
        Some(u) => (format!("Edit {}", u.username), format!("/admin/users/{}/edit", u.id)),
        None => ("Create User".to_owned(), "/admin/users/new".to_owned()),
    };
    Ok(UserFormPage {
        layout,
        user_id: user.map(|u| u.id),
        title,
        action,
        roles: Role::ALL
            .iter()
            .map(|r| (r.name(), input.roles.iter().any(|x| x == r.name())))
            .collect(),
        orgs: orgs
            .into_iter()
            .filter(|o| actor.organization_ids.contains(&o.id))
            .map(|o| {
                let on = input.organizations.contains(&o.name);
                (o.name, on)
            })
            .collect(),
        current_roles: user.map_or_else(String::new, |u| {
            u.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
        }),
        current_orgs: user.map_or_else(String::new, |u| u.organizations.join(", ")),
        input,
        errors,
        can_assign: services::users::may_assign_roles(actor),
        can_enable: actor.has(Permission::EnableDisable),
    })
}

fn input_from(form: &[(String, String)], with_password: bool) -> UserInput {
    let password = value(form, "password");
    UserInput {
        username: value(form, "username").to_owned(),
        email: value(form, "email").to_owned(),
        first_name: value(form, "first_name").to_owned(),
        last_name: value(form, "last_name").to_owned(),
        password: (with_password && !password.is_empty()).then(|| password.to_owned()),
        enabled: value(form, "enabled") == "1",
        roles: values(form, "roles"),
        organizations: values(form, "organizations"),
    }
}

/// Field errors of a refused form; anything else is not the form's business.
fn field_errors(e: AppError) -> Result<Vec<FieldError>, PageError> {
    match e {
        AppError::Domain(DomainError::Invalid(f)) => Ok(f),
        // a field the rule keeps this actor from changing so (leaving every organization one acts in)
        AppError::Domain(DomainError::ForbiddenField(f)) => Ok(vec![f]),
        AppError::Domain(DomainError::Conflict { field }) => {
            Ok(vec![FieldError::new("", format!("{field} is already taken"))])
        }
        other => Err(other.into()),
    }
}

async fn new_form(State(state): State<AppState>, layout: Layout, viewer: Viewer) -> Result<UserFormPage, PageError> {
    viewer.actor.allow::<perm::CreateUsers>()?;
    let input = UserInput {
        enabled: true,
        roles: vec![Role::User.name().to_owned()],
        organizations: viewer.user.organizations.first().cloned().into_iter().collect(),
        ..Default::default()
    };
    form_page(&state, layout, &viewer.actor, None, input, Vec::new()).await
}

async fn create(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<FormPairs>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::CreateUsers>()?;
    let input = input_from(&form, true);
    match services::users::create(&state.store, &state.hasher, &grant, &ctx, &input).await {
        Ok(u) => Ok(redirect_with_flash(
            &state,
            &user_href(u.id),
            "success",
            &format!("User {} was created.", u.username),
        )),
        Err(e) => {
            let errors = field_errors(e)?;
            let mut input = input;
            input.password = None;
            let page = form_page(&state, layout, &viewer.actor, None, input, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

async fn edit_form(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<UserFormPage, PageError> {
    let grant = viewer.actor.allow::<perm::EditUsers>()?;
    let user = services::users::get_for(&state.store, &grant, Action::Edit, id).await?;
    let input = UserInput {
        username: user.username.clone(),
        email: user.email.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        password: None,
        enabled: user.enabled,
        roles: user.roles.iter().map(|r| r.name().to_owned()).collect(),
        organizations: user.organizations.clone(),
    };
    form_page(&state, layout, &viewer.actor, Some(&user), input, Vec::new()).await
}

async fn update(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<FormPairs>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::EditUsers>()?;
    let user = services::users::get_for(&state.store, &grant, Action::Edit, id).await?;
    let input = input_from(&form, false);
    let assign = services::users::may_assign_roles(&viewer.actor);
    // what the form does not offer is left out, and the user keeps it
    let changes = services::users::UserChanges {
        username: Some(input.username.clone()),
        email: Some(input.email.clone()),
        first_name: Some(input.first_name.clone()),
        last_name: Some(input.last_name.clone()),
        enabled: viewer.actor.has(Permission::EnableDisable).then_some(input.enabled),
        roles: assign.then(|| input.roles.clone()),
        organizations: assign.then(|| input.organizations.clone()),
        ..Default::default()
    };
    match services::users::update(&state.store, &grant, &ctx, id, &changes).await {
        Ok(u) => Ok(redirect_with_flash(
            &state,
            &user_href(id),
            "success",
            &format!("User {} was saved.", u.username),
        )),
        Err(e) => {
            let errors = field_errors(e)?;
            let page = form_page(&state, layout, &viewer.actor, Some(&user), input, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
