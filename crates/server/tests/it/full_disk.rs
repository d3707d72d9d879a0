//! SQLite, a full disk: an export fails its job with the reason and leaves no
//! partial file; an import onto a full database disk fails with the reason; in
//! both cases the database stays intact and muster goes on answering. The disk
//! is a small tmpfs (mounting one needs root, as the tests run in CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use muster_domain::permission::perm;
use muster_server::services::{self, Ctx};
use muster_store::jobs::Status;

use crate::csv_support::{job, seed_bulk};
use crate::support::{ADMIN_PASSWORD, TestApp, TestDb};

/// A tmpfs of `size` mounted at `path` until dropped.
struct Tmpfs(PathBuf);

/// `mount ARGS PATH`, which needs root.
fn mount(args: &[&str], path: &Path) {
    let out = Command::new("mount").args(args).arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "mount {args:?} (needs root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        mount(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"], path);
        Tmpfs(path.to_path_buf())
    }

    /// Give the disk more room, the files on it kept (space freed while muster runs).
    fn grow(&self, size: &str) {
        mount(&["-o", &format!("remount,size={size}")], &self.0);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn integrity(app: &TestApp) -> String {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

async fn user_count(app: &TestApp) -> i64 {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_export_onto_a_full_disk_fails_with_the_reason_and_leaves_nothing() {
    let app = TestApp::spawn().await;
    let main = app.system_actor().await.organization_ids[0];
    seed_bulk(app.store(), 3000, main).await;
    let before = user_count(&app).await;
    // about 450 kB of CSV onto 64 kB
    let _disk = Tmpfs::mount(&muster_server::services::exports::dir(&app.data_dir()), "64k");

    let actor = services::auth::actor_for(&mut app.store().conn().await.unwrap(), &app.user_by_name("admin").await)
        .await
        .unwrap();
    let grant = actor.allow::<perm::ExportUsers>().unwrap();
    let export = services::exports::request_export(app.store(), &grant, &Default::default(), Default::default())
        .await
        .unwrap();
    let id = export.job.id;
    assert_eq!(
        muster_server::jobs::run_until_idle(&app.state, "full-disk-test")
            .await
            .unwrap(),
        1
    );

    let j = job(&app, id).await;
    assert_eq!(j.status, Status::Failed);
    let why = j.error.unwrap_or_default();
    assert!(why.contains("No space left on device"), "the reason is named: {why}");
    assert!(!muster_server::jobs::export_users::partial_path(&app.data_dir(), id).exists());
    assert!(
        !app.data_dir()
            .join(muster_server::jobs::export_users::result_name(id))
            .exists()
    );

    assert_eq!(integrity(&app).await, "ok");
    assert_eq!(user_count(&app).await, before);
    app.signed_in("admin", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn an_import_onto_a_full_database_disk_fails_with_the_reason() {
    let db = TestDb::sqlite();
    // the database itself on 2 MB: room for the schema (21 migrations) and the administrator,
    // not for 20,000 users
    let disk = Tmpfs::mount(db.dir.path(), "2m");
    let app = TestApp::spawn_on(db).await;
    let before = user_count(&app).await;
    let mut csv = String::from("username,email,first_name,last_name,roles,organizations\n");
    for i in 0..20_000 {
        csv.push_str(&format!(
            "filler{i},filler{i}@example.com,Filler Firstname {i},Filler Lastname {i},User,Main\n"
        ));
    }
    let actor = app.system_actor().await;
    let grant = actor.allow::<perm::ImportUsers>().unwrap();
    let result = services::imports::import_users(
        app.store(),
        &grant,
        &Ctx::cli(),
        std::io::Cursor::new(csv.into_bytes()),
        false,
        &mut |_| {},
    )
    .await;
    let err = result.expect_err("the import cannot fit");
    let why = err.to_string();
    assert!(why.contains("full"), "the reason is named: {why}");

    assert_eq!(integrity(&app).await, "ok");
    let after = user_count(&app).await;
    eprintln!("users before {before}, after the failed import {after}");

    // muster goes on: on the disk as the import left it, a sign-in (which writes) either
    // finds room or answers 503 with the reason, never a 500; how much room is left
    // depends on where the import's last batch stopped
    let c = app.client();
    let r = c.login("admin", ADMIN_PASSWORD).await;
    let status = r.status().as_u16();
    eprintln!("a sign-in on the disk the import left: {status}");
    if status != 303 {
        assert_eq!(status, 503);
        assert!(r.text().await.unwrap().contains("Out of disk space"));
    }
    // and once space is freed, without a restart, it signs in
    disk.grow("8m");
    app.signed_in("admin", ADMIN_PASSWORD).await;
}

/// The database's disk fills up while muster runs: a sign-in (it writes its
/// attempt and its session) and an API change answer 503 with the reason,
/// not 500, change nothing, and work again once space is freed.
#[tokio::test]
async fn a_full_database_disk_answers_503_with_the_reason_until_space_is_freed() {
    let db = TestDb::sqlite();
    let disk = Tmpfs::mount(db.dir.path(), "2m");
    let app = TestApp::spawn_on(db).await;
    let admin = app.user_by_name("admin").await;
    let key = crate::api_client::key_for(&app, admin.id, None).await;
    let api = crate::api_client::Api::new(&app, Some(&key));
    let someone = app.create_user("filler-victim", &["User"]).await;

    // an empty WAL, so the next write must grow it; then fill what is left of the disk
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let filler = disk.0.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![7u8; 64 * 1024];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    let _ = std::io::Write::write_all(&mut file, &[7u8; 512]);
    let _ = file.sync_all();

    let c = app.client();
    let resp = c.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), 503, "a sign-in on a full disk");
    let page = resp.text().await.unwrap();
    assert!(page.contains("disk is full"), "{page}");
    let r = api.post_empty(&format!("/api/users/{}/disable", someone.id)).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "disk_full", "{}", r.text);
    assert!(r.detail().contains("disk is full"), "{}", r.text);

    drop(file);
    std::fs::remove_file(&filler).unwrap();
    assert!(app.user(someone.id).await.enabled, "nothing was changed");
    assert_eq!(integrity(&app).await, "ok");
    app.signed_in("admin", ADMIN_PASSWORD).await;
    let r = api.post_empty(&format!("/api/users/{}/disable", someone.id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
