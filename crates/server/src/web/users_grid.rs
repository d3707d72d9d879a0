//! The users grid `/admin/users`: server-side filters, sort, columns and
//! pages, the built-in and saved views, and the mass actions.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use muster_domain::permission::perm;
use muster_domain::{Action, AuthStatus, Error as DomainError, Permission, Role, SortDir, View};
use muster_store::saved_views::SavedView;
use muster_store::users::User;

use super::grid_state::{COLUMNS, Chip, GridState, PAGE_SIZES, PageLink, thousands};
use super::session::{Layout, Viewer, redirect_with_flash};
use super::users_mass::MassAction;
use super::users_mass::value;
use super::{PageError, TimeFmt};
use crate::app::AppState;
use crate::error::AppError;
use crate::services;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(grid))
        .route("/admin/users/views", post(save_view))
        .route("/admin/users/views/{id}/rename", post(rename_view))
        .route("/admin/users/views/{id}/delete", post(delete_view))
        .route("/admin/users/views/{id}/default", post(default_view))
}

struct Head {
    key: &'static str,
    label: &'static str,
    href: String,
    /// `ascending`, `descending` or `none`, for aria-sort.
    aria_sort: &'static str,
    mark: &'static str,
}

struct Tab {
    href: String,
    label: String,
    id: String,
    current: bool,
    is_default: bool,
}

