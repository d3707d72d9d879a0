//! Helpers for the export and import tests.

use muster_store::Store;
use muster_store::jobs::{self, Job};
use sqlx::Row;

use crate::support::{Client, TestApp};

/// Insert `n` users named `bulkN` in organization `org_id`, in a few statements.
pub async fn seed_bulk(store: &Store, n: i64, org_id: i64) {
    let mut conn = store.conn().await.unwrap();
    sqlx::query(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1) \
         INSERT INTO users (username, username_lc, email, email_lc, first_name, last_name, \
         password_hash, password_changed_at, created_at, roles_text, orgs_text, search_text) \
         SELECT 'bulk' || n, 'bulk' || n, 'bulk' || n || '@example.com', 'bulk' || n || '@example.com', \
         'First', 'Last', '$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo', \
         0, 0, 'User', 'Main', '' FROM seq",
    )
    .bind(n)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO user_status (user_id, enabled, auth_status, updated_at) \
         SELECT id, 1, 'active', 0 FROM users WHERE username_lc LIKE 'bulk%'",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO user_organizations (user_id, organization_id) SELECT id, $1 FROM users WHERE username_lc LIKE 'bulk%'",
    )
    .bind(org_id)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("INSERT INTO user_roles (user_id, role) SELECT id, 'User' FROM users WHERE username_lc LIKE 'bulk%'")
        .execute(&mut *conn)
        .await
        .unwrap();
}

pub async fn main_org(app: &TestApp) -> i64 {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::organizations::find_by_name(&mut conn, "Main")
        .await
        .unwrap()
        .unwrap()
        .id
}

pub async fn job(app: &TestApp, id: i64) -> Job {
    jobs::get(&mut app.store().conn().await.unwrap(), id)
        .await
        .unwrap()
        .expect("job")
}

pub async fn newest_job(app: &TestApp) -> Job {
    let mut conn = app.store().conn().await.unwrap();
    let list = jobs::list(&mut conn, muster_server::services::exports::KIND, 1)
        .await
        .unwrap();
    list.into_iter().next().expect("a job")
}

/// Mail in the outbox: (to, subject, text body).
pub async fn outbox(app: &TestApp) -> Vec<(String, String, String, String)> {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query("SELECT to_addr, subject, text_body, html_body FROM mail_outbox ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<Option<String>, _>(2).unwrap_or_default(),
                r.get::<Option<String>, _>(3).unwrap_or_default(),
            )
        })
        .collect()
}

/// Start an export from the Exports page; the id of the new job.
pub async fn start_export(app: &TestApp, c: &Client, query: &str) -> i64 {
    let resp = c.post("/admin/exports", &format!("/admin/exports{query}"), &[]).await;
    assert_eq!(resp.status(), 303, "export started");
    newest_job(app).await.id
}

pub async fn run_jobs(app: &TestApp) {
    muster_server::jobs::run_until_idle(&app.state, "test-worker")
        .await
        .expect("jobs run");
}

/// Upload a CSV to the Import page as its form does (multipart, the CSRF token its first field).
pub async fn upload(c: &Client, csv: &str, dry_run: bool) -> reqwest::Response {
    let token = c.csrf("/admin/import").await;
    let boundary = "muster-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"users.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n"
    );
    if dry_run {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\non\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    c.http
        .post(format!("{}/admin/import", c.base))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("upload")
}

/// The rejected rows of an import page: (line, field, reason).
pub fn rejected_rows(html: &str) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    for chunk in html.split("<td class=\"line\">").skip(1) {
        let line: u64 = chunk[..chunk.find('<').unwrap()].parse().unwrap();
        let cell = |class: &str| {
            let marker = format!("<td class=\"{class}\">");
            let start = chunk.find(&marker).unwrap() + marker.len();
            chunk[start..start + chunk[start..].find("</td>").unwrap()].to_owned()
        };
        out.push((line, cell("field"), cell("reason")));
    }
    out
}
