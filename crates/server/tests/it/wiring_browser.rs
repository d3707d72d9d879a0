//! The password actions where the seed puts them: More Actions on the user
//! page, the grid's row menu, and the grid's mass action with its dialog.

use muster_domain::AuthStatus;

use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp};

async fn flash_contains(b: &Browser, needle: &str) {
    b.wait_flash(&format!("containing {needle:?}"), |t| t.contains(needle))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn change_and_reset_from_the_user_page_the_row_menu_and_the_mass_action() {
    let app = TestApp::spawn().await;
    let jdoe = app.create_user("jdoe", &["User"]).await;
    let row = app.create_user("rowuser", &["User"]).await;
    let m1 = app.create_user("mass1", &["User"]).await;
    let m2 = app.create_user("mass2", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;

    // More Actions > Change Password, with Suggest Password and Show/Hide
    b.goto(&app.url(&format!("/admin/users/{}", jdoe.id))).await;
    b.click("#more-actions").await;
    b.click("#change-password-open").await;
    b.click("#suggest-password").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut suggested = String::new();
    while suggested.is_empty() {
        suggested = b.attr("#new-password", "value").await.unwrap_or_default();
        assert!(std::time::Instant::now() < deadline, "no suggestion filled in");
    }
    // a suggestion is shown so it can be read; Hide and Show flip it
    assert_eq!(b.attr("#new-password", "type").await.as_deref(), Some("text"));
    assert_eq!(b.text("#toggle-password").await, "Hide");
    b.click("#toggle-password").await;
    assert_eq!(b.attr("#new-password", "type").await.as_deref(), Some("password"));
    assert_eq!(b.text("#toggle-password").await, "Show");
    b.click("#toggle-password").await;
    assert_eq!(b.attr("#new-password", "type").await.as_deref(), Some("text"));
    b.click("#change-password-submit").await;
    flash_contains(&b, "jdoe").await;
    let c = app.client();
    assert_eq!(
        c.login("jdoe", &suggested).await.status(),
        303,
        "the suggested password signs in"
    );
    assert_eq!(app.client().login("jdoe", PASSWORD).await.status(), 401);

    // the grid's row menu > Reset Password
    b.goto(&app.url("/admin/users?view=all")).await;
    b.click("tr[data-username='rowuser'] details.rowmenu summary").await;
    b.click("tr[data-username='rowuser'] .row-reset").await;
    // it asks first (a reset cannot be undone), then lands back on the grid
    b.find("#confirm-dialog[open]").await;
    b.click("#confirm-dialog-submit").await;
    flash_contains(&b, "Password reset").await;
    assert!(b.current_url().await.ends_with("/admin/users?view=all"));
    assert_eq!(app.user(row.id).await.auth_status, AuthStatus::PasswordReset);
    assert_eq!(
        app.client().login("rowuser", PASSWORD).await.status(),
        401,
        "no sign-in before the link"
    );

    // mass action Reset Password over a selection, confirmed with Reset
    b.goto(&app.url("/admin/users?view=all")).await;
    for name in ["mass1", "mass2"] {
        b.click(&format!("tr[data-username='{name}'] input.row-check")).await;
    }
    b.click("#mass-reset").await;
    b.click("#mass-reset-confirm").await;
    flash_contains(&b, "Password reset of 2 users started.").await;
    assert!(b.current_url().await.contains("/admin/jobs/"), "on the job's page");
    crate::csv_support::run_jobs(&app).await;
    b.goto(&b.current_url().await).await;
    b.wait_text("Password reset completed: 2 emails queued").await;
    for id in [m1.id, m2.id] {
        assert_eq!(app.user(id).await.auth_status, AuthStatus::PasswordReset);
    }
    assert_eq!(
        app.user(jdoe.id).await.auth_status,
        AuthStatus::Active,
        "not selected, not reset"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mass_reset_follows_the_permissions() {
    let app = TestApp::spawn().await;
    let target = app.create_user("target", &["User"]).await;
    app.create_user("plain", &["User"]).await;
    app.create_user("manager", &["User Manager"]).await;
    let id = target.id.to_string();
    let fields = [("action", "reset_password"), ("id", id.as_str()), ("query", "view=all")];

    let plain = app.signed_in("plain", PASSWORD).await;
    let r = plain.post("/profile", "/admin/users/mass", &fields).await;
    assert_eq!(r.status(), 403);
    let r = plain.post_raw("/admin/users/mass", &fields).await;
    assert_eq!(r.status(), 403, "no CSRF token");
    assert_eq!(app.user(target.id).await.auth_status, AuthStatus::Active);

    let manager = app.signed_in("manager", PASSWORD).await;
    let r = manager
        .post("/admin/users?view=all", "/admin/users/mass", &fields)
        .await;
    assert_eq!(r.status(), 303);
    crate::csv_support::run_jobs(&app).await;
    assert_eq!(app.user(target.id).await.auth_status, AuthStatus::PasswordReset);
    let _ = app.signed_in("admin", ADMIN_PASSWORD).await;
}