/// A grid row, with the actions the rule lets the viewer take on this user.
struct Row {
    user: User,
    locked: bool,
    editable: bool,
    may_enable: bool,
    may_disable: bool,
    may_activate: bool,
    may_reset: bool,
    may_delete: bool,
    two_factor: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
struct GridPage {
    layout: Layout,
    state: GridState,
    query: String,
    here: String,
    heads: Vec<Head>,
    rows: Vec<Row>,
    total: i64,
    /// `total` with thousands separators, and a `+` where counting stopped.
    total_text: String,
    /// Counting stopped at the cap: more than `total` users match, and the
    /// pager knows no last page.
    total_is_lower_bound: bool,
    /// The cap, in words, for the note that says why the total ends in `+`.
    cap_text: String,
    pages: i64,
    /// `pages`, with a `+` where counting stopped.
    pages_text: String,
    prev_href: Option<String>,
    next_href: Option<String>,
    first_href: String,
    last_href: String,
    page_links: Vec<PageLink>,
    /// The active filters, their values in words.
    chips: Vec<Chip>,
    /// How many filters of "More filters" are set.
    more_filters_set: usize,
    /// The state the filter bar does not ask for (view, sort, size).
    filter_hidden: Vec<(&'static str, String)>,
    /// The state the pager's form does not ask for (all but page and size).
    pager_hidden: Vec<(&'static str, String)>,
    tabs: Vec<Tab>,
    current_saved: Option<SavedView>,
    columns: Vec<(&'static str, &'static str, bool)>,
    statuses: Vec<(&'static str, &'static str, bool)>,
    roles: Vec<(&'static str, bool)>,
    orgs: Vec<(i64, String, bool)>,
    sizes: Vec<(i64, bool)>,
    can_create: bool,
    can_enable: bool,
    can_reset: bool,
}

fn pairs_of(raw: Option<&str>) -> Vec<(String, String)> {
    raw.and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default()
}

async fn grid(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ViewUsers>()?;
    let pairs = pairs_of(raw.as_deref());
    if pairs.is_empty()
        && let Some(v) = services::saved_views::default_view(&state.store, &grant).await?
    {
        let mut s = GridState::from_query(&v.query);
        s.saved = Some(v.id);
        // a message on its way to this page must survive the extra redirect
        return Ok(match &layout.flash {
            Some((kind, message)) => redirect_with_flash(&state, &s.href(), kind, message),
            None => Redirect::to(&s.href()).into_response(),
        });
    }
    let gs = GridState::from_pairs(&pairs);
    let cap = state.config.count_cap;
    let page = services::users::browse(&state.store, &grant, &gs.filter(), gs.sort(), gs.page, gs.size, cap).await?;
    let pages = ((page.total + gs.size - 1) / gs.size).max(1);
    let at_least = page.total_is_lower_bound;
    let plus = if at_least { "+" } else { "" };
    let saved = services::saved_views::list(&state.store, &grant).await?;
    let mut conn = state.store.conn().await?;
    let all_orgs = muster_store::organizations::list(&mut conn).await?;
    drop(conn);

    let first = gs.sort().0.first().copied();
    let heads = COLUMNS
        .iter()
        .filter(|c| gs.shows(c.key))
        .map(|c| {
            let (aria_sort, mark) = match first {
                Some((f, SortDir::Asc)) if f == c.sort => ("ascending", " ▲"),
                Some((f, SortDir::Desc)) if f == c.sort => ("descending", " ▼"),
                _ => ("none", ""),
            };
            Head {
                key: c.key,
                label: c.label,
                href: gs.sorted_by(c.sort).href(),
                aria_sort,
                mark,
            }
        })
        .collect();
    let mut tabs: Vec<Tab> = View::ALL
        .iter()
        .map(|v| Tab {
            href: format!("/admin/users?view={}", v.as_str()),
            label: v.label().to_owned(),
            id: format!("view-{}", v.as_str()),
            current: gs.saved.is_none() && gs.view() == *v,
            is_default: false,
        })
        .collect();
    let current_saved = gs.saved.and_then(|id| saved.iter().find(|v| v.id == id).cloned());
    for v in &saved {
        let mut s = GridState::from_query(&v.query);
        s.saved = Some(v.id);
        tabs.push(Tab {
            href: s.href(),
            label: v.name.clone(),
            id: format!("saved-{}", v.id),
            current: gs.saved == Some(v.id),
            is_default: v.is_default,
        });
    }
    let actor = &viewer.actor;
    let ids: Vec<i64> = page.users.iter().map(|u| u.id).collect();
    let with_factor = services::second_factor::with_factor(&state.store, &ids).await?;
    let rows = page
        .users
        .into_iter()
        .map(|user| {
            let may = |action| services::users::may(actor, action, &user);
            Row {
                locked: user.auth_status == AuthStatus::Locked,
                editable: may(Action::Edit),
                may_enable: may(Action::Enable),
                may_disable: may(Action::Disable),
                may_activate: may(Action::Activate),
                may_reset: may(Action::ResetPassword),
                may_delete: may(Action::Delete),
                two_factor: with_factor.contains(&user.id),
                user,
            }
        })
        .collect();
    let orgs: Vec<(i64, String, bool)> = all_orgs
        .into_iter()
        .filter(|o| actor.organization_ids.contains(&o.id))
        .map(|o| (o.id, o.name, gs.selection.filter.organization_id == Some(o.id)))
        .collect();
    let chips = gs
        .chips()
        .into_iter()
        .map(|mut c| {
            c.value = chip_words(&c, &orgs);
            c
        })
        .collect();
    let f = &gs.selection.filter;
    let more_filters_set = [
        &f.first_name_contains,
        &f.last_name_contains,
        &f.email_contains,
        &f.username_contains,
    ]
    .iter()
    .filter(|v| v.is_some())
    .count()
        + [f.created_from, f.created_to, f.updated_from, f.updated_to]
            .iter()
            .filter(|v| v.is_some())
            .count()
        + usize::from(f.second_factor.is_some());
    Ok(GridPage {
        layout,
        total_text: format!("{}{plus}", thousands(page.total)),
        total_is_lower_bound: at_least,
        cap_text: thousands(cap),
        pages_text: format!("{pages}{plus}"),
        first_href: gs.with_page(1).href(),
        last_href: gs.with_page(pages).href(),
        page_links: gs.page_links(pages),
        chips,
        more_filters_set,
        filter_hidden: gs
            .hidden_fields(&[])
            .into_iter()
            .filter(|(k, _)| matches!(*k, "view" | "sort" | "size"))
            .collect(),
        pager_hidden: gs.hidden_fields(&["page", "size"]),

        query: gs.query(),
        here: gs.href(),
        heads,
        rows,
        total: page.total,
        pages,
        prev_href: (gs.page > 1).then(|| gs.with_page(gs.page - 1).href()),
        // past a capped total there is always a next page: more users match than were counted
        next_href: (gs.page < pages || at_least).then(|| gs.with_page(gs.page + 1).href()),
        tabs,
        current_saved,
        columns: COLUMNS.iter().map(|c| (c.key, c.label, gs.shows(c.key))).collect(),
        statuses: AuthStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label(), gs.selection.filter.auth_statuses.contains(s)))
            .collect(),
        roles: Role::ALL
            .iter()
            .map(|r| (r.name(), gs.selection.filter.role.as_deref() == Some(r.name())))
            .collect(),
        orgs,
        sizes: PAGE_SIZES.iter().map(|n| (*n, gs.size == *n)).collect(),
        can_create: actor.has(Permission::CreateUsers),
        can_enable: actor.has(Permission::EnableDisable),
        can_reset: actor.has(Permission::ResetPasswords),
        state: gs,
    }
    .into_response())
}

impl GridPage {
    /// A mass action's question, `{n}` standing for "4,613 users" (grid.js fills it in).
    fn question(&self, action: &str) -> String {
        MassAction::ALL
            .iter()
            .find(|a| a.value() == action)
            .map(|a| a.question("{n}"))
            .unwrap_or_default()
    }
}

/// A chip's value in words: Yes/No, a status's label, an organization's name.
fn chip_words(c: &Chip, orgs: &[(i64, String, bool)]) -> String {
    match c.key {
        "enabled" => if c.value == "yes" { "Yes" } else { "No" }.to_owned(),
        "two_factor" => if c.value == "yes" { "On" } else { "Off" }.to_owned(),
        "status" => AuthStatus::parse(&c.value).map_or_else(|_| c.value.clone(), |s| s.label().to_owned()),
        "org" => orgs
            .iter()
            .find(|(id, _, _)| id.to_string() == c.value)
            .map_or_else(|| c.value.clone(), |(_, name, _)| name.clone()),
        _ => c.value.clone(),
    }
}

/// Where to go after a saved-view change, with the message of a refusal.
fn view_result(state: &AppState, back: &str, r: Result<String, AppError>) -> Result<Response, PageError> {
    match r {
        Ok(msg) => Ok(redirect_with_flash(state, back, "success", &msg)),
        Err(AppError::Domain(DomainError::Invalid(f))) => {
            let msg = f
                .iter()
                .map(|e| format!("View {}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            Ok(redirect_with_flash(state, back, "error", &msg))
        }
        Err(e) => Err(e.into()),
    }
}

async fn save_view(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ViewUsers>()?;
    let mut gs = GridState::from_query(value(&form, "query"));
    let name = value(&form, "name");
    match services::saved_views::save(&state.store, &grant, name, &gs.query()).await {
        Ok(id) => {
            gs.saved = Some(id);
            gs.page = 1;
            Ok(redirect_with_flash(
                &state,
                &gs.href(),
                "success",
                &format!("View \u{201c}{}\u{201d} saved.", name.trim()),
            ))
        }
        Err(e) => view_result(&state, &gs.href(), Err(e)),
    }
}

async fn rename_view(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ViewUsers>()?;
    let v = services::saved_views::get(&state.store, &grant, id).await?;
    let mut gs = GridState::from_query(&v.query);
    gs.saved = Some(id);
    let name = value(&form, "name");
    let r = services::saved_views::rename(&state.store, &grant, id, name)
        .await
        .map(|()| format!("View renamed to \u{201c}{}\u{201d}.", name.trim()));
    view_result(&state, &gs.href(), r)
}

async fn delete_view(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ViewUsers>()?;
    let v = services::saved_views::get(&state.store, &grant, id).await?;
    services::saved_views::delete(&state.store, &grant, id).await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/users?view=active",
        "success",
        &format!("View \u{201c}{}\u{201d} deleted.", v.name),
    ))
}

/// Make a view the default, or (with `unset=1`) go back to *Active users*.
async fn default_view(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ViewUsers>()?;
    let v = services::saved_views::get(&state.store, &grant, id).await?;
    let unset = value(&form, "unset") == "1";
    services::saved_views::set_default(&state.store, &grant, (!unset).then_some(id)).await?;
    let mut gs = GridState::from_query(&v.query);
    gs.saved = Some(id);
    let msg = if unset {
        "Active users is the default view again.".to_owned()
    } else {
        format!("\u{201c}{}\u{201d} is now your default view.", v.name)
    };
    Ok(redirect_with_flash(&state, &gs.href(), "success", &msg))
}
