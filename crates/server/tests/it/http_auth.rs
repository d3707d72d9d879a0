//! Sign-in, sessions, CSRF, roles and settings over HTTP.

use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, location, webdriver::Browser};

#[tokio::test(flavor = "multi_thread")]
async fn health_and_ready() {
    let app = TestApp::spawn().await;
    let c = app.client();
    assert_eq!(c.get_text("/healthz").await, "ok");
    let r = c.get("/readyz").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_sets_a_new_http_only_session_and_sign_out_ends_it() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let r = c.get("/login").await;
    let anon = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(anon.starts_with("muster_csrf=") && anon.contains("HttpOnly") && anon.contains("SameSite=Lax"));
    assert!(!anon.contains("Secure"), "no Secure flag on an http public URL");

    let r = c.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin");
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("muster_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let first_session = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(c.get("/admin/users").await.status(), 200);

    // signing in again gives a new id and ends the old one
    let r = c
        .post(
            "/profile",
            "/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    let second = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(first_session, second);
    let stale = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = stale
        .get(app.url("/admin/users"))
        .header("cookie", &first_session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the old session id no longer works");

    let admin = app.user_by_name("admin").await;
    assert_eq!(admin.login_count, 2);
    assert!(admin.last_login_at.is_some());

    let r = c.post("/profile", "/logout", &[]).await;
    assert_eq!(r.status(), 303);
    let r = c.get("/admin/users").await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?next="));
}

#[tokio::test(flavor = "multi_thread")]
async fn secure_cookies_when_public_url_is_https() {
    let app = TestApp::spawn_with(crate::support::TestDb::sqlite(), |c| {
        c.public_url = "https://muster.example.com".into()
    })
    .await;
    let c = app.client();
    let r = c.get("/login").await;
    assert!(
        r.headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_message_for_every_failure() {
    let app = TestApp::spawn().await;
    let locked = app.create_user("locked1", &["User"]).await;
    let disabled = app.create_user("disabled1", &["User"]).await;
    {
        let mut conn = app.store().conn().await.unwrap();
        muster_store::users::set_auth_status(&mut conn, locked.id, muster_domain::AuthStatus::Locked, 1)
            .await
            .unwrap();
        muster_store::users::set_enabled(&mut conn, disabled.id, false, 1)
            .await
            .unwrap();
    }
    let c = app.client();
    let mut bodies = Vec::new();
    for (u, p) in [
        ("admin", "wrong-password"),
        ("nobody", PASSWORD),
        ("locked1", PASSWORD),
        ("disabled1", PASSWORD),
    ] {
        let r = c.login(u, p).await;
        assert_eq!(r.status(), 401, "{u}");
        let body = r.text().await.unwrap();
        assert!(body.contains("Invalid username or password."), "{u}");
        bodies.push(body.replace(u, "X"));
    }
    // locked and disabled attempts are not counted
    assert_eq!(app.user(locked.id).await.failed_login_count, 0);
    assert_eq!(app.user(disabled.id).await.failed_login_count, 0);
    assert_eq!(app.user_by_name("admin").await.failed_login_count, 1);
    // every attempt is recorded with its reason
    let mut conn = app.store().conn().await.unwrap();
    let attempts = muster_store::login_attempts::list(&mut conn, &Default::default(), 100, 0)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 4);
    assert!(
        attempts
            .iter()
            .all(|a| !a.success && a.source == "web" && a.ip == "127.0.0.1")
    );
    let reasons: Vec<&str> = attempts.iter().map(|a| a.reason.as_str()).collect();
    assert!(
        reasons.contains(&"locked") && reasons.contains(&"disabled") && reasons.contains(&"unknown user"),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_right_password_resets_the_counter() {
    let app = TestApp::spawn().await;
    let u = app.create_user("jdoe", &["User"]).await;
    let c = app.client();
    for _ in 0..3 {
        assert_eq!(c.login("jdoe", "nope").await.status(), 401);
    }
    assert_eq!(app.user(u.id).await.failed_login_count, 3);
    // by email, any case
    let r = c.login("JDOE@example.com", PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/profile");
    let after = app.user(u.id).await;
    assert_eq!((after.failed_login_count, after.login_count), (0, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn csrf_is_required_on_every_state_change() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let r = c
        .post_raw("/login", &[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .await;
    assert_eq!(r.status(), 403, "sign-in without a token");
    let r = c
        .post_raw(
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("csrf", "forged-token-forged-token-forged-token-xx"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403, "sign-in with a wrong token");
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let r = c.post_raw("/logout", &[]).await;
    assert_eq!(r.status(), 403);
    let r = c.post_raw("/admin/settings", &[("failed_login_limit", "3")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(c.get("/admin/users").await.status(), 200, "still signed in");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_reaches_only_their_profile_and_a_manager_no_settings() {
    let app = TestApp::spawn().await;
    app.create_user("plain", &["User"]).await;
    app.create_user("manager", &["User Manager"]).await;
    let c = app.signed_in("plain", PASSWORD).await;
    assert_eq!(c.get("/profile").await.status(), 200);
    for path in ["/admin/users", "/admin/settings"] {
        assert_eq!(c.get(path).await.status(), 403, "{path}");
    }
    let r = c
        .post("/profile", "/admin/settings", &[("failed_login_limit", "1")])
        .await;
    assert_eq!(r.status(), 403);

    let m = app.signed_in("manager", PASSWORD).await;
    assert_eq!(m.get("/admin/users").await.status(), 200);
    assert_eq!(m.get("/admin/settings").await.status(), 403);
    let r = m
        .post("/profile", "/admin/settings", &[("failed_login_limit", "1")])
        .await;
    assert_eq!(r.status(), 403);
    let mut conn = app.store().conn().await.unwrap();
    let s = muster_server::settings::Settings::load(&mut conn).await.unwrap();
    assert_eq!(s.get("failed_login_limit"), 10, "nothing changed");
}

fn settings_form(overrides: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    muster_server::settings::DESCRIPTORS
        .iter()
        .filter(|d| d.kind != muster_server::settings::Kind::Bool)
        .map(|d| {
            let v = overrides
                .iter()
                .find(|(k, _)| *k == d.key)
                .map_or(d.default.to_string(), |(_, v)| v.to_string());
            (d.key, v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_are_validated_and_saved_whole() {
    let app = TestApp::spawn().await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    // the second factor's rule per role is a choice, shown in words
    let page = c.get_text("/admin/settings").await;
    assert!(
        page.contains(r#"<select name="second_factor_administrator" id="second_factor_administrator">"#)
            && page.contains(r#"<option value="2" >Required</option>"#),
        "{page}"
    );
    let form = settings_form(&[
        ("failed_login_limit", "abc"),
        ("password_min_length", "200"),
        ("second_factor_user", "3"),
    ]);
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = c.post("/admin/settings", "/admin/settings", &fields).await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("must be a whole number"));
    assert!(body.contains("must be between 8 and 128"));
    assert!(
        body.contains("must be one of 0 (Off), 1 (Optional), 2 (Required)"),
        "{body}"
    );

    let form = settings_form(&[("failed_login_limit", "3"), ("second_factor_administrator", "2")]);
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = c.post("/admin/settings", "/admin/settings", &fields).await;
    assert_eq!(r.status(), 303);
    let page = c.get_text("/admin/settings").await;
    assert!(page.contains("Settings saved."));
    let mut conn = app.store().conn().await.unwrap();
    let s = muster_server::settings::Settings::load(&mut conn).await.unwrap();
    assert_eq!(s.get("failed_login_limit"), 3);
    assert_eq!(s.get("second_factor_administrator"), 2);
    let events = muster_store::audit::list(&mut conn, &Default::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(events[0].action, "settings.updated");
    assert_eq!(events[0].actor_username, "admin");
}

#[tokio::test(flavor = "multi_thread")]
async fn hashes_are_upgraded_at_sign_in_when_parameters_change() {
    let app = TestApp::spawn().await;
    let u = app.create_user("rehash", &["User"]).await;
    assert!(u.password_hash.contains("m=19456,t=2,p=1"), "{}", u.password_hash);
    {
        let mut conn = app.store().conn().await.unwrap();
        muster_store::settings::put(&mut conn, "argon2_iterations", "3", 1)
            .await
            .unwrap();
    }
    app.signed_in("rehash", PASSWORD).await;
    let after = app.user(u.id).await;
    assert!(after.password_hash.contains("t=3"), "{}", after.password_hash);
    app.signed_in("rehash", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn disabling_a_user_ends_their_sessions() {
    let app = TestApp::spawn().await;
    let u = app.create_user("victim", &["User"]).await;
    let c = app.signed_in("victim", PASSWORD).await;
    assert_eq!(c.get("/profile").await.status(), 200);
    let actor = app.system_actor().await;
    let grant = actor.allow::<muster_domain::permission::perm::EnableDisable>().unwrap();
    muster_server::services::users::set_enabled(app.store(), &grant, &Default::default(), u.id, false)
        .await
        .unwrap();
    assert_eq!(c.get("/profile").await.status(), 303, "session ended");
    assert_eq!(c.login("victim", PASSWORD).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_signs_in_and_out() {
    let app = TestApp::spawn().await;
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;
    b.wait_text("System").await;
    assert!(b.current_url().await.ends_with("/admin"), "the dashboard first");
    b.goto(&app.url("/admin/users")).await;
    assert_eq!(b.text("#users-grid td.username").await, "admin");
    b.click("header form button").await;
    b.find("#sign-in").await;
    b.type_into("#username", "admin").await;
    b.type_into("#password", "not-the-password").await;
    b.click("#sign-in").await;
    assert_eq!(b.text("#login-error").await, "Invalid username or password.");
}
