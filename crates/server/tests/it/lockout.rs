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

/// A burst of sign-ins queued for the hashing threads holds no database
/// connection meanwhile: with every hashing thread busy and more sign-ins
/// waiting than the pool has connections (8 in tests), a page still loads.
async fn a_sign_in_burst_leaves_the_pool_to_others(app: &TestApp) {
    let admin = app.signed_in("admin", crate::support::ADMIN_PASSWORD).await;
    for i in 0..12 {
        app.create_user(&format!("burst{i}"), &["User"]).await;
    }
    // hashes long enough to outlast a page: about 5 s each, one per hashing thread
    let probe = muster_server::hashing::Params {
        memory_kib: 8192,
        iterations: 10,
        parallelism: 1,
    };
    let started = std::time::Instant::now();
    muster_server::hashing::hash_now("probe", probe).unwrap();
    let per_iteration = started.elapsed().as_secs_f64() / 10.0;
    let slow = muster_server::hashing::Params {
        iterations: ((5.0 / per_iteration) as u32).clamp(10, 1_000_000),
        ..probe
    };
    let busy: Vec<_> = (0..app.state.hasher.threads())
        .map(|_| {
            let hasher = app.state.hasher.clone();
            tokio::spawn(async move { hasher.hash("busy".to_owned(), slow).await })
        })
        .collect();
    let sign_ins: Vec<_> = (0..12)
        .map(|i| {
            let client = app.client();
            tokio::spawn(async move { client.login(&format!("burst{i}"), PASSWORD).await.status() })
        })
        .collect();
    // the sign-ins reach the hashing queue within moments; a page after that
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(admin.get("/admin/users").await.status(), 200);
    assert!(
        busy.iter().all(|h| !h.is_finished()),
        "the page waited until the hashing threads were free"
    );
    for h in busy {
        h.await.unwrap().unwrap();
    }
    for s in join_all(sign_ins).await {
        assert_eq!(s.unwrap(), 303);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_burst_leaves_the_pool_to_others_sqlite() {
    a_sign_in_burst_leaves_the_pool_to_others(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_burst_leaves_the_pool_to_others_postgres() {
    a_sign_in_burst_leaves_the_pool_to_others(&TestApp::spawn_on(TestDb::postgres().await).await).await;
}
