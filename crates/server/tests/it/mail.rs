//! Mail against a real SMTP server (python3-aiosmtpd): the content of each
//! kind of mail, a server that is down at first, a muster process killed
//! between commit and delivery, and `muster send-test-email`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use muster_server::config::SecretUrl;
use muster_store::outbox;

use crate::mailbox::{SmtpCapture, free_port, header, reset_link, start_worker, to, unfold};
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, TestDb};

async fn rows(app: &TestApp) -> Vec<outbox::Mail> {
    let mut conn = app.store().conn().await.unwrap();
    outbox::list(&mut conn, &[], 1000).await.unwrap()
}

async fn set(app: &TestApp, key: &str, value: &str) {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::settings::put(&mut conn, key, value, 0).await.unwrap();
}

fn assert_well_formed(msg: &str, subject: &str) {
    assert_eq!(
        header(msg, "From").as_deref(),
        Some("muster <muster@localhost>"),
        "{msg}"
    );
    assert_eq!(header(msg, "Subject").as_deref(), Some(subject));
    let id = header(msg, "Message-ID").expect("Message-ID");
    assert!(id.starts_with('<') && id.ends_with("@localhost>"), "{id}");
    assert!(header(msg, "Date").is_some());
    assert!(msg.contains("multipart/alternative"));
    assert!(msg.contains("Content-Type: text/plain"));
    assert!(msg.contains("Content-Type: text/html"));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_mail_arrives_over_smtp_with_text_html_and_message_id() {
    let smtp = SmtpCapture::start().await;
    let url = smtp.url();
    let app = TestApp::spawn_with(TestDb::sqlite(), |c| c.smtp_url = Some(SecretUrl::new(url))).await;
    set(&app, "failed_login_limit", "2").await;
    start_worker(&app);
    let changed = app.create_user("changed", &["User"]).await;
    let reset = app.create_user("reset", &["User"]).await;
    app.create_user("forgot", &["User"]).await;
    app.create_user("locked", &["User"]).await;

    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let p = format!("/admin/users/{}/password", changed.id);
    assert_eq!(
        admin
            .post(&p, &p, &[("password", "Quartz-Meadow-Lantern-731")])
            .await
            .status(),
        303
    );
    let r = format!("/admin/users/{}/reset-password", reset.id);
    assert_eq!(admin.post("/profile", &r, &[]).await.status(), 303);
    let anon = app.client();
    anon.post(
        "/forgot-password",
        "/forgot-password",
        &[("login", "forgot@example.com")],
    )
    .await;
    for _ in 0..2 {
        anon.login("locked", "wrong password!").await;
    }

    let msgs = smtp.wait_for(4).await;
    let m = &to(&msgs, "changed@example.com")[0];
    assert_well_formed(m, "Your muster password was changed");
    assert!(unfold(m).contains("was changed by the administrator admin"));

    let m = &to(&msgs, "reset@example.com")[0];
    assert_well_formed(m, "Reset your muster password");
    let link = reset_link(m).expect("link");
    assert!(link.starts_with(&format!("{}/reset-password?token=", app.base)));
    assert!(unfold(m).contains("An administrator reset the password"));
    assert!(
        unfold(m).contains(&format!("<a href=\"{link}\">")),
        "the HTML part links too"
    );
    assert_eq!(app.client().get(link.trim_start_matches(&app.base)).await.status(), 200);

    let m = &to(&msgs, "forgot@example.com")[0];
    assert_well_formed(m, "Reset your muster password");
    assert!(unfold(m).contains("If you did not ask for this, ignore this message"));
    assert!(reset_link(m).is_some());

    let m = &to(&msgs, "locked@example.com")[0];
    assert_well_formed(m, "Your muster account was locked");
    assert!(unfold(m).contains("after 2 failed sign-in attempts"));

    // every mail delivered, no body left in the database
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = rows(&app).await;
        if all.iter().all(|m| m.status == "sent") {
            assert!(all.iter().all(|m| m.text_body.is_none() && m.html_body.is_none()));
            break;
        }
        assert!(Instant::now() < deadline, "not all marked sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_down_at_first_and_up_later_still_receives_the_mail() {
    let port = free_port();
    let app = TestApp::spawn_with(TestDb::sqlite(), |c| {
        c.smtp_url = Some(SecretUrl::new(format!("smtp://127.0.0.1:{port}")));
    })
    .await;
    set(&app, "mail_retry_base_seconds", "1").await;
    start_worker(&app);
    app.create_user("jdoe", &["User"]).await;
    app.client()
        .post("/forgot-password", "/forgot-password", &[("login", "jdoe")])
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = rows(&app).await;
        if r.first().is_some_and(|m| m.attempts >= 1) {
            assert_eq!(r[0].status, "pending");
            assert!(r[0].last_error.is_some());
            assert!(r[0].text_body.is_some(), "kept until delivered");
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempt was recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let smtp = SmtpCapture::start_on(port).await;
    let msgs = smtp.wait_for(1).await;
    assert!(reset_link(&to(&msgs, "jdoe@example.com")[0]).is_some());
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows(&app).await[0].status != "sent" {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rows(&app).await[0].text_body.is_none());
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &TestDb, smtp_url: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
            "--smtp-url",
            smtp_url,
        ])
        .arg("--data-dir")
        .arg(db.dir.path())
        .env("MUSTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MUSTER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start muster serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("muster serve exited before listening")
            .expect("read");
        if let Some(rest) = line.strip_prefix("muster listening on ") {
            break rest.trim().to_owned();
        }
    };
    Server { child, base }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_killed_between_commit_and_delivery_delivers_after_restart() {
    let db = TestDb::sqlite();
    let port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let first = serve(&db, &smtp_url);
    let app = TestApp::spawn_on(db).await; // no worker in this process: only the store is used
    set(&app, "mail_retry_base_seconds", "1").await;
    app.create_user("jdoe", &["User"]).await;

    // the mail is committed by the first process, which cannot deliver it (SMTP down)
    let token = "restart-test-token-restart-test-token-xyz1";
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/forgot-password", first.base))
        .header("cookie", format!("muster_csrf={token}"))
        .form(&[("login", "jdoe"), ("csrf", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while rows(&app).await.first().is_none_or(|m| m.attempts < 1) {
        assert!(Instant::now() < deadline, "the first process made no attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(first); // SIGKILL: no shutdown, no flush
    let pending = rows(&app).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, "pending");
    assert!(pending[0].text_body.is_some());

    let smtp = SmtpCapture::start_on(port).await;
    let second = serve(&app.db, &smtp_url);
    let msgs = smtp.wait_for(1).await;
    assert_eq!(msgs.len(), 1);
    assert!(reset_link(&to(&msgs, "jdoe@example.com")[0]).is_some());
    drop(second);
    let _ = PASSWORD;
}

fn send_test_email(db: &TestDb, smtp: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_muster"));
    cmd.args(["send-test-email", "--to", "ops@example.com", "--database-url", &db.url])
        .arg("--data-dir")
        .arg(db.dir.path())
        .env("MUSTER_LOG", "error");
    if let Some(s) = smtp {
        cmd.args(["--smtp-url", s]);
    }
    cmd.output().expect("run muster send-test-email")
}

#[tokio::test(flavor = "multi_thread")]
async fn send_test_email_through_the_spool_and_smtp_and_reports_failure() {
    let db = TestDb::sqlite();
    let out = send_test_email(&db, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("test email sent to ops@example.com"));
    let spooled: Vec<_> = std::fs::read_dir(db.dir.path().join("mail"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
        .collect();
    assert_eq!(spooled.len(), 1);
    let eml = std::fs::read_to_string(spooled[0].path()).unwrap();
    assert_well_formed(&eml, "muster test email");

    let smtp = SmtpCapture::start().await;
    let out = send_test_email(&db, Some(&smtp.url()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let msgs = smtp.wait_for(1).await;
    assert_well_formed(&msgs[0], "muster test email");

    let down = format!("smtp://user:hunter2@127.0.0.1:{}", free_port());
    let out = send_test_email(&db, Some(&down));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was not delivered"), "{err}");
    assert!(!err.contains("hunter2"), "the SMTP password must not be printed: {err}");
}

/// Two workers on one PostgreSQL database (as two `muster serve` would run):
/// SKIP LOCKED hands each mail to one of them; none is sent twice.
#[tokio::test(flavor = "multi_thread")]
async fn two_workers_on_postgres_deliver_each_mail_once() {
    let smtp = SmtpCapture::start().await;
    let url = smtp.url();
    let app = TestApp::spawn_with(TestDb::postgres().await, |c| c.smtp_url = Some(SecretUrl::new(url))).await;
    let mut tx = app.store().begin().await.unwrap();
    for i in 0..40 {
        let m = muster_server::mail::messages::test_email(&format!("u{i}@example.com"), "test");
        muster_server::mail::queue(&mut tx, m, muster_server::clock::now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    start_worker(&app);
    start_worker(&app);
    smtp.wait_for(40).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while rows(&app).await.iter().any(|m| m.status != "sent") {
        assert!(Instant::now() < deadline, "not all marked sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 40, "each mail delivered exactly once");
    let mut recipients: Vec<_> = msgs.iter().filter_map(|m| header(m, "To")).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 40);
}

/// A private CA and a certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=muster test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

struct TlsSmtp {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for TlsSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsSmtp {
    /// aiosmtpd requiring STARTTLS and then AUTH as muster / "s3cret pass".
    fn start() -> TlsSmtp {
        let dir = tempfile::tempdir().unwrap();
        make_certs(dir.path());
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/smtp_tls_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path().join("box"))
            .arg(dir.path().join("cert.pem"))
            .arg(dir.path().join("key.pem"))
            .args(["muster", "s3cret pass"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the aiosmtpd TLS server (python3-aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the TLS SMTP server did not start");
        TlsSmtp { child, port, dir }
    }

    fn url(&self, credentials: &str, tls: &str) -> String {
        format!(
            "smtp://{credentials}@127.0.0.1:{}?{tls}ca={}",
            self.port,
            self.dir.path().join("ca.pem").display()
        )
    }

    fn messages(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path().join("box").join("new"))
            .map(|d| d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect())
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_with_authentication_and_the_refusals() {
    let server = TlsSmtp::start();
    let good = server.url("muster:s3cret%20pass", "tls=starttls&");
    let app = TestApp::spawn_with(TestDb::sqlite(), |c| c.smtp_url = Some(SecretUrl::new(good.clone()))).await;
    start_worker(&app);
    app.create_user("jdoe", &["User"]).await;
    app.client()
        .post("/forgot-password", "/forgot-password", &[("login", "jdoe")])
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.messages().is_empty() {
        let r = rows(&app).await;
        assert!(
            Instant::now() < deadline,
            "not delivered over STARTTLS: {:?}",
            r.first().map(|m| &m.last_error)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reset_link(&to(&server.messages(), "jdoe@example.com")[0]).is_some());

    // a wrong password, and no TLS at all, are both refused by the server
    let db = TestDb::sqlite();
    for url in [
        server.url("muster:wrong-hunter2", "tls=starttls&"),
        server.url("muster:s3cret%20pass", ""),
    ] {
        let out = send_test_email(&db, Some(&url));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url} should fail");
        assert!(err.contains("was not delivered"), "{err}");
        assert!(!err.contains("hunter2") && !err.contains("s3cret"), "{err}");
    }
    assert_eq!(server.messages().len(), 1);
}
