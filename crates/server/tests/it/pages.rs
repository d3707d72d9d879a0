//! Issue 13 over HTTP, on SQLite and PostgreSQL: the confirmation pages of
//! actions that cannot be undone (and who may see them), landing back where
//! the admin was, the audit log in sentences and scoped to the viewer's
//! organizations, a user's sessions (list, end one, end all; the deny cases),
//! the mail outbox in the navigation, and no CSRF token in any URL.

use muster_store::users::User;

use crate::support::{ADMIN_PASSWORD, Client, PASSWORD, TestApp, TestDb, location};

async fn records(app: &TestApp, owner: &User, n: usize) {
    let mut conn = app.store().conn().await.unwrap();
    let org = muster_store::organizations::find_by_name(&mut conn, "Main")
        .await
        .unwrap()
        .unwrap();
    for i in 0..n {
        muster_store::records::insert(&mut conn, "contact", &format!("c{i}"), owner.id, org.id, 1)
            .await
            .unwrap();
    }
}

/// The public ids of the sessions listed on a user page.
fn listed_sessions(html: &str) -> Vec<String> {
    html.split("data-session=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .collect()
}

async fn session_count(app: &TestApp, id: i64) -> i64 {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::sessions::count_for_user(&mut conn, id).await.unwrap()
}

async fn audit_codes(app: &TestApp) -> Vec<String> {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::audit::list(&mut conn, &Default::default(), 500, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// Every GET form and every link of a page: none carries the CSRF token.
fn assert_no_csrf_in_urls(path: &str, html: &str) {
    assert!(!html.contains("csrf="), "{path}: a URL carries csrf");
    for form in html.split("<form").skip(1) {
        let tag = &form[..form.find('>').unwrap()];
        let body = &form[..form.find("</form>").unwrap_or(form.len())];
        let is_get = !tag.contains("method=\"post\"");
        assert!(
            !(is_get && body.contains("name=\"csrf\"")),
            "{path}: a GET form carries csrf: <form{tag}>"
        );
    }
}

async fn confirmations_and_landing_back(app: &TestApp) {
    let kim = app.create_user("kim", &["User"]).await;
    let owner = app.create_user("owner", &["User"]).await;
    records(app, &owner, 2).await;
    let gone = app.create_user("gone", &["User"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let me = app.user_by_name("admin").await;

    // Reset Password: the GET is a confirmation page; nothing changes until its form is posted
    let grid = "/admin/users?view=all&q=k&sort=username";
    let html = admin
        .get_text(&format!(
            "/admin/users/{}/reset-password?back={}",
            kim.id,
            urlencode(grid)
        ))
        .await;
    assert!(html.contains("id=\"confirm-form\""), "{html}");
    assert!(html.contains(&format!("action=\"/admin/users/{}/reset-password\"", kim.id)));
    assert!(html.contains(">Reset</button>"));
    assert!(html.contains("kim@example.com"));
    assert_eq!(
        app.user(kim.id).await.auth_status.as_str(),
        "active",
        "asking changes nothing"
    );
    // its form lands back on the grid, as the row menu's `back` says
    let r = admin
        .post(
            "/profile",
            &format!("/admin/users/{}/reset-password", kim.id),
            &[("back", grid)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), grid);
    assert_eq!(app.user(kim.id).await.auth_status.as_str(), "password_reset");
    // a hostile back goes to the user page
    let r = admin
        .post(
            "/profile",
            &format!("/admin/users/{}/reset-password", kim.id),
            &[("back", "//evil.example/admin/users")],
        )
        .await;
    assert_eq!(location(&r), format!("/admin/users/{}", kim.id));

    // the grid's name links carry it to the user page, as its row menu's View does
    let page = admin.get_text(grid).await;
    let to_kim = format!(
        "href=\"/admin/users/{}?back={}\"",
        kim.id,
        urlencode(grid).replace("%2F", "/")
    );
    assert!(
        page.matches(&to_kim).count() >= 2,
        "names and View carry the grid: {page}"
    );

    // the user page keeps the grid it was opened from, and only a grid
    let html = admin
        .get_text(&format!("/admin/users/{}?back={}", kim.id, urlencode(grid)))
        .await;
    assert!(
        html.contains(&format!("href=\"{}\" id=\"back-to-grid\"", grid.replace('&', "&#38;"))),
        "{html}"
    );
    assert!(
        html.contains(&format!("data-back=\"{}\"", grid.replace('&', "&#38;"))) && html.contains("/delete?back="),
        "Delete returns to it"
    );
    for hostile in [
        "//evil.example/admin/users",
        "/admin/audit",
        "https://evil.example/admin/users",
    ] {
        let html = admin
            .get_text(&format!("/admin/users/{}?back={}", kim.id, urlencode(hostile)))
            .await;
        assert!(html.contains("href=\"/admin/users\" id=\"back-to-grid\""), "{hostile}");
    }

    // Delete: refused ones say why before anything is confirmed
    let html = admin.get_text(&format!("/admin/users/{}/delete", owner.id)).await;
    assert!(
        html.contains("Cannot delete owner: 2 records are assigned (2 contact). Reassign their records first."),
        "{html}"
    );
    assert!(!html.contains("confirm-form"), "no Yes, Delete while refused");
    assert!(
        html.contains(&format!("/admin/users/{}#records", owner.id)),
        "the way out"
    );
    let html = admin.get_text(&format!("/admin/users/{}/delete", me.id)).await;
    assert!(
        html.contains("Cannot delete admin: you cannot delete yourself."),
        "{html}"
    );
    let check: serde_json::Value = admin
        .get(&format!("/admin/users/{}/delete/check", owner.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(check["username"], "owner");
    assert!(
        check["refused"]
            .as_str()
            .unwrap()
            .starts_with("Cannot delete owner: 2 records")
    );
    assert_eq!(check["wayOut"]["label"], "Reassign records");
    let check: serde_json::Value = admin
        .get(&format!("/admin/users/{}/delete/check", gone.id))
        .await
        .json()
        .await
        .unwrap();
    assert!(check["refused"].is_null(), "{check}");
    let html = admin
        .get_text(&format!("/admin/users/{}/delete?back={}", gone.id, urlencode(grid)))
        .await;
    assert!(html.contains(">Yes, Delete</button>"), "{html}");
    assert!(
        html.contains(&format!("value=\"{}\"", grid.replace('&', "&#38;"))),
        "back travels: {html}"
    );
    let r = admin
        .post(
            "/profile",
            &format!("/admin/users/{}/delete", gone.id),
            &[("back", grid)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), grid, "the filtered grid, not the default view");
    assert_eq!(admin.get(&format!("/admin/users/{}", gone.id)).await.status(), 404);

    // Generate Key over a key, and Revoke: both ask first
    let key_path = format!("/admin/users/{}/api-key", kim.id);
    assert_eq!(admin.post("/profile", &key_path, &[]).await.status(), 200);
    let html = admin.get_text(&format!("/admin/users/{}", kim.id)).await;
    assert!(
        html.contains(&format!("href=\"{key_path}?organization_id=")),
        "Generate Key is a confirm link now"
    );
    let org = html.split("organization_id=").nth(1).unwrap();
    let org = &org[..org.find(['"', '&']).unwrap()];
    let html = admin.get_text(&format!("{key_path}?organization_id={org}")).await;
    assert!(html.contains("The current key stops working at once"), "{html}");
    assert!(html.contains(">Generate Key</button>"));
    let html = admin
        .get_text(&format!("{key_path}/revoke?organization_id={org}"))
        .await;
    assert!(html.contains("Revoke the API key of kim in Main"), "{html}");
    assert!(html.contains(">Revoke</button>"));
    let r = admin
        .post("/profile", &format!("{key_path}/revoke"), &[("organization_id", org)])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        admin
            .get(&format!("{key_path}/revoke?organization_id={org}"))
            .await
            .status(),
        404,
        "nothing left to revoke"
    );

    // one's own key on the profile asks the same way
    app.create_user("kay", &["User"]).await;
    let kim_web = app.signed_in("kay", PASSWORD).await;
    assert_eq!(kim_web.post("/profile", "/profile/api-key", &[]).await.status(), 200);
    let html = kim_web.get_text("/profile").await;
    assert!(
        html.contains("href=\"/profile/api-key/revoke?organization_id="),
        "{html}"
    );
    let html = kim_web
        .get_text(&format!("/profile/api-key?organization_id={org}"))
        .await;
    assert!(
        html.contains("Generate a new key to replace your API key in Main"),
        "{html}"
    );
    let html = kim_web
        .get_text(&format!("/profile/api-key/revoke?organization_id={org}"))
        .await;
    assert!(html.contains("Revoke your API key in Main"), "{html}");
    assert!(html.contains("action=\"/profile/api-key/revoke\""));
    // the standalone Change Password page's Reset Password asks too
    let html = admin.get_text(&format!("/admin/users/{}/password", owner.id)).await;
    assert!(
        html.contains(&format!("href=\"/admin/users/{}/reset-password?back=", owner.id)),
        "{html}"
    );

    // who may see a confirmation is who may act
    app.create_user("manager", &["User Manager"]).await;
    let um = app.signed_in("manager", PASSWORD).await;
    assert_eq!(
        um.get(&format!("/admin/users/{}/reset-password", me.id)).await.status(),
        403
    );
    assert_eq!(um.get(&format!("/admin/users/{}/delete", owner.id)).await.status(), 403);
    assert_eq!(
        um.get(&format!("/admin/users/{}/delete/check", owner.id))
            .await
            .status(),
        403
    );
    assert_eq!(um.get(&format!("{key_path}?organization_id={org}")).await.status(), 403);
    app.create_org("Acme").await;
    app.create_user_in("acme-admin", &["Administrator"], &["Acme"]).await;
    let acme = app.signed_in("acme-admin", PASSWORD).await;
    for path in [
        format!("/admin/users/{}/reset-password", owner.id),
        format!("/admin/users/{}/delete", owner.id),
        format!("/admin/users/{}/delete/check", owner.id),
    ] {
        assert_eq!(acme.get(&path).await.status(), 404, "{path}");
    }
}

async fn sessions_and_audit(app: &TestApp) {
    app.create_org("Acme").await;
    let kim = app.create_user("kim", &["User"]).await;
    let boss = app.create_user("boss", &["Administrator"]).await;
    let acme_user = app.create_user_in("wile", &["User"], &["Acme"]).await;
    app.create_user_in("acme-admin", &["Administrator"], &["Acme"]).await;
    app.create_user("manager", &["User Manager"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let kim_web = app.signed_in("kim", PASSWORD).await;
    let kim_web2 = app.signed_in("kim", PASSWORD).await;
    let _boss_web = app.signed_in("boss", PASSWORD).await;
    let page = format!("/admin/users/{}", kim.id);

    // the list: two sessions, with their address
    let html = admin.get_text(&page).await;
    let ids = listed_sessions(&html);
    assert_eq!(ids.len(), 2, "{html}");
    assert!(html.contains("127.0.0.1"));
    assert!(html.contains("End all sessions"));
    // the confirmation page, then End session: that browser is signed out, the other is not
    let html = admin.get_text(&format!("{page}/sessions/end?session={}", ids[0])).await;
    assert!(html.contains(">End session</button>"), "{html}");
    let r = admin
        .post("/profile", &format!("{page}/sessions/end"), &[("session", &ids[0])])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{page}#sessions"));
    assert_eq!(session_count(app, kim.id).await, 1);
    let out = [
        kim_web.get("/profile").await.status().as_u16(),
        kim_web2.get("/profile").await.status().as_u16(),
    ];
    assert!(
        out.contains(&303) && out.contains(&200),
        "one signed out, one not: {out:?}"
    );
    // ended already, or made up: a message, not an error page
    let r = admin
        .post("/profile", &format!("{page}/sessions/end"), &[("session", &ids[0])])
        .await;
    assert_eq!(r.status(), 303);
    let r = admin
        .post(
            "/profile",
            &format!("{page}/sessions/end"),
            &[("session", "x' OR 1=1 --")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(session_count(app, kim.id).await, 1);
    // End all sessions
    let r = admin.post("/profile", &format!("{page}/sessions/end-all"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(session_count(app, kim.id).await, 0);
    assert!(admin.get_text(&page).await.contains("No active sessions."));
    let codes = audit_codes(app).await;
    assert!(codes.contains(&"session.ended".to_owned()) && codes.contains(&"sessions.ended".to_owned()));

    // deny: a User Manager may not end an Administrator's sessions, nor see them
    let um = app.signed_in("manager", PASSWORD).await;
    let boss_page = format!("/admin/users/{}", boss.id);
    assert!(!um.get_text(&boss_page).await.contains("id=\"sessions\""));
    let boss_ids = listed_sessions(&admin.get_text(&boss_page).await);
    assert_eq!(boss_ids.len(), 1);
    let r = um
        .post(
            "/profile",
            &format!("{boss_page}/sessions/end"),
            &[("session", &boss_ids[0])],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        um.post("/profile", &format!("{boss_page}/sessions/end-all"), &[])
            .await
            .status(),
        403
    );
    assert_eq!(um.get(&format!("{boss_page}/sessions/end-all")).await.status(), 403);
    assert_eq!(session_count(app, boss.id).await, 1, "untouched");
    // deny: an administrator of another organization does not find the user
    let acme = app.signed_in("acme-admin", PASSWORD).await;
    let r = acme
        .post(
            "/profile",
            &format!("{boss_page}/sessions/end"),
            &[("session", &boss_ids[0])],
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        acme.post("/profile", &format!("{boss_page}/sessions/end-all"), &[])
            .await
            .status(),
        404
    );
    assert_eq!(session_count(app, boss.id).await, 1, "untouched");

    // disabling ends them: the page lists none
    let _kim_again = app.signed_in("kim", PASSWORD).await;
    assert_eq!(session_count(app, kim.id).await, 1);
    admin.post(&page, &format!("{page}/disable"), &[]).await;
    assert_eq!(session_count(app, kim.id).await, 0);
    assert!(admin.get_text(&page).await.contains("No active sessions."));
    // locking ends them too (too many wrong passwords)
    let wile_web = app.signed_in("wile", PASSWORD).await;
    assert_eq!(session_count(app, acme_user.id).await, 1);
    for _ in 0..10 {
        Client::new(&app.base).login("wile", "wrong password").await;
    }
    assert_eq!(app.user(acme_user.id).await.auth_status.as_str(), "locked");
    assert_eq!(session_count(app, acme_user.id).await, 0);
    assert_eq!(wile_web.get("/profile").await.status(), 303);

    // the audit log reads as sentences, with the changes field by field and the JSON behind "details"
    let html = admin.get_text("/admin/audit").await;
    assert!(html.contains("Admin User disabled kim"), "{html}");
    assert!(html.contains("enabled: yes → no"));
    assert!(html.contains("Admin User ended every session of kim"));
    assert!(!html.contains("wile"), "wile is in Acme, not in the admin's Main");
    assert!(html.contains("<details class=\"raw\"><summary>details</summary>"));
    assert!(
        html.contains("<option value=\"user.disabled\""),
        "the action filter in words"
    );
    let html = admin.get_text("/admin/audit?action=sessions.ended&actor=admin").await;
    assert_eq!(html.matches("class=\"action\"").count(), 1, "{html}");
    // a user's History says the same
    assert!(
        admin
            .get_text(&page)
            .await
            .contains("Admin User ended a session of kim")
    );
    // an administrator of Acme sees Acme's events only
    let html = acme.get_text("/admin/audit").await;
    assert!(html.contains("wile was locked (too many failed sign-ins)"), "{html}");
    assert!(
        !html.contains("Admin User disabled kim"),
        "Main's events are not Acme's"
    );
    assert!(!html.contains(" kim"), "{html}");
    // and the sign-ins of Acme's users only
    let html = acme.get_text("/admin/login-attempts").await;
    assert!(html.contains("wile") && !html.contains(">kim<"), "{html}");
    assert!(admin.get_text("/admin/login-attempts").await.contains(">kim<"));
}

async fn navigation_and_no_csrf_in_urls(app: &TestApp) {
    let kim = app.create_user("kim", &["User"]).await;
    app.create_user("manager", &["User Manager"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    admin
        .post("/profile", &format!("/admin/users/{}/api-key", kim.id), &[])
        .await;
    let _kim_web = app.signed_in("kim", PASSWORD).await;
    assert!(
        admin
            .get_text("/admin/users")
            .await
            .contains("href=\"/admin/mail\" id=\"nav-mail\"")
    );
    let um = app.signed_in("manager", PASSWORD).await;
    assert!(!um.get_text("/admin/users").await.contains("/admin/mail"));
    let page = format!("/admin/users/{}", kim.id);
    for path in [
        "/admin/users?view=all",
        page.as_str(),
        "/admin/audit",
        "/admin/login-attempts",
        "/admin/mail",
        "/admin/import",
        "/profile",
        &format!("{page}/reset-password"),
        &format!("{page}/delete"),
        &format!("{page}/sessions/end-all"),
    ] {
        let r = admin.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_no_csrf_in_urls(path, &r.text().await.unwrap());
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The one session of `user_id`: (expires_at, last_seen_at).
async fn session_times(app: &TestApp, user_id: i64) -> (i64, i64) {
    let mut conn = app.store().conn().await.unwrap();
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT expires_at, last_seen_at FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    rows[0]
}

async fn set_session_times(app: &TestApp, user_id: i64, expires_at: i64, last_seen_at: i64) {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query("UPDATE sessions SET expires_at = $1, last_seen_at = $2 WHERE user_id = $3")
        .bind(expires_at)
        .bind(last_seen_at)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// A session lives `session_ttl_minutes` from the last page view; the expiry
/// slides forward at most once a minute, and not at all once it has passed.
async fn sliding_session(app: &TestApp) {
    let kim = app.create_user("kim", &["User"]).await;
    let web = app.signed_in("kim", PASSWORD).await;
    let now = muster_server::clock::now();

    // seen 10 s ago: a view within the minute writes nothing
    set_session_times(app, kim.id, now + 300_000, now - 10_000).await;
    assert_eq!(web.get("/profile").await.status(), 200);
    assert_eq!(session_times(app, kim.id).await, (now + 300_000, now - 10_000));

    // seen 2 minutes ago: the view slides it to 720 minutes (the default) from now
    set_session_times(app, kim.id, now + 300_000, now - 120_000).await;
    let before = muster_server::clock::now();
    assert_eq!(web.get("/profile").await.status(), 200);
    let (expires, seen) = session_times(app, kim.id).await;
    let after = muster_server::clock::now();
    assert!(
        (before..=after).contains(&seen),
        "last seen {seen} not in {before}..={after}"
    );
    assert_eq!(expires, seen + 720 * 60_000);

    // expired: signed out, and no view brings it back
    set_session_times(app, kim.id, now - 1, now - 120_000).await;
    let r = web.get("/profile").await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login"), "{}", location(&r));
    assert_eq!(session_times(app, kim.id).await.0, now - 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sliding_session_on_sqlite() {
    sliding_session(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sliding_session_on_postgres() {
    sliding_session(&TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmations_and_landing_back_on_sqlite() {
    confirmations_and_landing_back(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmations_and_landing_back_on_postgres() {
    confirmations_and_landing_back(&TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_and_audit_on_sqlite() {
    sessions_and_audit(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_and_audit_on_postgres() {
    sessions_and_audit(&TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn navigation_and_no_csrf_in_urls_on_sqlite() {
    navigation_and_no_csrf_in_urls(&TestApp::spawn().await).await;
}
