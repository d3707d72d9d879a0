//! The lockout is exact under concurrency: on one instance, and on two
//! `muster serve` processes sharing one PostgreSQL database.

use futures::future::join_all;
use muster_domain::AuthStatus;

use crate::support::serve_process::{ServeProcess, muster};
use crate::support::{PASSWORD, TestApp, TestDb};

const TOKEN: &str = "lockout-test-token-lockout-test-token-xyz1";

async fn attempt(http: &reqwest::Client, base: &str, username: &str, password: &str) -> u16 {
    http.post(format!("{base}/login"))
        .header("cookie", format!("muster_csrf={TOKEN}"))
        .form(&[("username", username), ("password", password), ("csrf", TOKEN)])
        .send()
        .await
        .expect("login request")
        .status()
        .as_u16()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_wrong_passwords_lock_exactly_at_the_limit_sqlite() {
    let app = TestApp::spawn().await;
    let u = app.create_user("target", &["User"]).await;
    let http = no_redirects();
    let tries = (0..25).map(|_| attempt(&http, &app.base, "target", "wrong password!"));
    let statuses = join_all(tries).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let after = app.user(u.id).await;
    assert_eq!(after.failed_login_count, 10);
    assert_eq!(after.auth_status, AuthStatus::Locked);
    assert_eq!(
        attempt(&http, &app.base, "target", PASSWORD).await,
        401,
        "locked: the right password is refused"
    );
    let mut conn = app.store().conn().await.unwrap();
    let events = muster_store::audit::list(&mut conn, &Default::default(), 50, 0)
        .await
        .unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "user.locked").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_postgres_lock_exactly_at_the_limit() {
    // the user is made through the services, on the same database; the
    // instances are declared after `app`, so they stop before its database goes
    let app = TestApp::spawn_on(TestDb::postgres().await).await;
    let serve = |name: &str| {
        let dir = app.db.dir.path().join(name);
        let mut cmd = muster(&dir);
        cmd.args(["--database-url", &app.db.url]);
        ServeProcess::start(cmd, &dir)
    };
    let a = serve("a");
    let b = serve("b");
    let u = app.create_user("target", &["User"]).await;
    // 51 attempts from one address: the per-address pause (tested in security_edges) is off here
    muster_store::settings::put(
        &mut app.store().conn().await.unwrap(),
        "login_failures_per_address",
        "0",
        0,
    )
    .await
    .unwrap();

    let http = no_redirects();
    let mut tries = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        tries.push(attempt(&http, base, "target", "wrong password!"));
    }
    let right = attempt(&http, &b.base, "target", PASSWORD);
    let (wrong, right) = tokio::join!(join_all(tries), right);
    assert!(wrong.iter().all(|s| *s == 401));

    let after = app.user(u.id).await;
    assert_eq!(after.failed_login_count, 10, "counted exactly to the limit");
    assert_eq!(after.auth_status, AuthStatus::Locked);

    let mut conn = app.store().conn().await.unwrap();
    let filter = muster_store::login_attempts::Filter {
        user_id: Some(u.id),
        ..Default::default()
    };
    let attempts = muster_store::login_attempts::list(&mut conn, &filter, 100, 0)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 51);
    let lock_id = attempts
        .iter()
        .find(|a| a.reason.contains("account locked"))
        .expect("the locking attempt")
        .id;
    if right == 303 {
        let success = attempts.iter().find(|a| a.success).expect("success row");
        assert!(success.id < lock_id, "a right password signed in only before the lock");
    } else {
        assert_eq!(right, 401);
    }
    // after the lock, the right password does not get in, on either instance
    assert_eq!(attempt(&http, &a.base, "target", PASSWORD).await, 401);
    assert_eq!(attempt(&http, &b.base, "target", PASSWORD).await, 401);
}
