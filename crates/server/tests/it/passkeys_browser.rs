//! Passkeys in headless Chromium with its WebAuthn virtual authenticator: the
//! server on `http://localhost:PORT` (a secure context, and a domain name for
//! the relying party id). Register a passkey on /profile, sign in with the
//! password and the passkey as the second step, with the passkey alone when
//! `passkey_sign_in` is on (and not for a disabled account), a forged
//! assertion counted toward the lockout, remove the passkey, and an
//! administrator's *Reset two-factor* removing it.

use muster_store::login_attempts;
use serde_json::json;

use crate::passkeys::{forged_assertion, post_json, spawn_localhost};
use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, TestDb, location};

fn localhost(app: &TestApp, path: &str) -> String {
    format!("http://localhost:{}{path}", app.addr.port())
}

async fn passkey_rows(app: &TestApp, user_id: i64) -> Vec<muster_store::passkeys::StoredPasskey> {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::passkeys::list(&mut conn, user_id).await.unwrap()
}

async fn last_attempt(app: &TestApp, user_id: i64) -> login_attempts::Attempt {
    let mut conn = app.store().conn().await.unwrap();
    let f = login_attempts::Filter {
        user_id: Some(user_id),
        ..Default::default()
    };
    login_attempts::list(&mut conn, &f, 1, 0)
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
}

async fn set_setting(app: &TestApp, key: &str, value: &str) {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::settings::put(&mut conn, key, value, 0).await.unwrap();
}

async fn sign_out(b: &Browser) {
    b.click("form[action='/logout'] button").await;
    b.find("#sign-in").await;
}

/// Password, then the passkey on the second step.
async fn sign_in_with_password_and_passkey(b: &Browser, app: &TestApp) {
    b.goto(&localhost(app, "/login")).await;
    b.type_into("#username", "jdoe").await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.click("#passkey-step").await;
    b.find("#profile-username").await;
}

