//! Issue 13 in headless Chromium, on SQLite and PostgreSQL: Reset Password and
//! Delete from a filtered grid ask first and land back on the same grid;
//! Generate Key over a key and Revoke ask first; a user's sessions are listed
//! and ended; the audit log reads as sentences with the JSON behind "details";
//! the mail outbox is in the navigation.

use muster_domain::AuthStatus;

use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, TestDb};

impl TestApp {
    async fn user_by_name_opt(&self, username: &str) -> Option<muster_store::users::User> {
        let mut conn = self.store().conn().await.unwrap();
        muster_store::users::find_by_username(&mut conn, username)
            .await
            .unwrap()
    }
}

async fn row_menu(b: &Browser, username: &str, entry: &str) {
    b.click(&format!("tr[data-username='{username}'] details.rowmenu summary"))
        .await;
    b.click(&format!("tr[data-username='{username}'] {entry}")).await;
}

async fn expect_flash(b: &Browser, expected: &str) {
    b.wait_flash(&format!("{expected:?}"), |t| t.starts_with(expected))
        .await;
}

async fn story(app: TestApp) {
    let pat = app.create_user("pat", &["User"]).await;
    let pam = app.create_user("pam", &["User"]).await;
    app.create_user("zed", &["User"]).await;
    let paz = app.create_user("paz", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;

    // Reset Password from the row menu of a filtered, sorted grid: a dialog first
    let grid = "/admin/users?view=all&q=pa&sort=username";
    b.goto(&app.url(grid)).await;
    b.find("tr[data-username='pat']").await;
    row_menu(&b, "pat", ".row-reset").await;
    b.find("#confirm-dialog[open]").await;
    assert!(b.text("#confirm-dialog-message").await.contains("pat@example.com"));
    assert_eq!(b.text("#confirm-dialog-submit").await, "Reset");
    b.click("#confirm-dialog-cancel").await;
    b.wait_gone("#confirm-dialog[open]").await;
    assert_eq!(
        app.user(pat.id).await.auth_status,
        AuthStatus::Active,
        "cancel changes nothing"
    );
    row_menu(&b, "pat", ".row-reset").await;
    b.click("#confirm-dialog-submit").await;
    expect_flash(&b, "Password reset: pat cannot sign in").await;
    assert_eq!(app.user(pat.id).await.auth_status, AuthStatus::PasswordReset);
    assert!(
        b.current_url().await.ends_with(grid),
        "back on the same grid: {}",
        b.current_url().await
    );

    // Delete from the same grid: lands back on it, not on the default view
    row_menu(&b, "pam", ".row-delete").await;
    b.find("#delete-dialog[open]").await;
    b.click("#confirm-delete:enabled").await;
    expect_flash(&b, "User pam was deleted.").await;
    assert!(b.current_url().await.ends_with(grid), "{}", b.current_url().await);
    assert!(b.try_find("tr[data-username='pam']").await.is_none());
    let mut conn = app.store().conn().await.unwrap();
    assert!(muster_store::users::get(&mut conn, pam.id).await.unwrap().is_none());
    drop(conn);

    // View from the row menu, act on the user page, Delete there: back on the same grid
    row_menu(&b, "paz", ".row-view").await;
    b.find("#general-info").await;
    b.click("#disable-user").await;
    expect_flash(&b, "User paz was disabled.").await;
    assert!(
        b.current_url()
            .await
            .contains(&format!("/admin/users/{}?back=", paz.id))
    );
    b.click("#delete-user").await;
    b.find("#delete-dialog[open]").await;
    b.click("#confirm-delete:enabled").await;
    expect_flash(&b, "User paz was deleted.").await;
    assert!(b.current_url().await.ends_with(grid), "{}", b.current_url().await);

    // Reset Password on the user page asks too
    let zed = app.user_by_name("zed").await;
    let page = app.url(&format!("/admin/users/{}", zed.id));
    b.goto(&page).await;
    b.click("#more-actions").await;
    b.click("#reset-password").await;
    b.find("#confirm-dialog[open]").await;
    b.click("#confirm-dialog-submit").await;
    expect_flash(&b, "Password reset: zed").await;
    assert!(b.current_url().await.ends_with(&format!("/admin/users/{}", zed.id)));

    // Generate Key: the first one at once; the second replaces it, so it asks
    b.goto(&page).await;
    b.click("#api-keys button.generate-key").await;
    let first = b.attr("#api-key-value", "value").await.unwrap();
    b.click("#new-api-key a.button").await;
    b.click("#api-keys a.generate-key").await;
    b.find("#confirm-dialog[open]").await;
    assert!(
        b.text("#confirm-dialog-message")
            .await
            .contains("stops working at once")
    );
    b.click("#confirm-dialog-submit").await;
    let second = b.attr("#api-key-value", "value").await.unwrap();
    assert_ne!(first, second);
    b.click("#new-api-key a.button").await;
    // Revoke asks, then revokes
    b.click("#api-keys a.revoke-key").await;
    b.find("#confirm-dialog[open]").await;
    assert_eq!(b.text("#confirm-dialog-submit").await, "Revoke");
    b.click("#confirm-dialog-submit").await;
    expect_flash(&b, "API key revoked.").await;
    assert!(b.try_find("#api-keys a.revoke-key").await.is_none());

    // sessions: kim signs in twice elsewhere; End session, then End all sessions
    let kim = app.create_user("kim", &["User"]).await;
    let kim_a = app.signed_in("kim", PASSWORD).await;
    let _kim_b = app.signed_in("kim", PASSWORD).await;
    b.goto(&app.url(&format!("/admin/users/{}", kim.id))).await;
    assert_eq!(b.find_all("#sessions-list tbody tr").await.len(), 2);
    b.click("#sessions-list tbody tr a.end-session").await;
    b.find("#confirm-dialog[open]").await;
    assert_eq!(b.text("#confirm-dialog-title").await, "End session");
    b.click("#confirm-dialog-submit").await;
    expect_flash(&b, "Session ended: kim is signed out of that browser.").await;
    assert_eq!(b.find_all("#sessions-list tbody tr").await.len(), 1);
    b.click("#end-all-sessions").await;
    b.find("#confirm-dialog[open]").await;
    b.click("#confirm-dialog-submit").await;
    expect_flash(&b, "1 session(s) of kim were ended.").await;
    b.find("#sessions-none").await;
    assert_eq!(kim_a.get("/profile").await.status(), 303, "signed out");

    // the History and the audit log read as sentences; the JSON is behind "details"
    b.wait_text("Admin User ended every session of kim").await;
    b.goto(&app.url("/admin/audit")).await;
    b.wait_text("Admin User reset the password of pat").await;
    b.wait_text("Admin User deleted pam").await;
    b.wait_text("Admin User revoked the API key of zed").await;
    // filter by action, in words
    b.execute(
        "document.getElementById('a-action').value = 'user.deleted'",
        serde_json::json!([]),
    )
    .await;
    b.click("#audit-apply").await;
    b.find("tr[data-action='user.deleted']").await;
    assert_eq!(b.find_all("#audit-events tbody tr").await.len(), 2, "pam and paz");
    assert!(
        !b.text("#audit-events").await.contains("\"username\""),
        "no JSON until asked"
    );
    for summary in b.find_all("#audit-events details.raw summary").await {
        b.click_el(&summary).await;
    }
    assert!(b.text("#audit-events").await.contains("\"username\":\"pam\""));

    // a refused Delete on the user page says why, and its way out closes the dialog on the same page
    let rec = app.create_user("rec", &["User"]).await;
    {
        let mut conn = app.store().conn().await.unwrap();
        let main = muster_store::organizations::find_by_name(&mut conn, "Main")
            .await
            .unwrap()
            .unwrap();
        muster_store::records::insert(&mut conn, "task", "Call", rec.id, main.id, 1)
            .await
            .unwrap();
    }
    b.goto(&app.url(&format!("/admin/users/{}", rec.id))).await;
    b.click("#delete-user").await;
    b.find("#delete-refused:not([hidden])").await;
    assert_eq!(
        b.text("#delete-refused").await,
        "Cannot delete rec: 1 record is assigned (1 task). Reassign their records first."
    );
    b.click("#delete-way-out").await;
    b.wait_gone("#delete-dialog[open]").await;
    b.type_into("#reassign-to", "admin").await;

    // the mail outbox is in the navigation
    b.click("#nav-mail").await;
    b.find("h1").await;
    assert!(b.current_url().await.ends_with("/admin/mail"));
}

/// Import: choose the file once, read the dry run, Apply; the set-up mail is ticked by default.
async fn import_story(app: TestApp) {
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;
    let file = app.data_dir().join("people.csv");
    std::fs::write(
        &file,
        "username,email,first_name,last_name,organizations,roles\n\
         neo,neo@example.com,Neo,Anderson,Main,User\n\
         bad,bad,B,C,Nowhere,User\n",
    )
    .unwrap();
    b.goto(&app.url("/admin/import")).await;
    b.choose_file("#file", &file).await;
    b.click("#import-submit").await;
    b.find("#import-report").await;
    b.wait_text("Dry run: 2 row(s)").await;
    assert_eq!(
        b.find_all("#rejected-rows tbody tr").await.len(),
        2,
        "email and organization"
    );
    assert_eq!(b.text("#upload-name").await, "people.csv");
    assert!(app.user_by_name_opt("neo").await.is_none(), "a dry run changes nothing");
    // Apply: the same file, not chosen again
    b.click("#apply-import").await;
    b.wait_text("Import: 2 row(s)").await;
    assert_eq!(b.text("#created").await, "1");
    assert_eq!(
        b.text("#mail-note").await,
        "1 user(s) were sent the password set-up mail."
    );
    let neo = app.user_by_name_opt("neo").await.unwrap();
    assert_eq!(neo.auth_status, AuthStatus::PasswordReset);
    assert!(b.try_find("#apply-form").await.is_none(), "nothing left to apply");
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_import_once_then_apply_on_sqlite() {
    import_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_import_once_then_apply_on_postgres() {
    import_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_confirm_land_back_sessions_audit_on_sqlite() {
    story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_confirm_land_back_sessions_audit_on_postgres() {
    story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}
