//! Exports: the job, its file, its mail, who may download it, a takeover
//! after a crash, retention; and the round trip into an empty instance.

use std::process::{Command, Stdio};

use muster_domain::AuthStatus;
use muster_server::jobs::export_users::{partial_path, result_name};
use muster_server::user_csv::Column;
use muster_server::user_csv::export::{Position, encode, header};
use muster_store::jobs::{self, Status};
use muster_store::users::Scope;

use crate::csv_support::*;
use crate::support::serve_process::{ServeProcess, muster};
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, TestDb};

fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let head = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (head, rows)
}

#[tokio::test]
async fn an_export_runs_in_the_background_mails_the_link_and_downloads() {
    let app = TestApp::spawn().await;
    app.create_user("-dash", &["User"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let page = admin.get_text("/admin/exports").await;
    assert!(page.contains("No exports yet."));

    let id = start_export(&app, &admin, "").await;
    assert_eq!(job(&app, id).await.status, Status::Queued);
    let page = admin.get_text("/admin/exports").await;
    assert!(page.contains("queued") && !page.contains("/download\""), "{page}");
    // not ready: the download is refused, never a half-written file
    assert_eq!(admin.get(&format!("/admin/exports/{id}/download")).await.status(), 409);

    run_jobs(&app).await;
    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Done);
    assert_eq!((j.processed, j.total), (2, 2));
    assert!(app.data_dir().join(result_name(id)).exists());
    assert!(!partial_path(&app.data_dir(), id).exists());

    let mails = outbox(&app).await;
    assert_eq!(mails.len(), 1);
    let link = format!("{}/admin/exports/{id}/download", app.base);
    assert_eq!(mails[0].0, "admin@example.com");
    assert!(mails[0].2.contains(&link), "text body has the link: {}", mails[0].2);
    assert!(mails[0].3.contains(&link), "html body has the link");

    let page = admin.get_text("/admin/exports").await;
    assert!(page.contains(&format!("/admin/exports/{id}/download")));
    assert!(page.contains("2 of 2"));

    let resp = admin.get(&format!("/admin/exports/{id}/download")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let body = resp.bytes().await.unwrap();
    let (head, rows) = parse_csv(&body);
    let keys: Vec<&str> = Column::ALL.iter().map(|c| c.key()).collect();
    assert_eq!(head, keys, "every field is exportable by default, password_hash too");
    assert_eq!(rows.len(), 2);
    let dash = rows.iter().find(|r| r[1].contains("dash")).unwrap();
    assert_eq!(dash[1], "'-dash", "the formula guard");
    assert_eq!(dash[5], "true");
    assert_eq!(dash[6], "active");
    assert_eq!(dash[7], "Main");
    assert!(dash[9].ends_with('Z') && dash[9].contains('T'), "RFC 3339: {}", dash[9]);
    assert!(dash[13].starts_with("$argon2id$"));
}

#[tokio::test]
async fn exportable_fields_and_the_view_filter_shape_the_file() {
    let app = TestApp::spawn().await;
    let off = app.create_user("offuser", &["User"]).await;
    app.create_user("onuser", &["User"]).await;
    let grant = app.system_actor().await;
    let grant = grant.allow::<muster_domain::permission::perm::EnableDisable>().unwrap();
    muster_server::services::users::set_enabled(app.store(), &grant, &Default::default(), off.id, false)
        .await
        .unwrap();
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    // turn password_hash and login_count off in Settings
    let mut form: Vec<(String, String)> = muster_server::settings::DESCRIPTORS
        .iter()
        .filter(|d| !matches!(d.key, "export_field_password_hash" | "export_field_login_count"))
        .map(|d| {
            (
                d.key.to_owned(),
                if d.key.starts_with("export_field") {
                    "on".into()
                } else {
                    d.default.to_string()
                },
            )
        })
        .collect();
    form.push(("csrf".into(), admin.csrf("/admin/settings").await));
    let resp = admin
        .http
        .post(format!("{}/admin/settings", app.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);

    let id = start_export(&app, &admin, "?view=disabled").await;
    run_jobs(&app).await;
    let body = admin
        .get(&format!("/admin/exports/{id}/download"))
        .await
        .bytes()
        .await
        .unwrap();
    let (head, rows) = parse_csv(&body);
    assert!(!head.contains(&"password_hash".to_owned()) && !head.contains(&"login_count".to_owned()));
    assert_eq!(head.len(), 12);
    assert_eq!(rows.len(), 1, "only the disabled user: {rows:?}");
    assert_eq!(rows[0][1], "offuser");
    assert!(admin.get_text("/admin/exports").await.contains("Filtered view"));

    // a bad filter is refused, and queues nothing
    let resp = admin.post("/admin/exports", "/admin/exports?view=bogus", &[]).await;
    assert_eq!(resp.status(), 422);
    assert_eq!(newest_job(&app).await.id, id);
}

#[tokio::test]
async fn a_user_manager_may_not_export_or_download() {
    let app = TestApp::spawn().await;
    app.create_user("manager", &["User Manager"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let id = start_export(&app, &admin, "").await;
    run_jobs(&app).await;

    let um = app.signed_in("manager", PASSWORD).await;
    assert_eq!(um.get(&format!("/admin/exports/{id}/download")).await.status(), 403);
    assert_eq!(um.get("/admin/exports").await.status(), 403);
    assert_eq!(um.post("/profile", "/admin/exports", &[]).await.status(), 403);
    assert_eq!(um.get("/admin/import").await.status(), 403);
    assert!(
        !um.get_text("/profile").await.contains("/admin/exports"),
        "no Exports menu entry"
    );
    // signed out: to the login page
    let anon = app.client();
    let resp = anon.get(&format!("/admin/exports/{id}/download")).await;
    assert_eq!(resp.status(), 303);
    assert!(crate::support::location(&resp).starts_with("/login"));
}

#[tokio::test]
async fn an_administrator_of_another_organization_does_not_see_the_export() {
    let app = TestApp::spawn().await;
    app.create_org("Branch").await;
    app.create_user_in("branchadmin", &["Administrator"], &["Branch"]).await;
    app.create_user_in("bothadmin", &["Administrator"], &["Main", "Branch"])
        .await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let id = start_export(&app, &admin, "").await;
    run_jobs(&app).await;

    let other = app.signed_in("branchadmin", PASSWORD).await;
    assert_eq!(other.get(&format!("/admin/exports/{id}/download")).await.status(), 404);
    assert!(
        !other
            .get_text("/admin/exports")
            .await
            .contains(&format!("data-export-id=\"{id}\""))
    );
    let both = app.signed_in("bothadmin", PASSWORD).await;
    assert_eq!(both.get(&format!("/admin/exports/{id}/download")).await.status(), 200);
    // branchadmin's own export holds only Branch users
    let own = start_export(&app, &other, "").await;
    run_jobs(&app).await;
    let body = other
        .get(&format!("/admin/exports/{own}/download"))
        .await
        .bytes()
        .await
        .unwrap();
    let (_, rows) = parse_csv(&body);
    let names: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(names, ["branchadmin", "bothadmin"]);
}

/// A worker died mid-export: its job is `running` with an expired lease, a
/// checkpoint, and a `.partial` file that has rows past the checkpoint. The
/// next worker cuts the file back, goes on, and every user is in the file once.
async fn takeover_story(app: TestApp) {
    let main = main_org(&app).await;
    seed_bulk(app.store(), 2500, main).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let id = start_export(&app, &admin, "").await;

    // the crashed worker: claimed, wrote the header and the first page, checkpointed, then wrote half a page
    let now = muster_server::clock::now();
    let claimed = jobs::claim(app.store(), &["export_users"], "dead-worker", now, now + 60_000)
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!(claimed.id, id);
    let columns = Column::ALL.to_vec();
    let first = muster_store::user_cursor::page_after(
        &mut app.store().conn().await.unwrap(),
        &Scope::Organizations(vec![main]),
        &Default::default(),
        0,
        1000,
    )
    .await
    .unwrap();
    let head = header(&columns).unwrap();
    let page = encode(&columns, &first).unwrap();
    let cp = Position {
        after_id: first.last().unwrap().id,
        rows: 1000,
        bytes: (head.len() + page.len()) as u64,
    };
    std::fs::create_dir_all(app.data_dir().join("exports")).unwrap();
    let partial = partial_path(&app.data_dir(), id);
    let mut bytes = [head.clone(), page].concat();
    bytes.extend_from_slice(b"9999,half-written-row,x@exa");
    std::fs::write(&partial, &bytes).unwrap();
    let mut conn = app.store().conn().await.unwrap();
    assert!(
        jobs::renew(
            &mut conn,
            id,
            "dead-worker",
            now + 60_000,
            1000,
            Some(&serde_json::to_string(&cp).unwrap())
        )
        .await
        .unwrap()
    );
    // not yet expired: nobody else may take it
    assert!(
        jobs::claim(app.store(), &["export_users"], "other", now + 1, now + 60_000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(admin.get_text("/admin/exports").await.contains("1000 of"));
    assert_eq!(admin.get(&format!("/admin/exports/{id}/download")).await.status(), 409);
    // the lease runs out
    sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2")
        .bind(now - 1)
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    run_jobs(&app).await;
    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Done, "{:?}", j.error);
    assert_eq!(j.attempts, 2, "taken over once");
    assert_eq!(j.processed, 2501);
    assert!(!partial.exists());
    let body = admin
        .get(&format!("/admin/exports/{id}/download"))
        .await
        .bytes()
        .await
        .unwrap();
    let (_, rows) = parse_csv(&body);
    assert_eq!(rows.len(), 2501, "admin and 2500 bulk users");
    let mut ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "no user twice");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order");
    assert!(!String::from_utf8_lossy(&body).contains("half-written"));
    // the dead worker cannot touch the job any more
    let mut conn = app.store().conn().await.unwrap();
    assert!(!jobs::renew(&mut conn, id, "dead-worker", now, 0, None).await.unwrap());
    assert!(!jobs::fail(&mut conn, id, "dead-worker", now, "late").await.unwrap());
    assert_eq!(outbox(&app).await.len(), 1, "one mail");
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over_and_resumed_sqlite() {
    takeover_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over_and_resumed_postgres() {
    takeover_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test]
async fn a_checkpoint_without_its_file_starts_over() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    app.create_user("someone", &["User"]).await;
    let id = start_export(&app, &admin, "").await;
    let now = muster_server::clock::now();
    jobs::claim(app.store(), &["export_users"], "elsewhere", now, now - 1)
        .await
        .unwrap()
        .unwrap();
    let cp = serde_json::to_string(&Position {
        after_id: 1,
        rows: 1,
        bytes: 400,
    })
    .unwrap();
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query("UPDATE jobs SET checkpoint = $1 WHERE id = $2")
        .bind(cp)
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    run_jobs(&app).await;
    let body = admin
        .get(&format!("/admin/exports/{id}/download"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(parse_csv(&body).1.len(), 2);
}

/// Several workers claim at once: each job is run by exactly one.
async fn claims_story(app: TestApp) {
    let mut conn = app.store().conn().await.unwrap();
    for _ in 0..30 {
        jobs::enqueue(&mut conn, "test_kind", "{}", None, 1).await.unwrap();
    }
    drop(conn);
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = app.store().clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let now = muster_server::clock::now();
                match jobs::claim(&store, &["test_kind"], &format!("w{w}"), now, now + 60_000).await {
                    Ok(Some(j)) => got.push(j.id),
                    Ok(None) => return got,
                    Err(e) => panic!("claim: {e}"),
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (30, 30), "every job claimed exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_claims_take_each_job_once_sqlite() {
    claims_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_claims_take_each_job_once_postgres() {
    claims_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test]
async fn files_expire_after_the_retention_period() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let id = start_export(&app, &admin, "").await;
    run_jobs(&app).await;
    let file = app.data_dir().join(result_name(id));
    assert!(file.exists());
    // a day later, nothing is deleted; eight days later (default 7), the file goes
    let finished = job(&app, id).await.finished_at.unwrap();
    assert_eq!(
        muster_server::jobs::export_users::delete_expired(&app.state, finished + 86_400_000)
            .await
            .unwrap(),
        0
    );
    assert!(file.exists());
    assert_eq!(
        muster_server::jobs::export_users::delete_expired(&app.state, finished + 8 * 86_400_000)
            .await
            .unwrap(),
        1
    );
    assert!(!file.exists());
    assert!(admin.get_text("/admin/exports").await.contains("expired"));
    let resp = admin.get(&format!("/admin/exports/{id}/download")).await;
    assert_eq!(resp.status(), 409);
    assert!(resp.text().await.unwrap().contains("expired"));
}

/// Export from one instance (the background job, downloaded over HTTP), import
/// into an empty one with `muster import users`: the same users, statuses,
/// organizations and roles, and each signs in with the same password.
async fn round_trip(target: TestDb) {
    let a = TestApp::spawn().await;
    let sales = a.create_org("Sales").await;
    // the exporting administrator belongs to both organizations, so the export has every user
    let admin_id = a.user_by_name("admin").await.id;
    let main = main_org(&a).await;
    muster_store::users::set_organizations(&mut a.store().conn().await.unwrap(), admin_id, &[main, sales])
        .await
        .unwrap();
    let actor = a.system_actor().await;
    let ctx = muster_server::services::Ctx::cli();
    a.create_user_in("alice", &["User"], &["Main", "Sales"]).await;
    a.create_user_in("bob", &["User Manager", "User"], &["Sales"]).await;
    let carol = a.create_user("carol", &["User"]).await;
    let dave = a.create_user("dave", &["User"]).await;
    let erin = a.create_user("erin", &["Administrator"]).await;
    a.create_user("-minus", &["User"]).await;
    let grant = actor.allow::<muster_domain::permission::perm::EnableDisable>().unwrap();
    muster_server::services::users::set_enabled(a.store(), &grant, &ctx, carol.id, false)
        .await
        .unwrap();
    let mut conn = a.store().conn().await.unwrap();
    let now = muster_server::clock::now();
    muster_store::users::set_auth_status(&mut conn, dave.id, AuthStatus::Locked, now)
        .await
        .unwrap();
    muster_store::users::set_auth_status(&mut conn, erin.id, AuthStatus::PasswordReset, now)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET first_name = '=HYPERLINK(\"http://evil\")' WHERE id = $1")
        .bind(carol.id)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    let admin = a.signed_in("admin", ADMIN_PASSWORD).await;
    let id = start_export(&a, &admin, "").await;
    run_jobs(&a).await;
    let body = admin
        .get(&format!("/admin/exports/{id}/download"))
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&body).contains("\"'=HYPERLINK("),
        "formula guarded"
    );
    let file = a.data_dir().join("download.csv");
    std::fs::write(&file, &body).unwrap();

    let b = TestApp::spawn_on(target).await;
    b.create_org("Sales").await;
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["import", "users", "--database-url", &b.db.url])
        .arg(&file)
        .arg("--data-dir")
        .arg(b.data_dir())
        .env("MUSTER_LOG", "warn")
        .stdout(Stdio::piped())
        .output()
        .expect("muster import");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("7 row(s): 6 were created, 1 were updated"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "no progress bar when stdout is not a terminal"
    );

    for name in ["admin", "alice", "bob", "carol", "dave", "erin", "-minus"] {
        let (x, y) = (a.user_by_name(name).await, b.user_by_name(name).await);
        assert_eq!(
            (
                &x.email,
                &x.first_name,
                &x.last_name,
                x.enabled,
                x.auth_status,
                &x.roles,
                &x.organizations
            ),
            (
                &y.email,
                &y.first_name,
                &y.last_name,
                y.enabled,
                y.auth_status,
                &y.roles,
                &y.organizations
            ),
            "{name}"
        );
        assert_eq!(x.password_hash, y.password_hash, "{name}");
        assert!(muster_server::hashing::verify_now(
            if name == "admin" { ADMIN_PASSWORD } else { PASSWORD },
            &y.password_hash
        ));
    }
    for name in ["alice", "bob", "-minus"] {
        b.signed_in(name, PASSWORD).await;
    }
    b.signed_in("admin", ADMIN_PASSWORD).await;
    for name in ["carol", "dave", "erin"] {
        assert_eq!(
            b.client().login(name, PASSWORD).await.status(),
            401,
            "{name} cannot sign in, as before"
        );
    }
    // importing the same file again changes nothing
    let again = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["import", "users", "--database-url", &b.db.url])
        .arg(&file)
        .arg("--data-dir")
        .arg(b.data_dir())
        .env("MUSTER_LOG", "warn")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("7 unchanged"));
}

#[tokio::test]
async fn round_trip_into_an_empty_instance_sqlite() {
    round_trip(TestDb::sqlite()).await;
}

#[tokio::test]
async fn round_trip_into_an_empty_instance_postgres() {
    round_trip(TestDb::postgres().await).await;
}

#[tokio::test]
async fn the_export_command_streams_every_user_to_a_file() {
    let app = TestApp::spawn().await;
    seed_bulk(app.store(), 3000, main_org(&app).await).await;
    let out_file = app.data_dir().join("all.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["export", "users", "--database-url", &app.db.url, "--out"])
        .arg(&out_file)
        .arg("--data-dir")
        .arg(app.data_dir())
        .env("MUSTER_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("exported 3001 user(s)"));
    let (_, rows) = parse_csv(&std::fs::read(&out_file).unwrap());
    assert_eq!(rows.len(), 3001);
    let mut partial = out_file.into_os_string();
    partial.push(".partial");
    assert!(!std::path::Path::new(&partial).exists());
}

/// Rows per second of the store-level stream on 100k users (run with `--ignored`).
#[tokio::test]
#[ignore]
async fn benchmark_export_100k() {
    let app = TestApp::spawn().await;
    seed_bulk(app.store(), 100_000, main_org(&app).await).await;
    let out = app.data_dir().join("bench.csv");
    let started = std::time::Instant::now();
    let rows = muster_server::cli::csv_commands::export_users(app.store(), &out)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!("exported {rows} rows in {secs:.2} s: {:.0} rows/s", rows as f64 / secs);
}

/// The real binary is killed (SIGKILL) in the middle of an export; the job is
/// left `running` with its `.partial` file, and once its lease runs out another
/// worker takes it over and finishes a complete file.
#[tokio::test(flavor = "multi_thread")]
async fn an_export_survives_the_process_being_killed() {
    let app = TestApp::spawn().await;
    seed_bulk(app.store(), 30_000, main_org(&app).await).await;
    let mut cmd = muster(&app.data_dir());
    cmd.args(["--database-url", &app.db.url]);
    let mut serve = ServeProcess::start(cmd, &app.data_dir());
    let actor = muster_server::services::auth::actor_for(
        &mut app.store().conn().await.unwrap(),
        &app.user_by_name("admin").await,
    )
    .await
    .unwrap();
    let grant = actor.allow::<muster_domain::permission::perm::ExportUsers>().unwrap();
    let export =
        muster_server::services::exports::request_export(app.store(), &grant, &Default::default(), Default::default())
            .await
            .unwrap();
    let id = export.job.id;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let j = job(&app, id).await;
        if j.status == Status::Running && j.processed >= 2000 {
            break;
        }
        assert!(
            j.status != Status::Done,
            "the export finished before it could be killed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the worker of muster serve never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();

    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Running);
    assert!(j.processed < 30_001);
    let partial = partial_path(&app.data_dir(), id);
    assert!(partial.exists(), "the half-written file is left behind");
    assert!(!app.data_dir().join(result_name(id)).exists(), "and not offered");
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    assert_eq!(admin.get(&format!("/admin/exports/{id}/download")).await.status(), 409);

    // the dead worker's lease runs out (60 s in real life)
    sqlx::query("UPDATE jobs SET lease_until = 1 WHERE id = $1")
        .bind(id)
        .execute(&mut *app.store().conn().await.unwrap())
        .await
        .unwrap();
    run_jobs(&app).await;
    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Done, "{:?}", j.error);
    assert_eq!(j.attempts, 2);
    let body = admin
        .get(&format!("/admin/exports/{id}/download"))
        .await
        .bytes()
        .await
        .unwrap();
    let (_, rows) = parse_csv(&body);
    assert_eq!(rows.len(), 30_001);
    let mut ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 30_001, "every user exactly once");
}

#[tokio::test]
async fn the_api_handlers_answer_json_api_and_csv() {
    let app = TestApp::spawn().await;
    let admin = app.user_by_name("admin").await;
    let actor = muster_server::services::auth::actor_for(&mut app.store().conn().await.unwrap(), &admin)
        .await
        .unwrap();
    let ctx = muster_server::services::Ctx::default();
    let resp = muster_server::api::exports::create(&app.state, &actor, &ctx, Some("filter[view]=all"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["data"]["type"], "exports");
    assert_eq!(doc["data"]["attributes"]["status"], "queued");
    assert_eq!(doc["data"]["attributes"]["filtered"], true);
    let id: i64 = doc["data"]["id"].as_str().unwrap().parse().unwrap();
    let early = muster_server::api::exports::download(&app.state, &actor, &ctx, id).await;
    assert!(matches!(
        early,
        Err(muster_server::error::AppError::Domain(muster_domain::Error::Refused(_)))
    ));
    run_jobs(&app).await;
    let resp = muster_server::api::exports::show(&app.state, &actor, id).await.unwrap();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["data"]["attributes"]["status"], "done");
    assert_eq!(doc["data"]["attributes"]["processed"], 1);
    let resp = muster_server::api::exports::download(&app.state, &actor, &ctx, id)
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let um = muster_domain::Actor {
        roles: vec![muster_domain::Role::UserManager],
        ..actor.clone()
    };
    assert!(matches!(
        muster_server::api::exports::download(&app.state, &um, &ctx, id).await,
        Err(muster_server::error::AppError::Domain(muster_domain::Error::Forbidden(
            _
        )))
    ));
}

#[tokio::test]
async fn a_job_that_keeps_dying_or_cannot_run_is_marked_failed() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let id = start_export(&app, &admin, "").await;
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query("UPDATE jobs SET status = 'running', lease_until = 1, attempts = $1 WHERE id = $2")
        .bind(muster_server::jobs::MAX_ATTEMPTS)
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
    let broken = jobs::enqueue(&mut conn, "export_users", "{not json", None, 1)
        .await
        .unwrap();
    drop(conn);
    run_jobs(&app).await;
    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Failed);
    assert!(j.error.unwrap().contains("gave up"));
    let b = job(&app, broken).await;
    assert_eq!(b.status, Status::Failed);
    assert!(b.error.unwrap().contains("bad payload"));
    let page = admin.get_text("/admin/exports").await;
    assert!(page.contains("failed") && page.contains("gave up"));
    assert_eq!(admin.get(&format!("/admin/exports/{id}/download")).await.status(), 409);
}

/// The old row-by-row export of a selection: keyset pages of [`muster_store::users::User`]s through
/// the `csv` crate. The reference the driver-native path must match byte for byte.
async fn old_path_bytes(
    app: &TestApp,
    scope: &Scope,
    filter: &muster_domain::UserFilter,
    columns: &[Column],
    after_id: i64,
) -> Vec<u8> {
    let mut out = header(columns).unwrap();
    let mut after = after_id;
    loop {
        let page =
            muster_store::user_cursor::page_after(&mut app.store().conn().await.unwrap(), scope, filter, after, 1000)
                .await
                .unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        out.extend(encode(columns, &page).unwrap());
    }
    out
}

/// Counts the checkpoints; stops the export after `stop_after` of them when given.
struct Hook {
    calls: i64,
    stop_after: Option<i64>,
    seen: Vec<Position>,
}

impl muster_server::user_csv::export::BeforePage for Hook {
    async fn before_page(&mut self, pos: Position) -> muster_server::error::AppResult<bool> {
        self.calls += 1;
        self.seen.push(pos);
        Ok(self.stop_after.is_none_or(|n| self.calls <= n))
    }
}

async fn new_path_bytes(
    app: &TestApp,
    scope: &Scope,
    filter: &muster_domain::UserFilter,
    columns: &[Column],
    after_id: i64,
) -> Vec<u8> {
    let mut out = header(columns).unwrap();
    let start = Position {
        after_id,
        rows: 0,
        bytes: out.len() as u64,
    };
    let mut hook = Hook {
        calls: 0,
        stop_after: None,
        seen: Vec::new(),
    };
    let end = muster_server::user_csv::export::stream(app.store(), scope, filter, columns, &mut out, start, &mut hook)
        .await
        .unwrap()
        .expect("not stopped");
    assert_eq!(end.bytes, out.len() as u64, "the position counts the bytes written");
    out
}

type Awkward<'a> = (&'a str, &'a str, Vec<i64>, Vec<&'a str>, Option<i64>, i64, &'a str, i64);

/// Users with every awkward value a cell can hold, beside 4,500 plain ones (three chunks).
async fn awkward_population(app: &TestApp) -> (i64, i64) {
    let main = main_org(app).await;
    seed_bulk(app.store(), 4500, main).await;
    let now = muster_server::clock::now();
    let mut conn = app.store().conn().await.unwrap();
    let acme = muster_store::organizations::create(&mut conn, "Acme, \"Inc\"", now)
        .await
        .unwrap()
        .id;
    let evil = muster_store::organizations::create(&mut conn, "=Evil", now)
        .await
        .unwrap()
        .id;
    let uni = muster_store::organizations::create(&mut conn, "Zürich ✓", now)
        .await
        .unwrap()
        .id;
    drop(conn);
    // (first name, last name, organizations, roles, last login, enabled, status, login count)
    let awkward: Vec<Awkward> = vec![
        (
            "Comma, First",
            "Quote \"Last\"",
            vec![acme],
            vec!["User"],
            None,
            1,
            "active",
            0,
        ),
        (
            "Line\nBreak",
            "Carriage\rReturn",
            vec![main, acme, uni],
            vec!["User", "User Manager"],
            Some(1_700_000_000_120),
            1,
            "locked",
            3,
        ),
        (
            "=SUM(A1)",
            "+plus",
            vec![evil],
            vec!["Administrator", "User Manager", "User"],
            Some(1_700_000_000_000),
            0,
            "password_reset",
            7,
        ),
        ("-minus", "@at", vec![], vec![], None, 1, "active", 0),
        (
            "\ttab",
            "\rcr",
            vec![evil, main],
            vec!["User"],
            Some(-1),
            0,
            "active",
            1,
        ),
        (
            "Ünïcødé",
            "日本語 ✓",
            vec![uni],
            vec!["User Manager"],
            Some(1),
            1,
            "active",
            2,
        ),
        ("", "\"", vec![main], vec![], Some(253_402_300_799_999), 1, "locked", 5),
        (
            "o'brien \\ back",
            "x,y\n\"z\"",
            vec![acme, evil],
            vec!["Administrator"],
            Some(1_000),
            1,
            "active",
            9,
        ),
    ];
    for (i, (first, last, orgs, roles, login, enabled, status, logins)) in awkward.into_iter().enumerate() {
        let name = format!("awk{i}");
        let u = app.create_user_in(&name, &["User"], &["Main"]).await;
        let mut conn = app.store().conn().await.unwrap();
        let roles: Vec<muster_domain::Role> = roles.iter().map(|r| muster_domain::Role::parse(r).unwrap()).collect();
        muster_store::users::set_roles(&mut conn, u.id, &roles).await.unwrap();
        muster_store::users::set_organizations(&mut conn, u.id, &orgs)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE users SET first_name = $1, last_name = $2, last_login_at = $3, \
             login_count = $4, email = $5, password_hash = $6, search_text = $7, created_at = $8 WHERE id = $9",
        )
        .bind(first)
        .bind(last)
        .bind(login)
        .bind(logins)
        .bind(format!("{first}@exa,mple.com"))
        .bind(if i % 2 == 0 {
            "=cmd|' /C calc'!A0"
        } else {
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
        })
        .bind(format!("{first} {last} {name}").to_lowercase())
        .bind(-86_400_000 * i64::try_from(i).unwrap() - 123)
        .bind(u.id)
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query("UPDATE user_status SET enabled = $1, auth_status = $2 WHERE user_id = $3")
            .bind(enabled)
            .bind(status)
            .bind(u.id)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    (main, acme)
}

/// The driver-native export writes the same bytes as the row-by-row one, for
/// every user and for a selection, all columns or a few; resumes from a
/// position; and stops when its hook says so.
async fn export_bytes_story(app: TestApp) {
    let (main, acme) = awkward_population(&app).await;
    let all = Column::ALL.to_vec();
    let few = vec![Column::Organizations, Column::Roles, Column::LastLoginAt];
    let one = vec![Column::LastLoginAt];
    let everyone = muster_domain::UserFilter::default();
    let selection = muster_domain::UserFilter {
        view: Some(muster_domain::View::Active),
        search: Some("o'b".to_owned()),
        exclude_ids: vec![2],
        ..Default::default()
    };
    let backslash = muster_domain::UserFilter {
        first_name_contains: Some("\\ b".to_owned()),
        ..Default::default()
    };
    let cases = [
        (Scope::System, &everyone, &all, 4509),
        (Scope::System, &everyone, &few, 4509),
        (Scope::System, &everyone, &one, 4509),
        (Scope::Organizations(vec![acme]), &everyone, &all, 3),
        (Scope::Organizations(vec![main, acme]), &selection, &all, 1),
        (Scope::System, &backslash, &all, 1),
        (Scope::Organizations(vec![]), &everyone, &all, 0),
    ];
    for (scope, filter, columns, rows) in cases {
        let old = old_path_bytes(&app, &scope, filter, columns, 0).await;
        let new = new_path_bytes(&app, &scope, filter, columns, 0).await;
        assert_eq!(
            String::from_utf8_lossy(&new),
            String::from_utf8_lossy(&old),
            "{scope:?} {filter:?} {columns:?}"
        );
        assert_eq!(parse_csv(&new).1.len(), rows, "{scope:?} {filter:?}");
    }
    // a single empty cell is written `""`, a never-signed-in user's last login
    assert!(
        new_path_bytes(&app, &Scope::System, &everyone, &one, 0)
            .await
            .windows(3)
            .any(|w| w == b"\"\"\n")
    );

    // resumed after a user, it holds exactly the rest
    let after = old_path_bytes(&app, &Scope::System, &everyone, &all, 0).await;
    let middle = parse_csv(&after).1[2222][0].parse::<i64>().unwrap();
    assert_eq!(
        new_path_bytes(&app, &Scope::System, &everyone, &all, middle).await,
        old_path_bytes(&app, &Scope::System, &everyone, &all, middle).await
    );

    // checkpoints: before every chunk, each at a row boundary of what is written; a `false` stops it
    let mut out = Vec::new();
    let mut hook = Hook {
        calls: 0,
        stop_after: Some(2),
        seen: Vec::new(),
    };
    let stopped = muster_server::user_csv::export::stream(
        app.store(),
        &Scope::System,
        &everyone,
        &all,
        &mut out,
        Position::default(),
        &mut hook,
    )
    .await
    .unwrap();
    assert_eq!(stopped, None);
    assert_eq!(hook.calls, 3);
    let cp = hook.seen[2];
    assert_eq!(cp.rows, 2 * muster_server::user_csv::export::CHUNK_ROWS);
    assert_eq!(cp.bytes, out.len() as u64);
    let head = header(&all).unwrap();
    let mut with_header = head.clone();
    with_header.extend(&out);
    let (_, rows) = parse_csv(&with_header);
    assert_eq!(rows.len() as i64, cp.rows);
    assert_eq!(rows.last().unwrap()[0].parse::<i64>().unwrap(), cp.after_id);
}

#[tokio::test]
async fn the_native_export_writes_the_bytes_of_the_row_by_row_one_sqlite() {
    export_bytes_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn the_native_export_writes_the_bytes_of_the_row_by_row_one_postgres() {
    export_bytes_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}
