//! Mass Reset Password as a background job: the request fixes the selection
//! and answers at once (303 to the job page, or 202 from the API); the job
//! resets in batches, every user once and one mail each, also when a worker
//! dies half-way and another takes over.

use muster_domain::Allowed;
use muster_domain::AuthStatus;
use muster_domain::permission::perm;
use muster_server::services::Ctx;
use muster_server::services::mass_reset::{self, JobRun, Position, Step, Walk};
use muster_store::jobs::{self, Job, Status};
use serde_json::json;

use crate::api_client::{Api, key_for};
use crate::csv_support::{job, run_jobs};
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, TestDb, location};

/// `n` users named bulk1…bulkN in Main, every tenth disabled, inserted in a
/// few statements with one precomputed hash (no Argon2 per user).
async fn bulk_users(app: &TestApp, n: i64) {
    bulk_users_named(app, "bulk", n).await;
}

/// [`bulk_users`] named `prefix`1…`prefix`N.
async fn bulk_users_named(app: &TestApp, prefix: &str, n: i64) {
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
         INSERT INTO users (username, username_lc, email, email_lc, first_name, last_name, \
         password_hash, password_changed_at, created_at, search_text, roles_text, orgs_text) \
         SELECT $3 || n, $3 || n, $3 || n || '@example.com', $3 || n || '@example.com', \
         'Bulk', 'User' || n, $2, 0, 0, \
         'bulk user' || n || ' ' || $3 || n, 'User', 'Main' FROM seq",
    )
    .bind(n)
    .bind(&hash)
    .bind(prefix)
    .execute(&mut *tx)
    .await
    .unwrap();
    // every tenth bulk user disabled
    sqlx::query(
        "INSERT INTO user_status (user_id, enabled, auth_status, updated_at) \
         SELECT id, CASE WHEN CAST(substr(username_lc, length($1) + 1) AS BIGINT) % 10 = 0 THEN 0 ELSE 1 END, \
         'active', 0 FROM users u WHERE username_lc LIKE $1 || '%' \
         AND NOT EXISTS (SELECT 1 FROM user_status s WHERE s.user_id = u.id)",
    )
    .bind(prefix)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO user_organizations (user_id, organization_id) \
         SELECT u.id, o.id FROM users u, organizations o WHERE o.name = 'Main' AND u.username_lc LIKE $1 || '%' \
         AND NOT EXISTS (SELECT 1 FROM user_organizations m WHERE m.user_id = u.id)",
    )
    .bind(prefix)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO user_roles (user_id, role) SELECT id, 'User' FROM users u WHERE username_lc LIKE $1 || '%' \
         AND NOT EXISTS (SELECT 1 FROM user_roles m WHERE m.user_id = u.id)",
    )
    .bind(prefix)
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

/// Every reset user has exactly one mail, one live link, one audit event, and
/// nobody else has any; `queued` of them.
async fn assert_reset_once(app: &TestApp, queued: i64) {
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
        count(app, "SELECT COUNT(*) FROM password_reset_tokens").await,
        queued,
        "no link made twice"
    );
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM user_status WHERE auth_status = 'password_reset'"
        )
        .await,
        queued
    );
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM user_status WHERE auth_status = 'password_reset' AND enabled = 0"
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
}

/// The grid's "all matching" mass Reset lands on the job's page, which
/// refreshes itself until the job is done and then says what it did.
async fn mass_reset_all_matching(app: &TestApp, n: i64) {
    bulk_users(app, n).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let resp = admin
        .post(
            "/profile",
            "/admin/users/mass/reset-password",
            &[("all_matching", "1"), ("view", "all"), ("q", "bulk")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let to = location(&resp);
    let id: i64 = to.strip_prefix("/admin/jobs/").expect("the job page").parse().unwrap();
    let page = admin.get_text(&to).await;
    let grouped = format!("{},{:03}", n / 1000, n % 1000);
    assert!(
        page.contains(&format!("Password reset of {grouped} users started.")),
        "{page}"
    );
    assert!(page.contains(&format!("0 of {n}")), "{page}");
    assert!(page.contains("data-reload-after="), "reloads itself while queued");
    assert!(page.contains("id=\"job-reload\""), "and offers a reload without script");
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM user_status WHERE auth_status = 'password_reset'"
        )
        .await,
        0,
        "the request changes nobody: the job does"
    );

    run_jobs(app).await;
    let j = job(app, id).await;
    assert_eq!(j.status, Status::Done, "{:?}", j.error);
    assert_eq!((j.processed, j.total), (n, n));
    let disabled = n / 10;
    let queued = n - disabled;
    let page = admin.get_text(&to).await;
    let expected = format!("Password reset completed: {queued} emails queued ({disabled} disabled user(s) skipped)");
    assert!(page.contains(&expected), "{expected} not in {page}");
    assert!(page.contains(&format!("{n} of {n}")));
    assert!(!page.contains("data-reload-after="), "done: no more reloads");
    assert_reset_once(app, queued).await;
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'users.mass_password_reset'"
        )
        .await,
        1,
        "one event for the request"
    );
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'users.mass_password_reset_finished'"
        )
        .await,
        1,
        "one for its outcome"
    );
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

