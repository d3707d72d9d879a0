//! Browser tests (headless Chromium): Change Password with Suggest Password
//! and Show/Hide, a reset followed through the mailed link, a mass reset of
//! a selection, and one's own password on the profile.

use std::time::{Duration, Instant};

use muster_domain::AuthStatus;
use serde_json::json;

use crate::mailbox::{reset_link, start_worker, to, wait_spool};
use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp};

const NEW_PASSWORD: &str = "Quartz-Meadow-Lantern-731";

async fn js(b: &Browser, script: &str) -> String {
    let v = b.execute(script, json!([])).await;
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// The new-password field's value and type, and the toggle's label.
async fn field(b: &Browser) -> (String, String, String) {
    (
        js(b, "return document.getElementById('new-password').value").await,
        js(b, "return document.getElementById('new-password').type").await,
        js(b, "return document.getElementById('toggle-password').textContent").await,
    )
}

async fn sign_out(b: &Browser) {
    b.click("form[action='/logout'] button").await;
    b.find("#sign-in").await;
}

/// Submit the sign-in form and expect it to be refused.
async fn refused_sign_in(b: &Browser, base: &str, username: &str, password: &str) {
    b.goto(&format!("{base}/login")).await;
    b.type_into("#username", username).await;
    b.type_into("#password", password).await;
    b.click("#sign-in").await;
    b.find("#login-error").await;
    b.wait_text("Invalid username or password.").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn change_password_with_suggest_and_show_hide_then_sign_in_with_it() {
    let app = TestApp::spawn().await;
    let u = app.create_user("jdoe", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;
    let page = app.url(&format!("/admin/users/{}/password", u.id));
    b.goto(&page).await;

    // a password the policy refuses: the dialog comes back open and says what is missing
    b.click("#change-password-open").await;
    b.type_into("#new-password", "short").await;
    b.click("#change-password-submit").await;
    b.find("#change-password-errors").await;
    b.wait_text("New password must be at least 12 characters (it has 5)")
        .await;
    assert_eq!(
        js(
            &b,
            "return String(document.getElementById('change-password-dialog').open)"
        )
        .await,
        "true"
    );

    b.click("#suggest-password").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let suggested = loop {
        let (value, kind, label) = field(&b).await;
        if !value.is_empty() && value != "short" {
            assert_eq!(
                (kind.as_str(), label.as_str()),
                ("text", "Hide"),
                "a suggestion is shown"
            );
            break value;
        }
        assert!(Instant::now() < deadline, "no suggestion arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(suggested.len() >= 16);
    b.click("#toggle-password").await;
    let (_, kind, label) = field(&b).await;
    assert_eq!((kind.as_str(), label.as_str()), ("password", "Show"));
    b.click("#toggle-password").await;
    let (_, kind, label) = field(&b).await;
    assert_eq!((kind.as_str(), label.as_str()), ("text", "Hide"));

    b.click("#change-password-submit").await;
    b.wait_text("Password changed. jdoe was signed out everywhere and told by email.")
        .await;
    sign_out(&b).await;
    refused_sign_in(&b, &app.base, "jdoe", PASSWORD).await;
    b.login(&app.base, "jdoe", &suggested).await;
    assert_eq!(b.text("#profile-username").await, "jdoe");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_one_user_then_follow_the_mailed_link_and_sign_in() {
    let app = TestApp::spawn().await;
    start_worker(&app);
    let u = app.create_user("jdoe", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;
    b.goto(&app.url(&format!("/admin/users/{}/password", u.id))).await;
    b.click("#reset-password").await;
    // a reset cannot be undone: it asks first
    b.find("#confirm-dialog[open]").await;
    b.click("#confirm-dialog-submit").await;
    b.wait_text("Password reset: jdoe cannot sign in until they set a new password")
        .await;
    assert_eq!(app.user(u.id).await.auth_status, AuthStatus::PasswordReset);
    sign_out(&b).await;

    // the reset user cannot sign in before using the link
    refused_sign_in(&b, &app.base, "jdoe", PASSWORD).await;

    let msgs = wait_spool(&app, 1).await;
    let link = reset_link(&to(&msgs, "jdoe@example.com")[0]).expect("link in the spooled mail");
    b.goto(&link).await;
    b.wait_text("Choose a new password").await;
    b.type_into("#new-password", NEW_PASSWORD).await;
    b.click("#toggle-password").await;
    assert_eq!(field(&b).await.0, NEW_PASSWORD);
    b.click("#set-password").await;
    b.wait_text("Your new password is set. Sign in with it.").await;
    b.login(&app.base, "jdoe", NEW_PASSWORD).await;
    assert_eq!(b.text("#profile-username").await, "jdoe");
    assert_eq!(app.user(u.id).await.auth_status, AuthStatus::Active);

    // the link was single-use
    b.goto(&link).await;
    b.find("#reset-invalid").await;
    b.click("#ask-new-link").await;
    b.wait_text("Forgot your password?").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_reset_of_a_selection_with_the_reset_confirm_button() {
    let app = TestApp::spawn().await;
    let a = app.create_user("alice", &["User"]).await;
    let c = app.create_user("carol", &["User"]).await;
    let keep = app.create_user("keep", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;
    b.goto(&app.url(&format!("/admin/users/mass/reset-password?ids={}&ids={}", a.id, c.id)))
        .await;
    b.wait_text("2 user(s) selected").await;
    b.click("#mass-reset-open").await;
    assert_eq!(b.text("#mass-reset-confirm").await, "Reset");
    b.click("#mass-reset-confirm").await;
    b.wait_text("Password reset of 2 users started.").await;
    // the job's page refreshes itself; here the worker is the test's
    crate::csv_support::run_jobs(&app).await;
    b.goto(&b.current_url().await).await;
    b.wait_text("Password reset completed: 2 emails queued").await;
    assert_eq!(app.user(a.id).await.auth_status, AuthStatus::PasswordReset);
    assert_eq!(app.user(c.id).await.auth_status, AuthStatus::PasswordReset);
    assert_eq!(app.user(keep.id).await.auth_status, AuthStatus::Active);
    sign_out(&b).await;
    refused_sign_in(&b, &app.base, "alice", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn own_password_on_the_profile_with_suggest_password() {
    let app = TestApp::spawn().await;
    app.create_user("jdoe", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "jdoe", PASSWORD).await;
    b.goto(&app.url("/profile")).await;
    b.click("#change-password-open").await;
    b.type_into("#current-password", PASSWORD).await;
    b.click("#suggest-password").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let suggested = loop {
        let (value, _, _) = field(&b).await;
        if !value.is_empty() {
            break value;
        }
        assert!(Instant::now() < deadline, "no suggestion arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    b.click("#change-password-submit").await;
    b.wait_text("Your password was changed.").await;
    sign_out(&b).await;
    b.login(&app.base, "jdoe", &suggested).await;
    assert_eq!(b.text("#profile-username").await, "jdoe");
}
