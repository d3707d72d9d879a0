//! The dashboard `/admin`: the numbers it shows for known data, its links,
//! the rollup of login attempts against a direct count after real sign-ins,
//! a User Manager's organization scope, a plain User refused; and in
//! Chromium, the SVG charts under the CSP.

use muster_store::login_rollup;
use muster_store::users::Scope;
use serde_json::json;

use crate::csv_support::start_export;
use crate::security_headers::{inline_code, violations};
use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, Client, PASSWORD, TestApp, TestDb, location};

/// The number in the data table cell `data-count="{key}"`.
fn shown(page: &str, key: &str) -> i64 {
    let marker = format!("data-count=\"{key}\">");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {key} on the page")) + marker.len();
    let end = page[start..].find('<').unwrap() + start;
    page[start..end].trim().parse().unwrap()
}

async fn sign_in_status(app: &TestApp, username: &str, password: &str) -> u16 {
    app.client().login(username, password).await.status().as_u16()
}

async fn a_user_page_post(admin: &Client, id: i64, action: &str) {
    let page = format!("/admin/users/{id}");
    let r = admin.post(&page, &format!("{page}/{action}"), &[]).await;
    assert_eq!(r.status(), 303, "{action}");
}

async fn dashboard_story(app: TestApp) {
    let mut conn = app.store().conn().await.unwrap();
    for (key, value) in [("failed_login_limit", "3"), ("login_failures_per_address", "0")] {
        muster_store::settings::put(&mut conn, key, value, 0).await.unwrap();
    }
    drop(conn);
    let north = app.create_org("North").await;
    let admin_user = app.user_by_name("admin").await;
    let mut conn = app.store().conn().await.unwrap();
    let main = muster_store::users::organization_ids(&mut conn, admin_user.id)
        .await
        .unwrap()[0];
    // the administrator of both organizations: every organization there is
    muster_store::users::set_organizations(&mut conn, admin_user.id, &[main, north])
        .await
        .unwrap();
    drop(conn);
    app.create_user("alice", &["User"]).await;
    let bob = app.create_user("bob", &["User"]).await;
    let carol = app.create_user("carol", &["User"]).await;
    let dave = app.create_user("dave", &["User"]).await;
    app.create_user_in("erin", &["User Manager"], &["North"]).await;
    app.create_user_in("nick", &["User"], &["North"]).await;

    // sign-ins: 3 right (admin, alice, erin), 6 refused (bob 3 — the third locks —, nick, nobody, alice)
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    assert_eq!(sign_in_status(&app, "alice", PASSWORD).await, 303);
    for _ in 0..3 {
        assert_eq!(sign_in_status(&app, "bob", "wrong password!").await, 401);
    }
    assert_eq!(sign_in_status(&app, "nick", "wrong password!").await, 401);
    assert_eq!(sign_in_status(&app, "nobody", "wrong password!").await, 401);
    assert_eq!(sign_in_status(&app, "alice", "wrong password!").await, 401);
    let erin = app.signed_in("erin", PASSWORD).await;
    assert_eq!(app.user(bob.id).await.auth_status, muster_domain::AuthStatus::Locked);
    a_user_page_post(&admin, carol.id, "disable").await;
    a_user_page_post(&admin, dave.id, "reset-password").await;
    start_export(&app, &admin, "").await;

    // the rollup the page reads holds what a direct count of the attempts finds
    let mut conn = app.store().conn().await.unwrap();
    let since = muster_server::clock::now() - 7 * 24 * login_rollup::HOUR_MS;
    let rolled = login_rollup::hourly(&mut conn, &Scope::System, since).await.unwrap();
    assert_eq!(rolled, login_rollup::counted(&mut conn, None, since).await.unwrap());
    let total = |outcome: &str| -> i64 { rolled.iter().filter(|r| r.outcome == outcome).map(|r| r.n).sum() };
    assert_eq!((total("success"), total("failure"), total("lockout")), (3, 6, 1));
    let north_rolled = login_rollup::hourly(&mut conn, &Scope::Organizations(vec![north]), since)
        .await
        .unwrap();
    assert_eq!(
        north_rolled,
        login_rollup::counted(&mut conn, Some(&[north]), since).await.unwrap()
    );
    let mails = muster_store::outbox::counts(&mut conn).await.unwrap();
    drop(conn);
    // the lockout's mail and the reset's, not delivered (no worker runs here)
    assert_eq!(mails, vec![("pending".to_owned(), 2)]);

    let r = admin.get("/admin").await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("<svg class=\"chart\""), "charts are in the page");
    assert!(inline_code(&page).is_empty(), "{:?}", inline_code(&page));
    // the links as a browser reads them
    let page = page.replace("&#38;", "&").replace("&amp;", "&");
    assert!(page.contains("3 successful sign-ins, 6 failed attempts, 1 of them locked an account"));
    for (key, n) in [
        ("statuses-0", 6),      // active = enabled: admin, alice, bob, dave, erin, nick
        ("statuses-1", 1),      // disabled: carol
        ("statuses-2", 1),      // locked: bob
        ("statuses-3", 1),      // password reset: dave
        ("organizations-0", 5), // Main: admin, alice, bob, carol, dave
        ("organizations-1", 3), // North: admin, erin, nick
        ("exports-0", 1),       // queued
        ("exports-1", 0),
        ("mails-0", 2), // queued
        ("mails-1", 0),
    ] {
        assert_eq!(shown(&page, key), n, "{key}");
    }
    // (summed over the days: a test run across midnight UTC still counts one)
    let lockouts: i64 = (0..7).map(|d| shown(&page, &format!("lockouts-{d}"))).sum();
    assert_eq!(lockouts, 1);
    for href in [
        "/admin/users?view=active",
        "/admin/users?view=disabled",
        "/admin/users?view=all&status=locked",
        "/admin/users?view=all&status=password_reset",
        &format!("/admin/users?view=all&org={north}"),
        "/admin/audit?action=user.locked&from=",
        "/admin/login-attempts?success=no&from=",
        "/admin/login-attempts?success=yes&from=",
        "href=\"/admin/exports\"",
        "href=\"/admin/mail\"",
    ] {
        assert!(page.contains(href), "links {href}");
    }
    // the links list what the chart counts
    let locked = admin.get_text("/admin/users?view=all&status=locked").await;
    assert!(
        locked.contains(">bob<") || locked.contains("bob"),
        "the locked user is listed"
    );
    assert!(!locked.contains("carol"));
    let start = page.find("/admin/login-attempts?success=no&from=").unwrap();
    let end = page[start..].find('"').unwrap() + start;
    let failures = admin.get_text(&page[start..end]).await;
    assert!(failures.contains("account locked") && failures.contains("nobody"));
    assert!(!failures.contains("badge ok\">Succeeded"), "only failures");
    let start = page.rfind("/admin/audit?action=user.locked").unwrap(); // today, the last day
    let end = page[start..].find('"').unwrap() + start;
    let audit = admin.get_text(&page[start..end]).await;
    assert!(audit.contains("bob"), "today's lock event: {audit}");

    // a User Manager of North sees North only, and no exports, mail or logs
    let page = erin.get_text("/admin").await;
    for (key, n) in [
        ("statuses-0", 3), // admin, erin, nick
        ("statuses-1", 0),
        ("statuses-2", 0),
        ("statuses-3", 0),
        ("organizations-0", 3),
    ] {
        assert_eq!(shown(&page, key), n, "User Manager {key}");
    }
    assert!(!page.contains("data-count=\"organizations-1\""), "one organization");
    assert_eq!((0..7).map(|d| shown(&page, &format!("lockouts-{d}"))).sum::<i64>(), 0);
    assert!(!page.contains(">Main<"));
    // North's attempts: admin's and erin's sign-ins, nick's failure
    assert!(page.contains("2 successful sign-ins, 1 failed attempts, 0 of them locked an account"));
    assert!(!page.contains("chart-exports") && !page.contains("chart-mails"));
    assert!(!page.contains("/admin/login-attempts") && !page.contains("/admin/audit"));

    // a plain User is refused, as on every admin page; nobody signed in is sent to sign in
    let alice = app.signed_in("alice", PASSWORD).await;
    assert_eq!(alice.get("/admin").await.status(), 403);
    let r = app.client().get("/admin").await;
    assert!(
        r.status().is_redirection() && location(&r).starts_with("/login"),
        "{}",
        location(&r)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_numbers_links_and_scope_sqlite() {
    dashboard_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_numbers_links_and_scope_postgres() {
    dashboard_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_chromium_shows_svg_charts_without_csp_violations() {
    let app = TestApp::spawn().await;
    app.create_user("jdoe", &["User"]).await;
    assert_eq!(sign_in_status(&app, "jdoe", "wrong password!").await, 401);
    let b = Browser::start().await;
    // signing in lands on the dashboard
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;
    b.find("#chart-sign-ins svg.chart").await;
    assert!(b.current_url().await.ends_with("/admin"), "{}", b.current_url().await);
    let charts = b
        .execute(
            "return Array.from(document.querySelectorAll('svg.chart')).map(function (s) { \
               var r = s.getBoundingClientRect(); \
               return [s.querySelector('title').textContent, r.width > 100 && r.height > 50]; })",
            json!([]),
        )
        .await;
    let charts = charts.as_array().unwrap();
    assert_eq!(charts.len(), 6, "{charts:?}");
    assert!(
        charts.iter().all(|c| c[1] == json!(true)),
        "every chart is drawn: {charts:?}"
    );
    assert_eq!(charts[0][0], json!("Sign-ins and failures per hour, last 7 days"));
    let v = violations(&b).await;
    assert!(v.is_empty(), "CSP violations {v:?}");
    // dashboard.css applies (it sizes the charts to their cards)
    let display = b
        .execute(
            "return getComputedStyle(document.querySelector('#chart-sign-ins svg')).display",
            json!([]),
        )
        .await;
    assert_eq!(display, json!("block"));
}