async fn admin_api(app: &TestApp) -> Api {
    let admin = app.user_by_name("admin").await;
    Api::new(app, Some(&key_for(app, admin.id, None).await))
}

/// The API answers 202 with the job and how many users the selection holds
/// then; a user who matches later is not reset; the job reads as `jobs`.
async fn api_story(app: TestApp) {
    bulk_users(&app, 30).await;
    let api = admin_api(&app).await;
    let r = api
        .post(
            "/api/users/mass/reset-password",
            json!({"filter": {"search": "bulk", "view": "all"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["meta"]["affected"], 30, "{}", r.text);
    assert_eq!(r.body["data"]["type"], "jobs");
    assert_eq!(r.body["data"]["attributes"]["kind"], "mass_password_reset");
    assert_eq!(r.body["data"]["attributes"]["status"], "queued");
    assert_eq!(r.body["data"]["attributes"]["total"], 30);
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let self_link = format!("/api/jobs/{id}");
    assert_eq!(r.body["data"]["links"]["self"], self_link.as_str());
    assert_eq!(r.headers["location"], self_link.as_str());

    // matches the filter, but came after the request
    app.create_user("bulk-late", &["User"]).await;
    let r = api.get(&self_link).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["attributes"]["processed"], 0);
    run_jobs(&app).await;
    let r = api.get(&self_link).await;
    let a = &r.body["data"]["attributes"];
    assert_eq!(a["status"], "done", "{}", r.text);
    assert_eq!((a["processed"].as_i64(), a["total"].as_i64()), (Some(30), Some(30)));
    assert!(a["finishedAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(app.user_by_name("bulk-late").await.auth_status, AuthStatus::Active);
    assert_reset_once(&app, 27).await;

    // by ids; unknown ids and users of no organization of the key's are left out of `affected`
    let b1 = app.user_by_name("bulk1").await;
    let late = app.user_by_name("bulk-late").await;
    let r = api
        .post(
            "/api/users/mass/reset-password",
            json!({"ids": [late.id, b1.id, 999_999]}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["meta"]["affected"], 2, "{}", r.text);
    run_jobs(&app).await;
    assert_eq!(
        app.user_by_name("bulk-late").await.auth_status,
        AuthStatus::PasswordReset
    );
    // bulk1 got a second link (the first is spent), and one more mail: two mails in all
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM mail_outbox WHERE to_addr = 'bulk1@example.com'"
        )
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_202_and_the_job_reads_done_sqlite() {
    api_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_202_and_the_job_reads_done_postgres() {
    api_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// `n` bulk users and a mass reset of every "bulk" user, asked through the
/// API and claimed by `worker`: the job, its requester's grant and its walk.
async fn claimed_bulk_job(app: &TestApp, n: i64, worker: &str) -> (Job, Allowed<perm::ResetPasswords>, Walk) {
    bulk_users(app, n).await;
    let api = admin_api(app).await;
    let r = api
        .post("/api/users/mass/reset-password", json!({"filter": {"search": "bulk"}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id: i64 = r.body["data"]["id"].as_str().unwrap().parse().unwrap();
    let now = muster_server::clock::now();
    let claimed = jobs::claim(app.store(), &[mass_reset::KIND], worker, now, now + 60_000)
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!(claimed.id, id);
    let grant = mass_reset::requester(app.state.deps(), &claimed).await.unwrap();
    let walk = Walk::of(&claimed).unwrap();
    (claimed, grant, walk)
}

/// A worker claims the job, commits two batches and dies (its lease runs
/// out); another worker takes the job over and finishes it from the
/// checkpoint: every user reset once, one mail each. The dead worker, back,
/// can change nothing.
async fn takeover_story(app: TestApp) {
    let (claimed, grant, walk) = claimed_bulk_job(&app, 1_600, "dead-worker").await;
    let id = claimed.id;
    let now = muster_server::clock::now();
    assert!(
        matches!(walk, Walk::Filter { .. }),
        "all matching is kept as a filter: {walk:?}"
    );
    let ctx = Ctx::cli();
    let dead = JobRun {
        deps: app.state.deps(),
        job_id: id,
        owner: "dead-worker",
        grant: &grant,
        ctx: &ctx,
        walk: &walk,
    };
    let mut at = Position::of(&claimed);
    for _ in 0..2 {
        match dead.batch(at).await.unwrap() {
            Step::Done(next) => at = next,
            other => panic!("a batch: {other:?}"),
        }
    }
    assert_eq!(at.processed, 1_000);
    let j = job(&app, id).await;
    assert_eq!((j.processed, j.total), (1_000, 1_600), "progress is recorded per batch");
    let half = count(&app, "SELECT COUNT(*) FROM mail_outbox").await;
    assert_eq!(half, 900, "the first 1,000 users: 100 disabled, 900 mails");

    // the lease runs out; another worker takes over
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2")
        .bind(now - 1)
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let now = muster_server::clock::now();
    let taken = jobs::claim(app.store(), &[mass_reset::KIND], "second-worker", now, now + 60_000)
        .await
        .unwrap()
        .expect("taken over");
    assert_eq!(Position::of(&taken), at, "resumes at the checkpoint");
    // the dead worker wakes up and tries its next batch: nothing changes
    let late = dead.batch(at).await.unwrap();
    assert_eq!(late, Step::LostLease);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_outbox").await, half);
    let outcome = muster_server::services::mass_reset::run_batches(
        app.state.deps(),
        &taken,
        "second-worker",
        &grant,
        &ctx,
        &walk,
    )
    .await
    .unwrap();
    assert_eq!(outcome, muster_server::jobs::Outcome::Done);
    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Done);
    assert_eq!((j.processed, j.total), (1_600, 1_600));
    assert_eq!(j.attempts, 2);
    assert_reset_once(&app, 1_440).await;
    let mut conn = app.store().conn().await.unwrap();
    assert!(!jobs::renew(&mut conn, id, "dead-worker", now, 0, None).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_taken_over_after_a_crash_resets_and_mails_nobody_twice_sqlite() {
    takeover_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_taken_over_after_a_crash_resets_and_mails_nobody_twice_postgres() {
    takeover_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// A User Manager's selection that holds an Administrator: the job skips the
/// administrator (rights checked as it runs) and says so. Another user's job
/// reads as not found; an Administrator of the same organizations may read it.
async fn guarded_story(app: TestApp) {
    let other_admin = app.create_user("second-admin", &["Administrator"]).await;
    let plain = app.create_user("plain", &["User"]).await;
    let um = app.create_user("um", &["User Manager"]).await;
    let um2 = app.create_user("um2", &["User Manager"]).await;
    app.create_org("Branch").await;
    let branch_admin = app.create_user_in("branchadmin", &["Administrator"], &["Branch"]).await;
    let api = Api::new(&app, Some(&key_for(&app, um.id, None).await));
    let before = app.user(other_admin.id).await;
    let r = api
        .post(
            "/api/users/mass/reset-password",
            json!({"ids": [other_admin.id, plain.id]}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["meta"]["affected"], 2);
    assert_eq!(
        r.body["meta"]["refused"], 1,
        "the administrator, as the job will skip: {}",
        r.text
    );
    let path = format!("/api/jobs/{}", r.body["data"]["id"].as_str().unwrap());
    run_jobs(&app).await;
    let after = app.user(other_admin.id).await;
    assert_eq!(after.auth_status, AuthStatus::Active);
    assert_eq!(after.password_hash, before.password_hash);
    assert_eq!(app.user(plain.id).await.auth_status, AuthStatus::PasswordReset);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM mail_outbox").await, 1);
    let r = api.get(&path).await;
    assert_eq!(r.body["data"]["attributes"]["status"], "done", "{}", r.text);
    let ui = app.signed_in("um", PASSWORD).await;
    let id = path.rsplit('/').next().unwrap();
    let page = ui.get_text(&format!("/admin/jobs/{id}")).await;
    assert!(page.contains("1 administrator(s) skipped"), "{page}");

    // another User Manager, or an Administrator of another organization: not found
    for user in [um2.id, branch_admin.id] {
        let other = Api::new(&app, Some(&key_for(&app, user, None).await));
        let r = other.get(&path).await;
        assert_eq!(r.status, 404, "{}", r.text);
    }
    let ui2 = app.signed_in("um2", PASSWORD).await;
    assert_eq!(ui2.get(&format!("/admin/jobs/{id}")).await.status(), 404);
    assert_eq!(api.get("/api/jobs/999999").await.status, 404);
    // an Administrator of the same organization reads it
    let admin = admin_api(&app).await;
    assert_eq!(admin.get(&path).await.status, 200);

    // all matching: Main's two Administrators are counted as refused when asked, and skipped
    let r = api
        .post("/api/users/mass/reset-password", json!({"filter": {"view": "all"}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["meta"]["refused"], 2, "{}", r.text);
    let id: i64 = r.body["data"]["id"].as_str().unwrap().parse().unwrap();
    run_jobs(&app).await;
    let s = mass_reset::Summary::of(app.store(), id).await.unwrap();
    assert_eq!((s.refused, s.own), (2, 1), "{s:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_manager_job_skips_administrators_and_others_see_no_job_sqlite() {
    guarded_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_manager_job_skips_administrators_and_others_see_no_job_postgres() {
    guarded_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// Bad bodies are 400s that point at the culprit, and queue nothing.
async fn bad_bodies_story(app: TestApp) {
    let api = admin_api(&app).await;
    for (body, pointer) in [
        (json!({}), ""),
        (json!({"ids": [1], "filter": {"view": "all"}}), ""),
        (json!({"ids": "1"}), "/ids"),
        (json!({"filter": {"view": "everyone"}}), "/filter/view"),
        (json!({"filter": {"authStatus": "sleeping"}}), "/filter/authStatus"),
        (json!({"filter": {"colour": "red"}}), "/filter"),
        (json!({"everyone": true}), ""),
    ] {
        let r = api.post("/api/users/mass/reset-password", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        if !pointer.is_empty() {
            assert!(r.pointer().starts_with(pointer), "{body}: {}", r.text);
        }
    }
    assert_eq!(api.get("/api/jobs/not-a-number").await.status, 400);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM jobs").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_are_400_with_pointers_sqlite() {
    bad_bodies_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_are_400_with_pointers_postgres() {
    bad_bodies_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// "All matching" is kept as the filter and the highest id when asked: the
/// request copies no user, and users who arrive after it, matching or not,
/// are not reset, however the job's batches fall.
async fn newcomers_story(app: TestApp) {
    bulk_users(&app, 620).await;
    let api = admin_api(&app).await;
    let r = api
        .post("/api/users/mass/reset-password", json!({"filter": {"search": "bulk"}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["meta"]["affected"], 620, "{}", r.text);
    assert_eq!(r.body["meta"]["refused"], 0, "{}", r.text);
    let id: i64 = r.body["data"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM job_users").await,
        0,
        "nothing copied at request time"
    );
    // they match the filter, but came after the request: past the bound
    bulk_users_named(&app, "bulklate", 600).await;
    let j = job(&app, id).await;
    assert!(matches!(mass_reset::Walk::of(&j).unwrap(), Walk::Filter { .. }));
    run_jobs(&app).await;
    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Done, "{:?}", j.error);
    assert_eq!((j.processed, j.total), (620, 620));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM users JOIN user_status ON user_status.user_id = users.id WHERE username_lc LIKE 'bulklate%' AND auth_status <> 'active'"
        )
        .await,
        0,
        "no newcomer reset"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM mail_outbox WHERE to_addr LIKE 'bulklate%'").await,
        0,
        "nor mailed"
    );
    assert_reset_once(&app, 558).await;
    let s = mass_reset::Summary::of(app.store(), id).await.unwrap();
    assert_eq!(
        (s.reset, s.disabled, s.refused, s.gone),
        (558, 62, 0, 0),
        "the outcome outlives the job"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selection_that_grows_after_the_request_leaves_the_newcomers_alone_sqlite() {
    newcomers_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selection_that_grows_after_the_request_leaves_the_newcomers_alone_postgres() {
    newcomers_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// A selection of rows is kept as `job_users` rows while the job runs; they
/// are deleted when it ends, with the outcome still readable.
async fn rows_cleared_story(app: TestApp) {
    bulk_users(&app, 30).await;
    let api = admin_api(&app).await;
    let b1 = app.user_by_name("bulk1").await;
    let b2 = app.user_by_name("bulk2").await;
    let b10 = app.user_by_name("bulk10").await;
    let r = api
        .post(
            "/api/users/mass/reset-password",
            json!({"ids": [b1.id, b2.id, b10.id, 999_999]}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["meta"]["affected"], 3, "{}", r.text);
    let id: i64 = r.body["data"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(count(&app, "SELECT COUNT(*) FROM job_users").await, 3);
    run_jobs(&app).await;
    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Done, "{:?}", j.error);
    assert_eq!((j.processed, j.total), (3, 3));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM job_users").await,
        0,
        "gone once the job ended"
    );
    assert_reset_once(&app, 2).await;
    let s = mass_reset::Summary::of(app.store(), id).await.unwrap();
    assert_eq!((s.reset, s.disabled), (2, 1), "bulk10 is disabled");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selection_of_rows_leaves_no_job_users_rows_once_done_sqlite() {
    rows_cleared_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selection_of_rows_leaves_no_job_users_rows_once_done_postgres() {
    rows_cleared_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// An API key acts in one organization of its user's: a job kept as a filter
/// resets the users of that organization only, not of every organization its
/// requester belongs to.
async fn key_scope_story(app: TestApp) {
    bulk_users(&app, 12).await;
    let branch = app.create_org("Branch").await;
    let elsewhere = app.create_user_in("elsewhere", &["User"], &["Branch"]).await;
    let both = app
        .create_user_in("both-admin", &["Administrator"], &["Main", "Branch"])
        .await;
    let main: i64 = count(&app, "SELECT id FROM organizations WHERE name = 'Main'").await;
    assert_ne!(main, branch);
    let api = Api::new(&app, Some(&key_for(&app, both.id, Some(main)).await));
    let r = api
        .post("/api/users/mass/reset-password", json!({"filter": {"view": "all"}}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id: i64 = r.body["data"]["id"].as_str().unwrap().parse().unwrap();
    run_jobs(&app).await;
    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Done, "{:?}", j.error);
    assert_eq!(
        app.user(elsewhere.id).await.auth_status,
        AuthStatus::Active,
        "a user of another organization of the requester's is not reset"
    );
    assert_eq!(app.user_by_name("bulk1").await.auth_status, AuthStatus::PasswordReset);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_job_stays_in_the_organization_of_the_key_sqlite() {
    key_scope_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_job_stays_in_the_organization_of_the_key_postgres() {
    key_scope_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// A batch is read and its mails rendered before its write transaction; a
/// user disabled, and another given a new address, in between: the batch is
/// worked out again inside the transaction, so the disabled user is not
/// reset and the mail goes to the new address, never the old one.
async fn changed_meanwhile_story(app: TestApp) {
    let (claimed, grant, walk) = claimed_bulk_job(&app, 20, "worker").await;
    let ctx = Ctx::cli();
    let run = JobRun {
        deps: app.state.deps(),
        job_id: claimed.id,
        owner: "worker",
        grant: &grant,
        ctx: &ctx,
        walk: &walk,
    };
    let at = Position::of(&claimed);
    let prepared = run.prepare(at, 500).await.unwrap().expect("a batch");

    let (bulk3, bulk4) = (app.user_by_name("bulk3").await.id, app.user_by_name("bulk4").await.id);
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query("UPDATE user_status SET enabled = 0 WHERE user_id = $1")
        .bind(bulk3)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET email = 'moved4@example.com', email_lc = 'moved4@example.com' WHERE id = $1")
        .bind(bulk4)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    let step = run.write(at, prepared).await.unwrap();
    let Step::Done(next) = step else {
        panic!("a batch: {step:?}")
    };
    assert_eq!(next.processed, 20);
    assert_eq!(
        (next.done.reset, next.done.disabled),
        (17, 3),
        "bulk10 and bulk20, and bulk3 disabled meanwhile"
    );
    assert_eq!(app.user(bulk3).await.auth_status, AuthStatus::Active);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM mail_outbox WHERE to_addr = 'bulk3@example.com'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM mail_outbox WHERE to_addr = 'bulk4@example.com'"
        )
        .await,
        0,
        "no mail to the old address"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM mail_outbox WHERE to_addr = 'moved4@example.com'"
        )
        .await,
        1
    );
    assert_reset_once(&app, 17).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_changed_between_reading_and_writing_a_batch_is_reset_as_they_are_now_sqlite() {
    changed_meanwhile_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_changed_between_reading_and_writing_a_batch_is_reset_as_they_are_now_postgres() {
    changed_meanwhile_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}
