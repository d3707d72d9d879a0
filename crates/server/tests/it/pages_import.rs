//! The import page chooses the file once (issue 13), on SQLite and PostgreSQL:
//! the dry run keeps the upload for its uploader; Apply imports that same
//! upload once; every reason a row is rejected is listed; new users without a
//! password get the set-up mail when it is ticked.

use crate::csv_support::{rejected_rows, upload};
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, TestDb};

const CSV: &str = "username,email,first_name,last_name,enabled,auth_status,organizations,roles\n\
                   fresh,fresh@example.com,Fresh,Person,true,active,Main,User\n\
                   quiet,quiet@example.com,Quiet,Person,false,active,Main,User\n\
                   messy,not-an-email,A,B,maybe,active,Atlantis,User\n";

async fn mails_to(app: &TestApp, addr: &str) -> i64 {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE to_addr = $1")
        .bind(addr)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

async fn uploads(app: &TestApp) -> i64 {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM import_uploads")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

/// The apply form's path on a dry run's page.
fn apply_path(html: &str) -> String {
    let start = html.find("action=\"/admin/import/").unwrap() + "action=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn exists(app: &TestApp, username: &str) -> bool {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::users::find_by_username(&mut conn, username)
        .await
        .unwrap()
        .is_some()
}

async fn story(app: TestApp) {
    app.create_user("other-admin", &["Administrator"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;

    // the dry run: every reason of the messy row, nothing changed, the upload kept
    let r = upload(&admin, CSV, true).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    let rows = rejected_rows(&html);
    let fields: Vec<&str> = rows.iter().map(|(_, f, _)| f.as_str()).collect();
    assert_eq!(fields, ["email", "enabled", "organizations"], "every reason: {rows:#?}");
    assert!(rows.iter().all(|(l, _, _)| *l == 4));
    assert!(html.contains("2 new user(s) would have no password"), "{html}");
    assert!(!exists(&app, "fresh").await);
    assert_eq!(uploads(&app).await, 1);
    let apply = apply_path(&html);
    assert!(
        html.contains("id=\"apply-send-mail\" checked"),
        "set-up mail ticked by default"
    );

    // another administrator cannot apply it
    let other = app.signed_in("other-admin", PASSWORD).await;
    let r = other.post("/admin/import", &apply, &[("send_mail", "on")]).await;
    assert_eq!(r.status(), 410);
    assert!(!exists(&app, "fresh").await);

    // Apply: the same upload, without choosing the file again; the set-up mail goes out
    let r = admin.post("/admin/import", &apply, &[("send_mail", "on")]).await;
    assert_eq!(r.status(), 422, "the messy row is still rejected");
    let html = r.text().await.unwrap();
    assert!(html.contains("Import: 3 row(s)"), "{html}");
    assert!(html.contains("id=\"created\">2<"));
    assert!(
        html.contains("1 user(s) were sent the password set-up mail. 1 disabled user(s) were not."),
        "{html}"
    );
    assert!(exists(&app, "fresh").await && exists(&app, "quiet").await);
    assert_eq!(mails_to(&app, "fresh@example.com").await, 1);
    assert_eq!(mails_to(&app, "quiet@example.com").await, 0, "disabled: no mail");
    assert_eq!(uploads(&app).await, 0, "removed after Apply");
    // a second Apply of the same upload imports nothing
    let r = admin.post("/admin/import", &apply, &[("send_mail", "on")]).await;
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("Choose the file again"));

    // unticked: no mail
    let csv = "username,email,first_name,last_name,organizations,roles\nnomail,nomail@example.com,No,Mail,Main,User\n";
    let html = upload(&admin, csv, true).await.text().await.unwrap();
    let apply = apply_path(&html);
    let r = admin.post("/admin/import", &apply, &[]).await;
    assert_eq!(r.status(), 200);
    assert!(exists(&app, "nomail").await);
    assert_eq!(mails_to(&app, "nomail@example.com").await, 0);

    // an expired upload cannot be applied, and goes at the next upload
    let csv = "username,email,first_name,last_name,organizations,roles\nlate,late@example.com,La,Te,Main,User\n";
    let html = upload(&admin, csv, true).await.text().await.unwrap();
    let apply = apply_path(&html);
    {
        let mut conn = app.store().conn().await.unwrap();
        sqlx::query("UPDATE import_uploads SET expires_at = 1")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    assert_eq!(admin.post("/admin/import", &apply, &[]).await.status(), 410);
    assert!(!exists(&app, "late").await);
    assert_eq!(uploads(&app).await, 0, "the expired upload is removed");
    upload(&admin, csv, true).await;
    {
        let mut conn = app.store().conn().await.unwrap();
        sqlx::query("UPDATE import_uploads SET expires_at = 1")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    // and by the periodic sweep, when nobody uploads
    muster_server::jobs::sweep(&app.state).await.unwrap();
    assert_eq!(uploads(&app).await, 0);
    upload(&admin, csv, true).await;
    assert_eq!(uploads(&app).await, 1);

    // a User Manager may not import, nor apply
    app.create_user("manager", &["User Manager"]).await;
    let um = app.signed_in("manager", PASSWORD).await;
    assert_eq!(um.get("/admin/import").await.status(), 403);
    assert_eq!(um.post("/profile", &apply, &[]).await.status(), 403);
    // the token is never in a URL: a token only in the query is refused
    let token = admin.csrf("/admin/import").await;
    let r = admin.post_raw(&format!("{apply}?csrf={token}"), &[]).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn import_once_then_apply_on_sqlite() {
    story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_once_then_apply_on_postgres() {
    story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}
