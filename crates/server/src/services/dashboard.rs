//! The numbers of the dashboard `/admin`, within what the viewer may see: users
//! and sign-ins of their organizations (the grid's scope), exports and mail
//! only for those who may open those pages. Every number is read from a
//! counter muster keeps (`user_counts`, `user_org_counts`,
//! `login_attempt_hours`) or from a short list, never by scanning users or
//! login attempts: the page stays fast at a million users.

use muster_domain::permission::perm;
use muster_domain::{Actor, Allowed, AuthStatus, Millis, Selection, UserFilter, View};
use muster_store::login_rollup::{self, HOUR_MS};
use muster_store::users::{self, Scope};
use muster_store::{Store, organizations, outbox};

use super::exports;
use crate::error::AppResult;

pub const DAY_MS: Millis = 24 * HOUR_MS;
/// The sign-ins chart: the last 7 days, hour by hour (the current one last).
pub const HOURS: i64 = 7 * 24;
/// The lockouts chart: the last 7 days, today last.
pub const DAYS: i64 = 7;

/// Sign-ins of one hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hour {
    pub start: Millis,
    pub successes: i64,
    pub failures: i64,
    pub lockouts: i64,
}

/// A number the dashboard shows, with the page that lists what it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub count: i64,
    pub href: String,
}

#[derive(Debug, Clone)]
pub struct Dashboard {
    pub hours: Vec<Hour>,
    /// Lockouts per UTC day; `href` lists that day's lock events.
    pub lockouts: Vec<Bar>,
    pub statuses: Vec<Bar>,
    pub organizations: Vec<Bar>,
    /// `None` when the viewer may not see exports.
    pub exports: Option<Vec<Bar>>,
    /// `None` when the viewer may not see the mail outbox.
    pub mails: Option<Vec<Bar>>,
    /// Whether the viewer may open the login attempts and the audit log.
    pub can_audit: bool,
}

/// The grid's link for a filter: the same codec the grid reads.
pub fn grid_href(filter: UserFilter) -> String {
    let selection = Selection {
        filter,
        ..Selection::default()
    };
    let query = serde_urlencoded::to_string(selection.to_query_pairs()).unwrap_or_default();
    format!("/admin/users?{query}")
}

/// The four statuses the dashboard counts, as grid filters: Active and
/// Disabled are the built-in views, Locked and Password reset the status filter
/// over all users (a disabled user may also be locked, as in the grid).
pub fn status_filters() -> Vec<(&'static str, UserFilter)> {
    let view = |v: View| UserFilter {
        view: Some(v),
        ..UserFilter::default()
    };
    let status = |s: AuthStatus| UserFilter {
        view: Some(View::All),
        auth_statuses: vec![s],
        ..UserFilter::default()
    };
    vec![
        ("Active", view(View::Active)),
        ("Disabled", view(View::Disabled)),
        (AuthStatus::Locked.label(), status(AuthStatus::Locked)),
        (AuthStatus::PasswordReset.label(), status(AuthStatus::PasswordReset)),
    ]
}

#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn load(store: &Store, grant: &Allowed<perm::ViewUsers>, now: Millis) -> AppResult<Dashboard> {
    let actor = grant.actor();
    let scope = super::users::scope_of(actor);
    let mut conn = store.conn().await?;

    let this_hour = now - now.rem_euclid(HOUR_MS);
    let first_hour = this_hour - (HOURS - 1) * HOUR_MS;
    let counts = login_rollup::hourly(&mut conn, &scope, first_hour).await?;
    let hours = per_hour(first_hour, &counts);
    let lockouts = per_day(now, &hours);

    let mut statuses = Vec::new();
    for (label, filter) in status_filters() {
        statuses.push(Bar {
            label: label.to_owned(),
            count: users::count(&mut conn, &scope, &filter).await?,
            href: grid_href(filter),
        });
    }

    // each organization alone: its trigger-kept counter, not a scan
    let mut orgs = Vec::new();
    for org in organizations::list(&mut conn).await? {
        if !actor.organization_ids.contains(&org.id) {
            continue;
        }
        let all = UserFilter {
            view: Some(View::All),
            ..UserFilter::default()
        };
        let count = users::count(&mut conn, &Scope::Organizations(vec![org.id]), &all).await?;
        orgs.push(Bar {
            label: org.name,
            count,
            href: grid_href(UserFilter {
                organization_id: Some(org.id),
                ..all
            }),
        });
    }

    let mails = match actor.allow::<perm::ManageSettings>() {
        Ok(_) => Some(mail_bars(outbox::counts(&mut conn).await?)),
        Err(_) => None,
    };
    drop(conn);
    let exports = match actor.allow::<perm::ExportUsers>() {
        Ok(g) => Some(export_bars(store, &g).await?),
        Err(_) => None,
    };
    Ok(Dashboard {
        hours,
        lockouts,
        statuses,
        organizations: orgs,
        exports,
        mails,
        can_audit: can_audit(actor),
    })
}

fn can_audit(actor: &Actor) -> bool {
    actor.allow::<perm::ViewAudit>().is_ok()
}

