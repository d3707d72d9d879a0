//! The audit log `/admin/audit` and the login attempts `/admin/login-attempts`:
//! filtered, newest first, a page of 50 at a time.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use muster_domain::permission::perm;
use muster_store::{audit, login_attempts};
use serde::{Deserialize, Serialize};

use super::audit_view::EventView;
use super::session::{Layout, Viewer};
use super::{PageError, TimeFmt};
use crate::app::AppState;
use crate::clock;

const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/audit", get(audit_log))
        .route("/admin/login-attempts", get(attempts))
}

/// Previous/next links that keep the filters.
struct Pager {
    page: i64,
    prev: Option<String>,
    next: Option<String>,
}

fn pager<Q: Serialize>(path: &str, q: &Q, page: i64, got: usize) -> Pager {
    let href = |p: i64| {
        let base = serde_urlencoded::to_string(q).unwrap_or_default();
        let sep = if base.is_empty() { "" } else { "&" };
        format!("{path}?{base}{sep}page={p}")
    };
    Pager {
        page,
        prev: (page > 1).then(|| href(page - 1)),
        next: (i64::try_from(got).unwrap_or(0) >= PAGE).then(|| href(page + 1)),
    }
}

fn page_of(raw: Option<&str>) -> i64 {
    raw.and_then(|p| p.parse().ok()).unwrap_or(1_i64).max(1)
}

fn date_problem(label: &str, raw: &str) -> Option<String> {
    (!raw.trim().is_empty() && clock::parse_date(raw, false).is_none())
        .then(|| format!("{label}: {raw:?} is not a date (YYYY-MM-DD); ignored"))
}

#[derive(Deserialize, Serialize, Default)]
struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(skip_serializing)]
    page: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    q: AuditQuery,
    events: Vec<EventView>,
    pager: Pager,
    problems: Vec<String>,
    /// Every action's code and words, for the filter's choices.
    actions: Vec<(&'static str, &'static str)>,
}

/// The organizations whose events `actor` sees: `None` (all) when they belong to
/// every organization there is, so the common case adds nothing to the query.
async fn audit_scope(
    conn: &mut muster_store::Conn,
    actor: &muster_domain::Actor,
) -> Result<Option<Vec<i64>>, PageError> {
    let all = muster_store::organizations::list(conn).await?;
    let every = all.iter().all(|o| actor.organization_ids.contains(&o.id));
    Ok((!every).then(|| actor.organization_ids.clone()))
}

async fn audit_log(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Query(q): Query<AuditQuery>,
) -> Result<AuditPage, PageError> {
    viewer.actor.allow::<perm::ViewAudit>()?;
    let page = page_of(q.page.as_deref());
    let filter = audit::Filter {
        actor: Some(q.actor.trim().to_owned()),
        target: Some(q.target.trim().to_owned()),
        action: Some(q.action.trim().to_owned()),
        from: clock::parse_date(&q.from, false),
        to: clock::parse_date(&q.to, true),
        target_id: None,
        organization_ids: None,
    };
    let mut conn = state.store.conn().await?;
    let filter = audit::Filter {
        organization_ids: audit_scope(&mut conn, &viewer.actor).await?,
        ..filter
    };
    let events = audit::list(&mut conn, &filter, PAGE, (page - 1).saturating_mul(PAGE)).await?;
    let problems = [date_problem("From", &q.from), date_problem("To", &q.to)]
        .into_iter()
        .flatten()
        .collect();
    Ok(AuditPage {
        layout,
        pager: pager("/admin/audit", &q, page, events.len()),
        events: events.into_iter().map(super::audit_view::view).collect(),
        q,
        problems,
        actions: muster_domain::AuditAction::ALL
            .iter()
            .map(|a| (a.code(), a.wording()))
            .collect(),
    })
}

#[derive(Deserialize, Serialize, Default)]
struct AttemptsQuery {
    #[serde(default)]
    user: String,
    /// `yes`, `no` or empty.
    #[serde(default)]
    success: String,
    /// `web`, `api` or empty.
    #[serde(default)]
    source: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(skip_serializing)]
    page: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "login_attempts.html")]
struct AttemptsPage {
    layout: Layout,
    q: AttemptsQuery,
    attempts: Vec<login_attempts::Attempt>,
    pager: Pager,
    problems: Vec<String>,
}

async fn attempts(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Query(q): Query<AttemptsQuery>,
) -> Result<AttemptsPage, PageError> {
    viewer.actor.allow::<perm::ViewAudit>()?;
    let page = page_of(q.page.as_deref());
    let filter = login_attempts::Filter {
        username: Some(q.user.trim().to_owned()),
        user_id: None,
        success: match q.success.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        source: Some(q.source.clone()).filter(|s| s == "web" || s == "api"),
        from: clock::parse_date(&q.from, false),
        to: clock::parse_date(&q.to, true),
        organization_ids: None,
    };
    let mut conn = state.store.conn().await?;
    let filter = login_attempts::Filter {
        organization_ids: audit_scope(&mut conn, &viewer.actor).await?,
        ..filter
    };
    let attempts = login_attempts::list(&mut conn, &filter, PAGE, (page - 1).saturating_mul(PAGE)).await?;
    let problems = [date_problem("From", &q.from), date_problem("To", &q.to)]
        .into_iter()
        .flatten()
        .collect();
    Ok(AttemptsPage {
        layout,
        pager: pager("/admin/login-attempts", &q, page, attempts.len()),
        attempts,
        q,
        problems,
    })
}
