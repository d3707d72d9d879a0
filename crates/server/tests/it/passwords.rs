//! Change Password, Reset Password (one and many), forgot password and the
//! reset link over HTTP: allow and deny cases, sessions, tokens, mail rows.

use muster_domain::AuthStatus;
use muster_store::outbox;

use crate::mailbox::{reset_link, start_worker, to, wait_spool};
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, TestDb, location};

const NEW_PASSWORD: &str = "Quartz-Meadow-Lantern-731";

async fn outbox_rows(app: &TestApp) -> Vec<outbox::Mail> {
    let mut conn = app.store().conn().await.unwrap();
    outbox::list(&mut conn, &[], 100_000).await.unwrap()
}

#[tokio::test]
async fn admin_changes_a_password_sessions_end_mail_and_audit() {
    let app = TestApp::spawn().await;
    let u = app.create_user("jdoe", &["User"]).await;
    let victim = app.signed_in("jdoe", PASSWORD).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let page = format!("/admin/users/{}/password", u.id);

    // the policy says exactly what is missing
    let resp = admin.post(&page, &page, &[("password", "short")]).await;
    assert_eq!(resp.status(), 422);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("New password must be at least 12 characters (it has 5)"),
        "{body}"
    );
    let resp = admin.post(&page, &page, &[("password", "password1234")]).await;
    assert!(resp.text().await.unwrap().contains("too easy to guess"));
    let resp = admin.post(&page, &page, &[("password", "jdoe-Zebra-Kite-44")]).await;
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("must not contain your name, username or email")
    );
    assert_eq!(app.user(u.id).await.password_hash, u.password_hash, "nothing changed");

    let resp = admin.post(&page, &page, &[("password", NEW_PASSWORD)]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("/admin/users/{}", u.id));
    // the victim's session ended; the new password works, the old does not
    assert_eq!(victim.get("/profile").await.status(), 303);
    assert_eq!(app.client().login("jdoe", PASSWORD).await.status(), 401);
    assert_eq!(app.client().login("jdoe", NEW_PASSWORD).await.status(), 303);

    let rows = outbox_rows(&app).await;
    let mail: Vec<_> = rows.iter().filter(|m| m.to_addr == "jdoe@example.com").collect();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject, "Your muster password was changed");
    assert!(
        mail[0]
            .text_body
            .as_deref()
            .unwrap()
            .contains("by the administrator admin")
    );
    assert!(mail[0].html_body.as_deref().unwrap().contains("<html>"));

    let mut conn = app.store().conn().await.unwrap();
    let events = muster_store::audit::list(&mut conn, &Default::default(), 50, 0)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "user.password_changed" && e.target_id == Some(u.id))
    );
}

