//! The back-office in headless Chromium. Each test runs several flows in one
//! browser: starting Chromium is the slow part.

use muster_domain::AuthStatus;
use serde_json::json;

use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, TestApp};

const XSS: &str = "<script>alert(1)</script>";

/// The usernames of the grid's rows, in order.
async fn enabled(app: &TestApp, ids: Vec<i64>) -> Vec<bool> {
    let mut v = Vec::new();
    for id in ids {
        v.push(app.user(id).await.enabled);
    }
    v
}

async fn grid_names(b: &Browser) -> Vec<String> {
    let v = b
        .execute(
            "return Array.from(document.querySelectorAll('#users-grid tbody tr')).map(r => r.dataset.username)",
            json!([]),
        )
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

async fn sorted_names(b: &Browser) -> Vec<String> {
    let mut v = grid_names(b).await;
    v.sort();
    v
}

/// Open a row's menu (…) and click one of its entries.
async fn row_menu(b: &Browser, username: &str, entry: &str) {
    b.click(&format!("tr[data-username='{username}'] details.rowmenu summary"))
        .await;
    b.click(&format!("tr[data-username='{username}'] {entry}")).await;
}

/// Click a mass action's button, check the question its dialog asks, and confirm.
async fn confirm_mass(b: &Browser, button: &str, question: &str) {
    b.click(button).await;
    b.find("#mass-confirm-dialog[open]").await;
    assert_eq!(b.text("#mass-confirm-question").await, question);
    b.click("#mass-confirm").await;
}

/// Wait for the flash message of the page an action led to (the page before
/// may still show an older one for a moment).
async fn expect_flash(b: &Browser, expected: &str) {
    b.wait_flash(&format!("{expected:?}"), |t| t == expected).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_views_row_menu_user_page_activate_and_escaping() {
    let app = TestApp::spawn().await;
    let alice = app.create_user("alice", &["User"]).await;
    let bob = app.create_user("bob", &["User"]).await;
    let carol = app.create_user("carol", &["User"]).await;
    let dave = app.create_user("dave", &["User"]).await;
    let xss = app.create_user("xss", &["User"]).await;
    {
        let mut conn = app.store().conn().await.unwrap();
        muster_store::users::set_enabled(&mut conn, bob.id, false, 2)
            .await
            .unwrap();
        muster_store::users::set_auth_status(&mut conn, carol.id, AuthStatus::Locked, 2)
            .await
            .unwrap();
        muster_store::users::set_auth_status(&mut conn, dave.id, AuthStatus::PasswordReset, 2)
            .await
            .unwrap();
        let p = muster_store::users::ProfileChange {
            username: muster_domain::Username::parse("xss").unwrap(),
            email: muster_domain::EmailAddress::parse("xss@example.com").unwrap(),
            first_name: muster_domain::PersonName::parse("first_name", XSS).unwrap(),
            last_name: muster_domain::PersonName::parse("last_name", XSS).unwrap(),
        };
        muster_store::users::update_profile(&mut conn, xss.id, &p, 2)
            .await
            .unwrap();
    }
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;

    // the built-in views (the dashboard is the first page; the grid is one click on)
    b.goto(&app.url("/admin/users")).await;
    b.find("#view-active.current").await;
    assert_eq!(sorted_names(&b).await, ["admin", "alice", "carol", "dave", "xss"]);
    b.click("#view-all").await;
    b.find("#view-all.current").await;
    assert_eq!(
        sorted_names(&b).await,
        ["admin", "alice", "bob", "carol", "dave", "xss"]
    );
    b.click("#view-disabled").await;
    b.find("#view-disabled.current").await;
    assert_eq!(sorted_names(&b).await, ["bob"]);
    b.click("#view-cannot_login").await;
    b.find("#view-cannot_login.current").await;
    assert_eq!(sorted_names(&b).await, ["carol", "dave"]);

    // markup in names is text: in the grid (no alert would let the next command run)
    b.click("#view-all").await;
    b.find("#view-all.current").await;
    assert_eq!(b.text("tr[data-username='xss'] td.first_name").await, XSS);
    assert_eq!(b.text("tr[data-username='xss'] td.last_name").await, XSS);

    // Disable and Enable from the row menu
    b.click("#view-active").await;
    b.find("#view-active.current").await;
    row_menu(&b, "alice", ".row-disable").await;
    expect_flash(&b, "User alice was disabled.").await;
    assert!(
        !grid_names(&b).await.contains(&"alice".to_owned()),
        "back on Active users"
    );
    assert!(!app.user(alice.id).await.enabled);
    b.click("#view-disabled").await;
    b.find("#view-disabled.current").await;
    row_menu(&b, "alice", ".row-enable").await;
    expect_flash(&b, "User alice was enabled.").await;
    assert!(app.user(alice.id).await.enabled);

    // no Disable or Delete on one's own row; both on others'
    b.click("#view-all").await;
    b.find("#view-all.current").await;
    assert!(b.try_find("tr[data-username='admin'] .row-disable").await.is_none());
    assert!(b.try_find("tr[data-username='admin'] .row-delete").await.is_none());
    assert!(b.try_find("tr[data-username='alice'] .row-disable").await.is_some());
    assert!(b.try_find("tr[data-username='alice'] .row-delete").await.is_some());
    // Activate in the row menu only for the locked user
    assert!(b.try_find("tr[data-username='carol'] .row-activate").await.is_some());
    assert!(b.try_find("tr[data-username='alice'] .row-activate").await.is_none());

    // the user page: Disable User, Enable User
    b.click("tr[data-username='alice'] td.username a").await;
    b.find("#general-info").await;
    assert_eq!(b.text("#info-username").await, "alice");
    b.click("#disable-user").await;
    expect_flash(&b, "User alice was disabled.").await;
    assert_eq!(b.text("#badge-enabled").await, "Disabled");
    b.click("#enable-user").await;
    expect_flash(&b, "User alice was enabled.").await;
    assert_eq!(b.text("#badge-enabled").await, "Enabled");
    assert!(b.try_find("#activate-user").await.is_none(), "not locked: no Activate");
    // the history lists what happened, in words
    b.wait_text("Admin User enabled alice").await;

    // Activate a locked user from their page
    b.goto(&app.url(&format!("/admin/users/{}", carol.id))).await;
    assert_eq!(b.text("#badge-status").await, "Locked");
    b.click("#activate-user").await;
    expect_flash(&b, "User carol was activated.").await;
    assert_eq!(b.text("#badge-status").await, "Active");
    assert!(b.try_find("#activate-user").await.is_none());
    assert_eq!(app.user(carol.id).await.auth_status, AuthStatus::Active);

    // oneself: no Disable User, no Delete
    let admin = app.user_by_name("admin").await;
    b.goto(&app.url(&format!("/admin/users/{}", admin.id))).await;
    b.find("#general-info").await;
    assert!(b.try_find("#disable-user").await.is_none());
    assert!(b.try_find("#delete-user").await.is_none());

    // the page and the audit log show the markup as text
    b.goto(&app.url(&format!("/admin/users/{}", xss.id))).await;
    assert_eq!(b.text("#info-first-name").await, XSS);
    assert_eq!(b.text("#user-name").await, format!("{XSS} {XSS}"));
    b.click("#disable-user").await;
    expect_flash(&b, "User xss was disabled.").await;
    b.goto(&app.url("/admin/audit?target=xss")).await;
    b.find("#audit-events").await;
    // the stored JSON is behind "details"
    b.click("#audit-events td.change details summary").await;
    assert!(b.text("#audit-events td.change").await.contains(XSS));
    let scripts = b
        .execute(
            "return Array.from(document.scripts).filter(s => s.textContent.includes('alert(1)')).length",
            json!([]),
        )
        .await;
    assert_eq!(scripts, json!(0));

    // a narrow screen: the page does not overflow sideways (the grid shows its key
    // columns and fits), and the row menu still works
    b.resize(400, 900).await;
    b.goto(&app.url("/admin/users?view=all")).await;
    b.find("#users-grid").await;
    let overflow = b
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            json!([]),
        )
        .await;
    assert_eq!(overflow, json!(0), "the page is as wide as the screen");
    let fits = b
        .execute(
            "var w = document.getElementById('grid-wrap'); return w.scrollWidth <= w.clientWidth",
            json!([]),
        )
        .await;
    assert_eq!(fits, json!(true), "the grid fits the screen");
    b.execute(
        "document.querySelector(\"tr[data-username='alice'] summary\").scrollIntoView()",
        json!([]),
    )
    .await;
    row_menu(&b, "alice", ".row-disable").await;
    expect_flash(&b, "User alice was disabled.").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_mass_actions_saved_view_and_delete_after_reassign() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("mass{i}"), &["User"]).await.id);
    }
    let owner = app.create_user("owner", &["User"]).await;
    app.create_user("heir", &["User"]).await;
    {
        let mut conn = app.store().conn().await.unwrap();
        let main = muster_store::organizations::find_by_name(&mut conn, "Main")
            .await
            .unwrap()
            .unwrap();
        for (k, t) in [("contact", "Ann"), ("contact", "Ben"), ("task", "Call Ann")] {
            muster_store::records::insert(&mut conn, k, t, owner.id, main.id, 1)
                .await
                .unwrap();
        }
    }
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;

    // mass Disable over a selection
    b.goto(&app.url("/admin/users?view=all&q=mass&sort=username")).await;
    b.find("#users-grid").await;
    assert_eq!(grid_names(&b).await, ["mass0", "mass1", "mass2", "mass3", "mass4"]);
    b.click("tr[data-username='mass1'] .row-check").await;
    b.click("tr[data-username='mass3'] .row-check").await;
    assert_eq!(b.text("#selection-note").await, "2 selected");
    confirm_mass(&b, "#mass-disable", "Disable 2 users?").await;
    expect_flash(&b, "2 user(s) were disabled").await;
    assert_eq!(enabled(&app, ids.clone()).await, [true, false, true, false, true]);
    // the grid came back as it was
    assert!(b.current_url().await.contains("q=mass"));

    // select the page, then Enable
    b.click("#select-page").await;
    confirm_mass(&b, "#mass-enable", "Enable 5 users?").await;
    expect_flash(&b, "2 user(s) were enabled").await;
    assert_eq!(enabled(&app, ids.clone()).await, [true; 5]);

    // all matching across pages, with an exception, on a page of 10 out of more
    b.goto(&app.url("/admin/users?view=all&size=10&sort=username")).await;
    b.find("#users-grid").await;
    assert_eq!(b.text("#total-count").await, "8");
    b.goto(&app.url("/admin/users?view=all&q=mass&size=10&sort=username"))
        .await;
    b.click("#select-all-matching").await;
    assert_eq!(b.text("#selection-note").await, "All 5 matching users selected");
    b.click("tr[data-username='mass2'] .row-check").await;
    assert_eq!(
        b.text("#selection-note").await,
        "All 5 matching users selected, except 1"
    );
    confirm_mass(&b, "#mass-disable", "Disable 4 users?").await;
    expect_flash(&b, "4 user(s) were disabled").await;
    assert_eq!(enabled(&app, ids.clone()).await, [false, false, true, false, false]);
    b.click("#select-all-matching").await;
    confirm_mass(&b, "#mass-enable", "Enable 5 users?").await;
    expect_flash(&b, "4 user(s) were enabled").await;

    // a custom view: filters, sort and columns saved, then reopened
    b.goto(&app.url("/admin/users?view=all")).await;
    b.type_into("#f-q", "mass").await;
    b.click("#columns-panel summary").await;
    b.click("#col-email").await;
    b.click("#col-roles").await;
    b.click("#apply-columns").await;
    b.find("#sort-username").await;
    b.click("#sort-username").await;
    b.find("th.col-username[aria-sort='ascending']").await;
    b.click("#sort-username").await;
    b.find("th.col-username[aria-sort='descending']").await;
    b.type_into("#view-name", "Mass, newest name first").await;
    b.click("#save-view").await;
    expect_flash(&b, "View “Mass, newest name first” saved.").await;
    b.click("#view-active").await;
    b.find("#view-active.current").await;
    assert_eq!(grid_names(&b).await.len(), 8);
    let tab = b.find_all(".tabs a").await.pop().unwrap();
    assert_eq!(b.text_el(&tab).await, "Mass, newest name first");
    b.click_el(&tab).await;
    b.find(".tabs a.current[id^='saved-']").await;
    assert_eq!(grid_names(&b).await, ["mass4", "mass3", "mass2", "mass1", "mass0"]);
    assert!(b.try_find("#sort-email").await.is_none(), "email column hidden");
    assert!(b.try_find("#sort-roles").await.is_none(), "roles column hidden");
    assert!(b.try_find("#sort-username").await.is_some());
    // as the default, /admin/users opens it
    b.click("#default-view").await;
    b.find("#unset-default-view").await;
    b.goto(&app.url("/admin/users")).await;
    b.find(".tabs a.current[id^='saved-']").await;
    assert_eq!(grid_names(&b).await[0], "mass4");

    // Delete from the grid: confirmation, which says why it is refused while records are
    // assigned (before anything is confirmed) and leads to Reassign records
    b.goto(&app.url("/admin/users?view=all")).await;
    row_menu(&b, "mass0", ".row-delete").await;
    b.find("#delete-dialog[open]").await;
    assert_eq!(b.text("#delete-name").await, "mass0");
    b.find("#confirm-delete:enabled").await;
    b.click("#cancel-delete").await;
    b.wait_gone("#delete-dialog[open]").await;
    row_menu(&b, "owner", ".row-delete").await;
    b.find("#delete-dialog[open]").await;
    b.find("#delete-refused:not([hidden])").await;
    assert_eq!(
        b.text("#delete-refused").await,
        "Cannot delete owner: 3 records are assigned (2 contact, 1 task). Reassign their records first."
    );
    assert!(b.try_find("#confirm-delete[hidden]").await.is_some(), "no Yes, Delete");
    b.click("#delete-way-out").await;
    b.find("#reassign-to").await;
    assert!(
        b.current_url()
            .await
            .ends_with(&format!("/admin/users/{}#records", owner.id))
    );
    // reassign, then the delete goes through from the page
    b.type_into("#reassign-to", "heir").await;
    b.click("#reassign-records").await;
    expect_flash(&b, "3 record(s) were reassigned to heir.").await;
    b.find("#records-none").await;
    b.click("#delete-user").await;
    b.find("#delete-dialog[open]").await;
    b.click("#confirm-delete:enabled").await;
    expect_flash(&b, "User owner was deleted.").await;
    assert!(!grid_names(&b).await.contains(&"owner".to_owned()));
    let mut conn = app.store().conn().await.unwrap();
    assert!(muster_store::users::get(&mut conn, owner.id).await.unwrap().is_none());
}
