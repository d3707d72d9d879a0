//! Every page of muster, checked by axe-core in headless Chromium: no
//! critical and no serious violation (WCAG 2 A/AA and axe's best practices),
//! signed in and signed out, with dialogs and popovers open where a page has them.
//!
//! axe-core is installed by `scripts/axe-core` (scripts/test and .ci/run call it)
//! into `target/axe-core`, never by a test; `MUSTER_AXE_JS` may point elsewhere.
//! Without it the test fails and says how to install it.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::mailbox::{reset_link, start_worker, to, wait_spool};
use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, TestApp};

fn axe_source() -> String {
    let path = std::env::var("MUSTER_AXE_JS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/axe-core/node_modules/axe-core/axe.min.js"
        )
        .to_owned()
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is not at {path} ({e}): run scripts/axe-core (scripts/test and .ci/run do), or set MUSTER_AXE_JS"
        )
    })
}

/// Run axe on the page shown; the critical and serious violations, one line each.
async fn violations(b: &Browser, axe: &str) -> Vec<String> {
    // a WebDriver script runs outside the page's Content-Security-Policy, so axe can be injected
    b.execute(
        &format!(
            "{axe}\n;window.__axe = null;\
             axe.run(document, {{resultTypes: ['violations']}})\
               .then(r => window.__axe = r.violations\
                 .filter(v => v.impact === 'critical' || v.impact === 'serious')\
                 .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(' | ')))\
               .catch(e => window.__axe = ['axe failed: ' + e]);\
             return true;"
        ),
        json!([]),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = b.execute("return window.__axe", json!([])).await;
        if let Some(list) = v.as_array() {
            return list.iter().map(|s| s.as_str().unwrap_or_default().to_owned()).collect();
        }
        assert!(
            Instant::now() < deadline,
            "axe did not finish on {}",
            b.current_url().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Report {
    axe: String,
    checked: Vec<String>,
    problems: Vec<String>,
}

impl Report {
    async fn check(&mut self, b: &Browser, what: &str) {
        for v in violations(b, &self.axe).await {
            self.problems.push(format!("{what}: {v}"));
        }
        self.checked.push(what.to_owned());
    }

    async fn page(&mut self, b: &Browser, url: &str, ready: &str, what: &str) {
        b.goto(url).await;
        b.find(ready).await;
        self.check(b, what).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_has_no_critical_or_serious_accessibility_violation() {
    let mut r = Report {
        axe: axe_source(),
        checked: Vec::new(),
        problems: Vec::new(),
    };
    let app = TestApp::spawn().await;
    start_worker(&app);
    let jdoe = app.create_user("jdoe", &["User"]).await;
    let locked = app.create_user("locked", &["User Manager"]).await;
    {
        let mut conn = app.store().conn().await.unwrap();
        muster_store::users::set_auth_status(&mut conn, locked.id, muster_domain::AuthStatus::Locked, 2)
            .await
            .unwrap();
    }
    let b = Browser::start().await;
    let u = |p: &str| app.url(p);

    // the checker sees a violation when there is one: a field without a label is critical
    b.goto(&u("/login")).await;
    b.find("#sign-in").await;
    b.execute(
        "var i = document.createElement('input'); i.type = 'text'; document.querySelector('form').appendChild(i); return true",
        json!([]),
    )
    .await;
    let seen = violations(&b, &r.axe).await;
    assert!(
        seen.iter().any(|v| v.starts_with("label (critical)")),
        "axe did not report an unlabelled field: {seen:?}"
    );

    // signed out
    r.page(&b, &u("/login"), "#sign-in", "login").await;
    r.page(&b, &u("/forgot-password"), "#send-link", "forgot password")
        .await;
    b.type_into("#login", "jdoe").await;
    b.click("#send-link").await;
    b.find("#forgot-sent").await;
    r.check(&b, "forgot password, sent").await;
    let msgs = wait_spool(&app, 1).await;
    let link = reset_link(&to(&msgs, "jdoe@example.com")[0]).expect("reset link");
    r.page(&b, &link, "#new-password", "reset password").await;
    r.page(
        &b,
        &u("/reset-password?token=not-a-token"),
        "#reset-invalid",
        "reset password, invalid link",
    )
    .await;

    // an administrator
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;
    r.page(&b, &u("/admin"), "#chart-sign-ins svg", "dashboard").await;
    r.page(&b, &u("/admin/users"), "#users-grid", "users grid").await;
    r.page(
        &b,
        &u("/admin/users?view=all&q=o&status=locked&status=active&sort=-lastName"),
        "#filter-chips",
        "users grid with chips",
    )
    .await;
    for popover in ["#status-filter", "#more-filters", "#columns-panel"] {
        b.click(&format!("{popover} summary")).await;
        b.find(&format!("{popover}[open]")).await;
        r.check(&b, &format!("users grid, {popover} open")).await;
        b.click(&format!("{popover} summary")).await;
    }
    b.goto(&u("/admin/users?view=all")).await;
    b.click(&format!("tr[data-user-id='{}'] details.rowmenu summary", jdoe.id))
        .await;
    r.check(&b, "users grid, row menu open").await;
    b.click(&format!("tr[data-user-id='{}'] .row-check", jdoe.id)).await;
    b.click("#mass-disable").await;
    b.find("#mass-confirm-dialog[open]").await;
    r.check(&b, "users grid, mass Disable dialog").await;
    b.click("#mass-confirm-dialog [data-close-dialog]").await;
    b.click("#mass-reset").await;
    b.find("#mass-reset-dialog[open]").await;
    r.check(&b, "users grid, mass Reset Password dialog").await;
    b.click("#mass-reset-dialog [data-close-dialog]").await;
    // the confirmation page a browser without script gets
    b.execute(
        "var f = document.getElementById('mass-form'); var a = document.createElement('input');\
         a.type = 'hidden'; a.name = 'action'; a.value = 'disable'; f.appendChild(a);\
         f.action = '/admin/users/mass/confirm'; f.submit(); return true;",
        json!([]),
    )
    .await;
    b.find("#mass-question").await;
    r.check(&b, "mass action confirmation page").await;
    r.page(
        &b,
        &u(&format!("/admin/users/mass/reset-password?ids={}", jdoe.id)),
        "#mass-reset-open",
        "mass reset confirmation page",
    )
    .await;
    // a mass reset's job page, while it waits and once done
    let reset_me = app.create_user("axejob", &["User"]).await;
    let admin = app.user_by_name("admin").await;
    let actor = muster_server::services::auth::actor_for(&mut app.store().conn().await.unwrap(), &admin)
        .await
        .unwrap();
    let grant = actor
        .allow::<muster_domain::permission::perm::ResetPasswords>()
        .unwrap();
    let filter = muster_domain::UserFilter {
        only_ids: Some(vec![reset_me.id]),
        ..Default::default()
    };
    let ctx = muster_server::services::Ctx::cli();
    let job = muster_server::services::mass_reset::request(app.store(), &grant, &ctx, &filter, json!({}))
        .await
        .unwrap()
        .job;
    let job_page = u(&format!("/admin/jobs/{}", job.id));
    r.page(&b, &job_page, "#job-progress", "mass reset job, queued").await;
    muster_server::jobs::run_until_idle(&app.state, "axe").await.unwrap();
    r.page(&b, &job_page, "#job-outcome", "mass reset job, done").await;

    let user_page = u(&format!("/admin/users/{}", jdoe.id));
    r.page(&b, &user_page, "#general-info", "user page").await;
    b.click("#more-actions").await;
    r.check(&b, "user page, More Actions open").await;
    b.click("#more-actions").await;
    if b.try_find("#delete-user").await.is_some() {
        b.click("#delete-user").await;
        b.find("#delete-dialog[open]").await;
        r.check(&b, "user page, delete dialog").await;
        b.click("#cancel-delete").await;
    }
    r.page(
        &b,
        &u(&format!("/admin/users/{}", locked.id)),
        "#general-info",
        "user page, locked user",
    )
    .await;
    r.page(&b, &u("/admin/users/new"), "form", "create user form").await;
    r.page(
        &b,
        &u(&format!("/admin/users/{}/edit", jdoe.id)),
        "form",
        "edit user form",
    )
    .await;
    // a form re-shown with its errors
    b.type_into("#email", "not an email").await;
    b.execute("document.getElementById('email').form.submit(); return true", json!([]))
        .await;
    b.find(".field-error").await;
    r.check(&b, "edit user form with errors").await;
    r.page(
        &b,
        &u(&format!("/admin/users/{}/password", jdoe.id)),
        "form",
        "change password page",
    )
    .await;
    r.page(&b, &u("/profile"), "#profile-username", "profile").await;
    b.click(".generate-key").await;
    b.find("#api-key-value").await;
    r.check(&b, "API key shown once").await;
    r.page(&b, &u("/profile/password"), "form", "own password page").await;
    r.page(
        &b,
        &u("/profile/two-factor"),
        "main form",
        "two-factor set-up (QR code)",
    )
    .await;
    // the confirmation pages a browser without script gets
    for (path, name) in [
        (
            format!("/admin/users/{}/reset-password", jdoe.id),
            "reset password confirmation",
        ),
        (format!("/admin/users/{}/delete", jdoe.id), "delete confirmation"),
        (
            format!("/admin/users/{}/sessions/end-all", jdoe.id),
            "end all sessions confirmation",
        ),
    ] {
        r.page(&b, &u(&path), "main", name).await;
    }
    r.page(&b, &u("/admin/audit"), "main", "audit").await;
    r.page(&b, &u("/admin/login-attempts"), "main", "login attempts").await;
    r.page(&b, &u("/admin/exports"), "main", "exports").await;
    r.page(&b, &u("/admin/settings"), "main form", "settings").await;
    r.page(&b, &u("/admin/settings/password-hashes"), "main", "password hashes")
        .await;
    r.page(&b, &u("/admin/import"), "main form", "import").await;
    r.page(&b, &u("/admin/mail"), "main", "mail outbox").await;
    r.page(&b, &u("/admin/users/999999"), "h1", "error page (404)").await;

    assert!(
        r.problems.is_empty(),
        "{} critical or serious violation(s) on {} page state(s) checked:\n{}",
        r.problems.len(),
        r.checked.len(),
        r.problems.join("\n")
    );
}