#[tokio::test]
async fn change_password_is_denied_outside_permission_and_scope() {
    let app = TestApp::spawn().await;
    app.create_org("Other").await;
    let inside = app.create_user("inside", &["User"]).await;
    let outside = app.create_user_in("outside", &["User"], &["Other"]).await;
    app.create_user("manager", &["User Manager"]).await;
    app.create_user("plain", &["User"]).await;

    let manager = app.signed_in("manager", PASSWORD).await;
    let p_in = format!("/admin/users/{}/password", inside.id);
    let p_out = format!("/admin/users/{}/password", outside.id);
    assert_eq!(
        manager
            .post("/profile", &p_out, &[("password", NEW_PASSWORD)])
            .await
            .status(),
        404
    );
    assert_eq!(
        manager
            .post("/profile", &p_in, &[("password", NEW_PASSWORD)])
            .await
            .status(),
        303
    );

    let plain = app.signed_in("plain", PASSWORD).await;
    let p_in2 = format!("/admin/users/{}/password", inside.id);
    assert_eq!(
        plain
            .post("/profile", &p_in2, &[("password", "Another-Lantern-Quartz-9")])
            .await
            .status(),
        403
    );
    assert_eq!(plain.get(&p_in2).await.status(), 403);
    let reset = format!("/admin/users/{}/reset-password", inside.id);
    assert_eq!(plain.post("/profile", &reset, &[]).await.status(), 403);
    let resp = plain
        .post(
            "/profile",
            "/admin/users/mass/reset-password",
            &[("ids", &inside.id.to_string())],
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(app.user(inside.id).await.auth_status, AuthStatus::Active);

    // one's own password goes through the profile, with the current password
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let me = app.user_by_name("admin").await;
    let own = format!("/admin/users/{}/password", me.id);
    assert_eq!(
        admin
            .post("/profile", &own, &[("password", NEW_PASSWORD)])
            .await
            .status(),
        403
    );
    let own_reset = format!("/admin/users/{}/reset-password", me.id);
    assert_eq!(admin.post("/profile", &own_reset, &[]).await.status(), 403);
    // without a CSRF token nothing happens
    let resp = admin
        .post_raw(&p_in, &[("password", "Csrf-Less-Lantern-Quartz-1")])
        .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn own_password_needs_the_current_one_and_keeps_this_session() {
    let app = TestApp::spawn().await;
    app.create_user("jdoe", &["User"]).await;
    let here = app.signed_in("jdoe", PASSWORD).await;
    let elsewhere = app.signed_in("jdoe", PASSWORD).await;

    let resp = here
        .post(
            "/profile",
            "/profile/password",
            &[("current_password", "wrong"), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Current password is not your current password")
    );

    let resp = here
        .post(
            "/profile",
            "/profile/password",
            &[("current_password", PASSWORD), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(here.get("/profile").await.status(), 200, "this session stays");
    assert_eq!(elsewhere.get("/profile").await.status(), 303, "the other session ended");
    assert_eq!(app.client().login("jdoe", NEW_PASSWORD).await.status(), 303);
    let rows = outbox_rows(&app).await;
    assert!(
        rows.iter()
            .any(|m| m.to_addr == "jdoe@example.com" && m.text_body.as_deref().unwrap().contains("by you"))
    );
}

#[tokio::test]
async fn reset_one_user_link_is_single_use_and_sets_active_sqlite() {
    reset_one_user_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn reset_one_user_link_is_single_use_and_sets_active_postgres() {
    reset_one_user_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

async fn reset_one_user_story(app: TestApp) {
    start_worker(&app);
    let u = app.create_user("jdoe", &["User"]).await;
    let victim = app.signed_in("jdoe", PASSWORD).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let resp = admin
        .post("/profile", &format!("/admin/users/{}/reset-password", u.id), &[])
        .await;
    assert_eq!(resp.status(), 303);
    let after = app.user(u.id).await;
    assert_eq!(after.auth_status, AuthStatus::PasswordReset);
    assert_eq!(victim.get("/profile").await.status(), 303, "sessions end");
    assert_eq!(
        app.client().login("jdoe", PASSWORD).await.status(),
        401,
        "cannot sign in before the link"
    );

    let msgs = wait_spool(&app, 1).await;
    let mine = to(&msgs, "jdoe@example.com");
    let link = reset_link(&mine[0]).expect("reset link in the mail");
    assert!(
        link.starts_with(&format!("{}/reset-password?token=", app.base)),
        "{link}"
    );
    let path = link.trim_start_matches(&app.base).to_owned();
    let token = path.split("token=").nth(1).unwrap().to_owned();
    // delivered: the stored bodies are gone
    let rows = outbox_rows(&app).await;
    let delivered: Vec<_> = rows.iter().filter(|m| m.status == "sent").collect();
    assert!(!delivered.is_empty() && delivered.iter().all(|m| m.text_body.is_none() && m.html_body.is_none()));
    // the token itself is not stored, only its hash
    let mut conn = app.store().conn().await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM password_reset_tokens")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert!(stored.iter().all(|h| h != &token));
    drop(conn);

    let c = app.client();
    let page = c.get(&path).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let resp = c
        .post(&path, "/reset-password", &[("token", &token), ("password", "tooshort")])
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("New password must be at least 12 characters")
    );
    assert_eq!(
        app.user(u.id).await.auth_status,
        AuthStatus::PasswordReset,
        "a refused password spends nothing"
    );

    let resp = c
        .post(
            &path,
            "/reset-password",
            &[("token", &token), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login");
    let after = app.user(u.id).await;
    assert_eq!(after.auth_status, AuthStatus::Active);
    assert_eq!(after.failed_login_count, 0);
    assert_eq!(app.client().login("jdoe", NEW_PASSWORD).await.status(), 303);

    // used: a clear page with a way to ask for a new link
    let again = app.client();
    let resp = again.get(&path).await;
    assert_eq!(resp.status(), 410);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Ask for a new link") && body.contains("/forgot-password"));
    let resp = again
        .post(
            "/forgot-password",
            "/reset-password",
            &[("token", &token), ("password", "Other-Quartz-Meadow-55")],
        )
        .await;
    assert_eq!(resp.status(), 410);
    assert_eq!(
        app.client().login("jdoe", NEW_PASSWORD).await.status(),
        303,
        "the second use changed nothing"
    );
    // unknown token
    assert_eq!(app.client().get("/reset-password?token=nope").await.status(), 410);
    assert_eq!(app.client().get("/reset-password").await.status(), 410);
}

#[tokio::test]
async fn expired_and_superseded_links_are_refused() {
    let app = TestApp::spawn().await;
    let u = app.create_user("jdoe", &["User"]).await;
    let c = app.client();
    for _ in 0..2 {
        let resp = c
            .post("/forgot-password", "/forgot-password", &[("login", "jdoe")])
            .await;
        assert_eq!(resp.status(), 200);
    }
    let rows = outbox_rows(&app).await;
    let links: Vec<String> = rows
        .iter()
        .filter_map(|m| reset_link(m.text_body.as_deref().unwrap()))
        .collect();
    assert_eq!(links.len(), 2);
    let path = |l: &str| l.trim_start_matches(&app.base).to_owned();
    // both links of forgot-password work until one is used
    assert_eq!(c.get(&path(&links[0])).await.status(), 200);
    assert_eq!(c.get(&path(&links[1])).await.status(), 200);
    // an administrator's reset supersedes earlier links
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    admin
        .post("/profile", &format!("/admin/users/{}/reset-password", u.id), &[])
        .await;
    assert_eq!(c.get(&path(&links[0])).await.status(), 410);
    // expiry
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query("UPDATE password_reset_tokens SET expires_at = 1")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let rows = outbox_rows(&app).await;
    let newest = rows
        .iter()
        .find_map(|m| reset_link(m.text_body.as_deref().unwrap()))
        .unwrap();
    assert_eq!(c.get(&path(&newest)).await.status(), 410);
}

#[tokio::test]
async fn forgot_password_answers_the_same_and_mails_only_real_enabled_accounts() {
    let app = TestApp::spawn().await;
    let u = app.create_user("jdoe", &["User"]).await;
    let d = app.create_user("gone", &["User"]).await;
    let admin_actor = app.system_actor().await;
    let grant = admin_actor
        .allow::<muster_domain::permission::perm::EnableDisable>()
        .unwrap();
    muster_server::services::users::set_enabled(app.store(), &grant, &muster_server::services::Ctx::cli(), d.id, false)
        .await
        .unwrap();
    let c = app.client();
    let mut bodies = Vec::new();
    for login in ["jdoe", "JDOE@example.com", "nobody", "nobody@example.com", "gone"] {
        let resp = c
            .post("/forgot-password", "/forgot-password", &[("login", login)])
            .await;
        assert_eq!(resp.status(), 200);
        let b = resp.text().await.unwrap();
        let i = b.find("id=\"forgot-sent\"").expect("the same confirmation");
        bodies.push(b[i..i + 200].to_owned());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "same answer whatever the account"
    );
    let rows = outbox_rows(&app).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|m| m.to_addr == "jdoe@example.com"));
    // forgot password does not lock anyone out
    assert_eq!(app.user(u.id).await.auth_status, AuthStatus::Active);
    // a flood of requests is capped
    for _ in 0..5 {
        c.post("/forgot-password", "/forgot-password", &[("login", "jdoe")])
            .await;
    }
    assert_eq!(outbox_rows(&app).await.len(), 3);
}

#[tokio::test]
async fn a_reset_link_resolves_a_lock_and_the_lock_is_mailed() {
    let app = TestApp::spawn().await;
    let u = app.create_user("jdoe", &["User"]).await;
    let mut conn = app.store().conn().await.unwrap();
    muster_store::settings::put(&mut conn, "failed_login_limit", "3", 0)
        .await
        .unwrap();
    drop(conn);
    for _ in 0..3 {
        assert_eq!(app.client().login("jdoe", "wrong password!").await.status(), 401);
    }
    assert_eq!(app.user(u.id).await.auth_status, AuthStatus::Locked);
    let rows = outbox_rows(&app).await;
    let locked: Vec<_> = rows
        .iter()
        .filter(|m| m.subject == "Your muster account was locked")
        .collect();
    assert_eq!(locked.len(), 1);
    assert!(
        locked[0]
            .text_body
            .as_deref()
            .unwrap()
            .contains("after 3 failed sign-in attempts")
    );

    let c = app.client();
    c.post("/forgot-password", "/forgot-password", &[("login", "jdoe")])
        .await;
    let link = outbox_rows(&app)
        .await
        .iter()
        .find_map(|m| reset_link(m.text_body.as_deref().unwrap()))
        .unwrap();
    let path = link.trim_start_matches(&app.base).to_owned();
    let token = path.split("token=").nth(1).unwrap().to_owned();
    let resp = c
        .post(
            &path,
            "/reset-password",
            &[("token", &token), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let after = app.user(u.id).await;
    assert_eq!((after.auth_status, after.failed_login_count), (AuthStatus::Active, 0));
    assert_eq!(app.client().login("jdoe", NEW_PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn single_reset_of_a_disabled_user_is_refused() {
    let app = TestApp::spawn().await;
    let d = app.create_user("gone", &["User"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let grant = app.system_actor().await;
    let grant = grant.allow::<muster_domain::permission::perm::EnableDisable>().unwrap();
    muster_server::services::users::set_enabled(app.store(), &grant, &muster_server::services::Ctx::cli(), d.id, false)
        .await
        .unwrap();
    let resp = admin
        .post("/profile", &format!("/admin/users/{}/reset-password", d.id), &[])
        .await;
    assert_eq!(resp.status(), 409);
    assert!(resp.text().await.unwrap().contains("gone is disabled"));
    assert!(outbox_rows(&app).await.is_empty());
}

async fn mass_reset_story(app: TestApp) {
    let a = app.create_user("alice", &["User"]).await;
    let b = app.create_user("bob", &["User"]).await;
    let c = app.create_user("carol", &["User"]).await;
    let d = app.create_user("dave", &["User"]).await;
    let grant = app.system_actor().await;
    let grant = grant.allow::<muster_domain::permission::perm::EnableDisable>().unwrap();
    muster_server::services::users::set_enabled(app.store(), &grant, &muster_server::services::Ctx::cli(), c.id, false)
        .await
        .unwrap();
    let bob_session = app.signed_in("bob", PASSWORD).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let me = app.user_by_name("admin").await;
    let ids = [a.id, b.id, c.id, me.id].map(|i| i.to_string());
    let mut form: Vec<(&str, &str)> = ids.iter().map(|i| ("ids", i.as_str())).collect();
    form.push(("next", "/admin/users?view=all"));
    let resp = admin.post("/profile", "/admin/users/mass/reset-password", &form).await;
    assert_eq!(resp.status(), 303);
    let job_page = location(&resp);
    assert!(
        job_page.starts_with("/admin/jobs/"),
        "lands on the job's page: {job_page}"
    );
    crate::csv_support::run_jobs(&app).await;
    let page = admin.get_text(&job_page).await;
    assert!(
        page.contains(
            "Password reset completed: 2 emails queued (1 disabled user(s) skipped, your own account skipped)"
        ),
        "{page}"
    );
    for (id, status) in [
        (a.id, AuthStatus::PasswordReset),
        (b.id, AuthStatus::PasswordReset),
        (c.id, AuthStatus::Active),
        (d.id, AuthStatus::Active),
        (me.id, AuthStatus::Active),
    ] {
        assert_eq!(app.user(id).await.auth_status, status);
    }
    assert_eq!(bob_session.get("/profile").await.status(), 303);
    let rows = outbox_rows(&app).await;
    let mut addrs: Vec<_> = rows.iter().map(|m| m.to_addr.as_str()).collect();
    addrs.sort();
    assert_eq!(addrs, ["alice@example.com", "bob@example.com"]);
    assert!(
        rows.iter()
            .all(|m| reset_link(m.text_body.as_deref().unwrap()).is_some())
    );

    // all matching a filter
    let resp = admin
        .post(
            "/profile",
            "/admin/users/mass/reset-password",
            &[("all_matching", "1"), ("view", "active"), ("q", "dave")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    crate::csv_support::run_jobs(&app).await;
    assert_eq!(app.user(d.id).await.auth_status, AuthStatus::PasswordReset);
    assert_eq!(outbox_rows(&app).await.len(), 3);
    // nothing selected: a clear refusal
    let resp = admin.post("/profile", "/admin/users/mass/reset-password", &[]).await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("select at least one user"));
}

#[tokio::test]
async fn mass_reset_of_a_selection_sqlite() {
    mass_reset_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn mass_reset_of_a_selection_postgres() {
    mass_reset_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test]
async fn failed_mail_is_listed_for_administrators_and_can_be_retried() {
    let app = TestApp::spawn_with(crate::support::TestDb::sqlite(), |c| {
        c.smtp_url = Some(muster_server::config::SecretUrl::new(format!(
            "smtp://127.0.0.1:{}",
            crate::mailbox::free_port()
        )));
    })
    .await;
    let mut conn = app.store().conn().await.unwrap();
    muster_store::settings::put(&mut conn, "mail_max_attempts", "1", 0)
        .await
        .unwrap();
    drop(conn);
    start_worker(&app);
    app.create_user("jdoe", &["User"]).await;
    app.create_user("manager", &["User Manager"]).await;
    app.client()
        .post("/forgot-password", "/forgot-password", &[("login", "jdoe")])
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let failed = loop {
        let rows = outbox_rows(&app).await;
        if let Some(m) = rows.into_iter().find(|m| m.status == "failed") {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "the mail did not fail");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(failed.last_error.is_some());
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let page = admin.get_text("/admin/mail").await;
    assert!(page.contains("jdoe@example.com") && page.contains("failed") && page.contains("Retry"));
    assert!(!page.contains("reset-password?token="), "bodies are never shown");
    let manager = app.signed_in("manager", PASSWORD).await;
    assert_eq!(manager.get("/admin/mail").await.status(), 403);
    let retry = format!("/admin/mail/{}/retry", failed.id);
    assert_eq!(manager.post("/profile", &retry, &[]).await.status(), 403);
    let resp = admin.post("/admin/mail", &retry, &[]).await;
    assert_eq!(resp.status(), 303);
    let mut conn = app.store().conn().await.unwrap();
    // queued again with a fresh count: the worker tries it once more (and fails again here)
    let m = outbox::get(&mut conn, failed.id).await.unwrap().unwrap();
    assert!(m.attempts <= 1, "{m:?}");
    let events = muster_store::audit::list(&mut conn, &Default::default(), 50, 0)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.action == "mail.retried"));
}

#[tokio::test]
async fn password_suggestion_meets_the_policy_and_is_not_cached() {
    let app = TestApp::spawn().await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let resp = c.get("/password-suggestion").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let v: serde_json::Value = resp.json().await.unwrap();
    let p = v["password"].as_str().unwrap().to_owned();
    assert!(p.len() >= 16);
    assert!(muster_domain::PasswordPolicy::default().check(&p, &[]).is_ok());
    let v2: serde_json::Value = c.get("/password-suggestion").await.json().await.unwrap();
    assert_ne!(v2["password"], v["password"]);
}

async fn concurrent_uses_story(app: TestApp) {
    app.create_user("jdoe", &["User"]).await;
    let c = app.client();
    c.post("/forgot-password", "/forgot-password", &[("login", "jdoe")])
        .await;
    let link = outbox_rows(&app)
        .await
        .iter()
        .find_map(|m| reset_link(m.text_body.as_deref().unwrap()))
        .unwrap();
    let path = link.trim_start_matches(&app.base).to_owned();
    let token = path.split("token=").nth(1).unwrap().to_owned();
    let (c1, c2) = (app.client(), app.client());
    let t1 = c1.csrf(&path).await;
    let t2 = c2.csrf(&path).await;
    let f1 = [
        ("token", token.as_str()),
        ("password", NEW_PASSWORD),
        ("csrf", t1.as_str()),
    ];
    let f2 = [
        ("token", token.as_str()),
        ("password", "Other-Quartz-Meadow-55"),
        ("csrf", t2.as_str()),
    ];
    let (r1, r2) = tokio::join!(c1.post_raw("/reset-password", &f1), c2.post_raw("/reset-password", &f2));
    let mut statuses = [r1.status().as_u16(), r2.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 410], "one use wins, the other is refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_used_twice_at_once_works_once_sqlite() {
    concurrent_uses_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_used_twice_at_once_works_once_postgres() {
    concurrent_uses_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}