/// Every hour of the window, with zeros where nothing happened.
fn per_hour(first_hour: Millis, counts: &[login_rollup::HourCount]) -> Vec<Hour> {
    let mut hours: Vec<Hour> = (0..HOURS)
        .map(|i| Hour {
            start: first_hour + i * HOUR_MS,
            ..Hour::default()
        })
        .collect();
    for c in counts {
        let Ok(i) = usize::try_from((c.hour - first_hour) / HOUR_MS) else {
            continue;
        };
        let Some(h) = hours.get_mut(i) else {
            continue;
        };
        match c.outcome.as_str() {
            "success" => h.successes += c.n,
            "failure" => h.failures += c.n,
            "lockout" => h.lockouts += c.n,
            _ => {}
        }
    }
    hours
}

/// Lockouts per UTC day, the last [`DAYS`] days; each links to that day's
/// "locked" events in the audit log (written in the same transaction as
/// the attempt that locked).
fn per_day(now: Millis, hours: &[Hour]) -> Vec<Bar> {
    let today = now - now.rem_euclid(DAY_MS);
    (0..DAYS)
        .map(|i| {
            let day = today - (DAYS - 1 - i) * DAY_MS;
            let count = hours
                .iter()
                .filter(|h| h.start >= day && h.start < day + DAY_MS)
                .map(|h| h.lockouts)
                .sum();
            let date = muster_domain::dates::format_bound(day, false);
            Bar {
                href: format!(
                    "/admin/audit?action={}&from={date}&to={date}",
                    muster_domain::AuditAction::UserLocked.code()
                ),
                label: date,
                count,
            }
        })
        .collect()
}

/// The outbox by status, as the mail page counts it: waiting, delivered, failed.
fn mail_bars(counts: Vec<(String, i64)>) -> Vec<Bar> {
    let of = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    [("Queued", "pending"), ("Delivered", "sent"), ("Failed", "failed")]
        .into_iter()
        .map(|(label, status)| Bar {
            label: label.to_owned(),
            count: of(status),
            href: "/admin/mail".to_owned(),
        })
        .collect()
}

/// The exports the Exports page lists, by state.
async fn export_bars(store: &Store, grant: &Allowed<perm::ExportUsers>) -> AppResult<Vec<Bar>> {
    let list = exports::list(store, grant).await?;
    let of = |states: &[&str]| {
        let n = list.iter().filter(|e| states.contains(&e.state())).count();
        i64::try_from(n).unwrap_or(i64::MAX)
    };
    Ok(vec![
        Bar {
            label: "Queued".to_owned(),
            count: of(&["queued", "running"]),
            href: "/admin/exports".to_owned(),
        },
        Bar {
            label: "Delivered".to_owned(),
            count: of(&["done", "expired"]),
            href: "/admin/exports".to_owned(),
        },
        Bar {
            label: "Failed".to_owned(),
            count: of(&["failed"]),
            href: "/admin/exports".to_owned(),
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_filled_and_counted_in_their_slot() {
        let first = 1_000 * HOUR_MS;
        let counts = vec![
            login_rollup::HourCount {
                hour: first,
                outcome: "success".into(),
                n: 3,
            },
            login_rollup::HourCount {
                hour: first + 5 * HOUR_MS,
                outcome: "lockout".into(),
                n: 1,
            },
            login_rollup::HourCount {
                hour: first + HOURS * HOUR_MS,
                outcome: "failure".into(),
                n: 9,
            },
        ];
        let hours = per_hour(first, &counts);
        assert_eq!(hours.len(), usize::try_from(HOURS).unwrap());
        assert_eq!(hours[0].successes, 3);
        assert_eq!(hours[5].lockouts, 1);
        assert_eq!(hours.iter().map(|h| h.failures).sum::<i64>(), 0, "outside the window");
    }

    #[test]
    fn lockouts_sum_per_day_and_link_to_that_day() {
        let now = 20_000 * DAY_MS + 3 * HOUR_MS;
        let first = now - now.rem_euclid(HOUR_MS) - (HOURS - 1) * HOUR_MS;
        let mut hours = per_hour(first, &[]);
        let today = hours.len() - 1;
        hours[today].lockouts = 2;
        hours[today - 1].lockouts = 1;
        hours[today - 4].lockouts = 4; // yesterday, 23:00
        let days = per_day(now, &hours);
        assert_eq!(days.len(), 7);
        assert_eq!(days[6].count, 3);
        assert_eq!(days[5].count, 4);
        assert!(days[6].href.contains("action=user.locked"));
        assert!(days[6].href.ends_with(&format!("from={0}&to={0}", days[6].label)));
    }

    #[test]
    fn status_links_are_the_grid_codec() {
        let hrefs: Vec<String> = status_filters().into_iter().map(|(_, f)| grid_href(f)).collect();
        assert_eq!(hrefs[0], "/admin/users?view=active");
        assert_eq!(hrefs[1], "/admin/users?view=disabled");
        assert_eq!(hrefs[2], "/admin/users?view=all&status=locked");
        assert_eq!(hrefs[3], "/admin/users?view=all&status=password_reset");
    }
}
