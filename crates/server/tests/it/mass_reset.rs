//! Mass Reset Password over many users: batches of 500 per transaction,
//! every mail queued, disabled users skipped and counted.

use std::time::Instant;

use crate::support::{ADMIN_PASSWORD, TestApp, TestDb};

/// `n` users named bulk1…bulkN in Main, every tenth disabled, inserted in a
/// few statements with one precomputed hash (no Argon2 per user).
async fn bulk_users(app: &TestApp, n: i64) {
    let hash = muster_server::hashing::hash_now(
        "Bulk-Password-Quartz-77",
        muster_server::hashing::Params {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        },
    )
    .unwrap();
    let mut tx = app.store().begin().await.unwrap();
    sqlx::query(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1) \
         INSERT INTO users (username, username_lc, email, email_lc, first_name, last_name, enabled, auth_status, \
         password_hash, password_changed_at, created_at, updated_at, search_text, roles_text, orgs_text) \
         SELECT 'bulk' || n, 'bulk' || n, 'bulk' || n || '@example.com', 'bulk' || n || '@example.com', \
         'Bulk', 'User' || n, CASE WHEN n % 10 = 0 THEN 0 ELSE 1 END, 'active', $2, 0, 0, 0, \
         'bulk user' || n || ' bulk' || n, 'User', 'Main' FROM seq",
    )
    .bind(n)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO user_organizations (user_id, organization_id) \
         SELECT u.id, o.id FROM users u, organizations o WHERE o.name = 'Main' AND u.username_lc LIKE 'bulk%'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("INSERT INTO user_roles (user_id, role) SELECT id, 'User' FROM users WHERE username_lc LIKE 'bulk%'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

async fn mass_reset_all_matching(app: &TestApp, n: i64) -> std::time::Duration {
    bulk_users(app, n).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let start = Instant::now();
    let resp = admin
        .post(
            "/profile",
            "/admin/users/mass/reset-password",
            &[("all_matching", "1"), ("view", "all"), ("q", "bulk")],
        )
        .await;
    let elapsed = start.elapsed();
    assert_eq!(resp.status(), 303);
    let disabled = n / 10;
    let queued = n - disabled;
    let page = admin.get_text("/admin/users").await;
    let expected = format!("Password reset completed: {queued} emails queued ({disabled} disabled user(s) skipped)");
    assert!(page.contains(&expected), "{expected} not in the page");
    assert_eq!(count(app, "SELECT COUNT(*) FROM mail_outbox").await, queued);
    assert_eq!(
        count(
            app,
            "SELECT COUNT(DISTINCT to_addr) FROM mail_outbox WHERE text_body LIKE '%/reset-password?token=%'"
        )
        .await,
        queued
    );
    assert_eq!(
        count(app, "SELECT COUNT(*) FROM password_reset_tokens WHERE used_at IS NULL").await,
        queued
    );
    assert_eq!(
        count(app, "SELECT COUNT(*) FROM users WHERE auth_status = 'password_reset'").await,
        queued
    );
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM users WHERE auth_status = 'password_reset' AND enabled = 0"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'user.password_reset'"
        )
        .await,
        queued
    );
    elapsed
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_reset_in_several_batches_sqlite() {
    let app = TestApp::spawn().await;
    mass_reset_all_matching(&app, 1_200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_reset_in_several_batches_postgres() {
    let app = TestApp::spawn_on(TestDb::postgres().await).await;
    mass_reset_all_matching(&app, 1_200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_reset_of_10000_users_sqlite() {
    let app = TestApp::spawn().await;
    let elapsed = mass_reset_all_matching(&app, 10_000).await;
    eprintln!("mass reset of 10,000 users (9,000 mails) took {elapsed:?}");
    assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
}
