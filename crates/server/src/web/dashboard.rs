//! The dashboard `/admin`: the first page after sign-in for Administrators and
//! User Managers. Numbers from `services::dashboard`, charts from
//! `web::charts`; each chart links to the page that lists what it counts.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use muster_domain::Millis;
use muster_domain::permission::perm;

use super::charts::{self, Words};
use super::session::{Layout, Viewer};
use super::{PageError, TimeFmt};
use crate::app::AppState;
use crate::clock;
use crate::services::dashboard::{self, Bar, Hour};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin", get(page))
}

/// One chart: its SVG, the link to the list it counts, and its numbers as a table.
struct Card {
    id: &'static str,
    title: &'static str,
    svg: String,
    link: Option<(String, &'static str)>,
    rows: Vec<Bar>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    sign_ins_svg: String,
    /// Hours with any attempt, newest first: the sign-ins chart as a table.
    active_hours: Vec<Hour>,
    /// (label, href) of the login attempts log, filtered to the chart's window.
    sign_in_links: Vec<(&'static str, String)>,
    cards: Vec<Card>,
}

async fn page(State(state): State<AppState>, layout: Layout, viewer: Viewer) -> Result<DashboardPage, PageError> {
    let grant = viewer.actor.allow::<perm::ViewUsers>()?;
    let d = dashboard::load(&state.store, &grant, clock::now()).await?;

    let first = d.hours.first().map_or(0, |h| h.start);
    let hour_at = |i: i64| first + i * muster_store::login_rollup::HOUR_MS;
    let (ok, bad, locked) = d.hours.iter().fold((0, 0, 0), |t, h| {
        (t.0 + h.successes, t.1 + h.failures, t.2 + h.lockouts)
    });
    let sign_ins_svg = charts::sign_ins(
        &Words {
            id: "sign-ins",
            title: "Sign-ins and failures per hour, last 7 days",
            desc: format!(
                "From {} to now: {ok} successful sign-ins, {bad} failed attempts, {locked} of them locked an account.",
                clock::format(first)
            ),
        },
        &d.hours,
        &|i| axis_hour(hour_at(i)),
    )?;
    let since = muster_domain::dates::format_bound(first, false);
    let sign_in_links = if d.can_audit {
        vec![
            (
                "Successful sign-ins",
                format!("/admin/login-attempts?success=yes&from={}", url(&since)),
            ),
            (
                "Failed sign-ins",
                format!("/admin/login-attempts?success=no&from={}", url(&since)),
            ),
        ]
    } else {
        Vec::new()
    };
    let active_hours = d
        .hours
        .iter()
        .rev()
        .filter(|h| h.successes + h.failures > 0)
        .cloned()
        .collect();

    let mut cards = Vec::new();
    let lockout_total: i64 = d.lockouts.iter().map(|b| b.count).sum();
    let mut lockouts = d.lockouts;
    if !d.can_audit {
        // the audit log is not theirs to open
        lockouts.iter_mut().for_each(|b| b.href.clear());
    }
    cards.push(card(
        "lockouts",
        "Lockouts per day",
        format!("{lockout_total} accounts locked by failed sign-ins in the last 7 days."),
        Some(("/admin/users?view=all&status=locked".to_owned(), "Locked users")),
        lockouts,
    )?);
    cards.push(card(
        "statuses",
        "Users by status",
        describe(&d.statuses),
        Some(("/admin/users?view=all".to_owned(), "All users")),
        d.statuses,
    )?);
    cards.push(card(
        "organizations",
        "Users by organization",
        describe(&d.organizations),
        Some(("/admin/users?view=all".to_owned(), "All users")),
        d.organizations,
    )?);
    if let Some(exports) = d.exports {
        cards.push(card(
            "exports",
            "Exports",
            describe(&exports),
            Some(("/admin/exports".to_owned(), "Exports")),
            exports,
        )?);
    }
    if let Some(mails) = d.mails {
        cards.push(card(
            "mails",
            "Mail",
            describe(&mails),
            Some(("/admin/mail".to_owned(), "Mail outbox")),
            mails,
        )?);
    }
    Ok(DashboardPage {
        layout,
        sign_ins_svg,
        active_hours,
        sign_in_links,
        cards,
    })
}

fn card(
    id: &'static str,
    title: &'static str,
    desc: String,
    link: Option<(String, &'static str)>,
    rows: Vec<Bar>,
) -> Result<Card, PageError> {
    // a day's bar is named by its month and day: the year is in the table
    let name = |b: &Bar| match id {
        "lockouts" => b.label.get(5..).unwrap_or_default().to_owned(),
        _ => b.label.clone(),
    };
    let svg = charts::bars(&Words { id, title, desc }, &rows, &name)?;
    Ok(Card {
        id,
        title,
        svg,
        link,
        rows,
    })
}

/// "Active: 12, Disabled: 3": the numbers of a bar chart in one sentence.
fn describe(bars: &[Bar]) -> String {
    if bars.is_empty() {
        return "Nothing to show.".to_owned();
    }
    bars.iter()
        .map(|b| format!("{}: {}", b.label, b.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An hour on the chart's axis: `12-05 14h` (UTC).
fn axis_hour(ms: Millis) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    let fmt = time::macros::format_description!("[month]-[day] [hour]h");
    t.format(&fmt).unwrap_or_default()
}

fn url(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

impl DashboardPage {
    fn hour_text(&self, h: &Hour) -> String {
        self.when(&h.start)
    }
}