async fn register(b: &Browser, app: &TestApp, name: &str) {
    b.goto(&localhost(app, "/profile")).await;
    b.type_into("#passkey-name", name).await;
    b.click("#passkey-add").await;
    b.wait_text(&format!("Passkey \u{201c}{name}\u{201d} added.")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn register_sign_in_remove_and_reset_passkeys_sqlite() {
    story(spawn_localhost(TestDb::sqlite()).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn register_sign_in_remove_and_reset_passkeys_postgres() {
    story(spawn_localhost(TestDb::postgres().await).await).await;
}

async fn story(app: TestApp) {
    let u = app.create_user("jdoe", &["User"]).await;
    let b = Browser::start().await;
    let authenticator = b.add_virtual_authenticator().await;

    b.login(&localhost(&app, ""), "jdoe", PASSWORD).await;
    register(&b, &app, "Laptop").await;
    let rows = passkey_rows(&app, u.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, "Laptop");
    assert_eq!(b.authenticator_credentials(&authenticator).await.len(), 1);
    assert!(b.text("#two-factor-status").await.contains("a passkey"));
    {
        let mut conn = app.store().conn().await.unwrap();
        let audit = muster_store::audit::list(&mut conn, &Default::default(), 50, 0)
            .await
            .unwrap();
        assert!(audit.iter().any(|e| e.action == "user.second_factor_enrolled"));
    }

    // the second step: no session after the password alone; the passkey signs in
    sign_out(&b).await;
    sign_in_with_password_and_passkey(&b, &app).await;
    assert_eq!(b.text("#profile-username").await, "jdoe");
    let attempt = last_attempt(&app, u.id).await;
    assert!(attempt.success && attempt.step == "passkey", "{attempt:?}");

    // a passkey is a factor: the grid's filter, and a role that requires one asks no enrolment
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let row = "data-username=\"jdoe\"";
    assert!(
        admin
            .get_text("/admin/users?view=all&two_factor=yes")
            .await
            .contains(row)
    );
    assert!(
        !admin
            .get_text("/admin/users?view=all&two_factor=no")
            .await
            .contains(row)
    );
    set_setting(&app, "second_factor_user", "2").await;

    // a forged assertion of jdoe's passkey is a wrong code for the lockout
    let c = app.client();
    let resp = c.login("jdoe", PASSWORD).await;
    assert_eq!(location(&resp), "/login/code");
    let (status, _) = post_json(&c, "/login/code", "/login/passkey/options", json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = post_json(
        &c,
        "/login/code",
        "/login/passkey",
        forged_assertion(&rows[0].credential_id),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(app.user(u.id).await.failed_login_count, 1);
    let attempt = last_attempt(&app, u.id).await;
    assert!(!attempt.success && attempt.step == "passkey", "{attempt:?}");
    // the ceremony was used: the same answer again finds none
    let (status, _) = post_json(
        &c,
        "/login/code",
        "/login/passkey",
        forged_assertion(&rows[0].credential_id),
    )
    .await;
    assert_eq!(status, 400);
    set_setting(&app, "second_factor_user", "1").await;

    // a passkey alone, once the setting allows it
    set_setting(&app, "passkey_sign_in", "1").await;
    sign_out(&b).await;
    b.goto(&localhost(&app, "/login")).await;
    b.click("#passkey-sign-in").await;
    b.find("#profile-username").await;
    assert_eq!(b.text("#profile-username").await, "jdoe");
    assert_eq!(app.user(u.id).await.failed_login_count, 0, "a success resets the count");

    // …but not for a disabled account: the wrong-password words
    sign_out(&b).await;
    {
        let mut conn = app.store().conn().await.unwrap();
        muster_store::users::set_enabled(&mut conn, u.id, false, 0)
            .await
            .unwrap();
    }
    b.goto(&localhost(&app, "/login")).await;
    b.click("#passkey-sign-in").await;
    b.wait_text("Invalid username or password.").await;
    assert!(b.try_find("#profile-username").await.is_none());
    assert_eq!(last_attempt(&app, u.id).await.reason, "disabled");
    {
        let mut conn = app.store().conn().await.unwrap();
        muster_store::users::set_enabled(&mut conn, u.id, true, 0)
            .await
            .unwrap();
    }

    // remove it on the profile
    sign_in_with_password_and_passkey(&b, &app).await;
    b.goto(&localhost(&app, "/profile")).await;
    b.click(&format!("#passkey-remove-{}", rows[0].id)).await;
    b.wait_text("Passkey \u{201c}Laptop\u{201d} removed.").await;
    b.find("#passkeys-none").await;
    assert!(passkey_rows(&app, u.id).await.is_empty());
    // without a factor, the password alone signs in again
    assert_eq!(location(&app.client().login("jdoe", PASSWORD).await), "/profile");

    // an administrator's Reset two-factor removes a passkey too
    register(&b, &app, "Phone").await;
    // several per user: a second device (the first one is gone from the browser)
    b.remove_virtual_authenticator(&authenticator).await;
    let tablet = b.add_virtual_authenticator().await;
    register(&b, &app, "Tablet").await;
    assert_eq!(b.find_all("#passkeys li.passkey").await.len(), 2);
    let names: Vec<String> = passkey_rows(&app, u.id).await.into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["Phone", "Tablet"]);
    sign_out(&b).await;
    sign_in_with_password_and_passkey(&b, &app).await;
    // the Tablet signed: the sign-in used the second passkey
    let signed = b.authenticator_credentials(&tablet).await[0]["signCount"]
        .as_i64()
        .unwrap_or(0);
    assert!(signed >= 1, "{signed}");
    assert_eq!(location(&app.client().login("jdoe", PASSWORD).await), "/login/code");
    // the login-attempt page names the step
    let attempts = admin.get_text("/admin/login-attempts").await;
    assert!(attempts.contains("<td class=\"step\">Passkey</td>"), "{attempts}");
    let resp = admin
        .post(
            &format!("/admin/users/{}/two-factor/reset", u.id),
            &format!("/admin/users/{}/two-factor/reset", u.id),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert!(passkey_rows(&app, u.id).await.is_empty());
    assert_eq!(location(&app.client().login("jdoe", PASSWORD).await), "/profile");
}

/// A role that requires a factor: right after the password, a passkey may be
/// registered instead of the authenticator app, and the sign-in completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_required_factor_can_be_a_passkey() {
    let app = spawn_localhost(TestDb::sqlite()).await;
    let u = app.create_user("jdoe", &["User"]).await;
    set_setting(&app, "second_factor_user", "2").await;
    let b = Browser::start().await;
    b.add_virtual_authenticator().await;
    b.goto(&localhost(&app, "/login")).await;
    b.type_into("#username", "jdoe").await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.find("#enrol-required").await;
    b.type_into("#passkey-name", "Laptop").await;
    b.click("#passkey-enrol").await;
    b.find("#profile-username").await;
    assert_eq!(passkey_rows(&app, u.id).await.len(), 1);
    let attempt = last_attempt(&app, u.id).await;
    assert!(attempt.success && attempt.step == "passkey", "{attempt:?}");
    assert_eq!(app.user(u.id).await.login_count, 1);
    // from now on the second step asks for it
    sign_out(&b).await;
    sign_in_with_password_and_passkey(&b, &app).await;
}
