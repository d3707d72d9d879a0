//! Test fixtures: databases (SQLite always, PostgreSQL from
//! `MUSTER_TEST_DATABASE_URL`), the server on 127.0.0.1:0, a cookie-keeping
//! HTTP client, and headless Chromium through chromedriver.
#![allow(dead_code)]

pub mod pg_cluster;
pub mod roles;
pub mod serve_process;
pub mod webdriver;

use std::net::SocketAddr;
use std::path::PathBuf;

use muster_domain::permission::perm;
use muster_domain::{Actor, Role};
use muster_server::app::AppState;
use muster_server::config::{Config, ConfigArgs};
use muster_server::services::{self, Ctx};
use muster_store::Store;
use muster_store::users::User;

pub const ADMIN_PASSWORD: &str = "Admin-Test-Password-42";
pub const PASSWORD: &str = "Plum-Harbor-Telescope-88";

/// A database for one test: a fresh SQLite file, or a fresh PostgreSQL database.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("muster.db").display());
        TestDb {
            url,
            dir,
            pg_admin: None,
        }
    }

    /// A new database on the server of `MUSTER_TEST_DATABASE_URL`. Without it the test fails:
    /// a PostgreSQL test never passes by not running.
    pub async fn postgres() -> TestDb {
        let base = std::env::var("MUSTER_TEST_DATABASE_URL")
            .expect("MUSTER_TEST_DATABASE_URL is not set: PostgreSQL tests need it (scripts/test sets it)");
        sqlx::any::install_default_drivers();
        let name = format!(
            "muster_t_{}",
            muster_server::crypto::random_token(9)
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
            .await
            .expect("connect to MUSTER_TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let mut url = url::Url::parse(&base).expect("database url");
        url.set_path(&format!("/{name}"));
        TestDb {
            url: url.to_string(),
            dir: tempfile::tempdir().expect("tempdir"),
            pg_admin: Some((base, name)),
        }
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, 8).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, name)) = self.pg_admin.take() {
            // best effort, on a thread of its own: Drop cannot await
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                if let Ok(rt) = rt {
                    rt.block_on(async move {
                        if let Ok(mut c) = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .execute(&mut c)
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// The server, running in this process on 127.0.0.1:0.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub state: AppState,
    pub db: TestDb,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_on(TestDb::sqlite()).await
    }

    pub async fn spawn_on(db: TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    /// Spawn with a hook to adjust the configuration (SMTP URL, public URL…).
    pub async fn spawn_with(db: TestDb, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_test_writer()
            .try_init();
        let store = db.store().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = Config::resolve(&ConfigArgs {
            config: None,
            bind: Some(addr.to_string()),
            database_url: Some(db.url.clone()),
            data_dir: Some(db.dir.path().to_path_buf()),
            ..Default::default()
        })
        .expect("config");
        adjust(&mut config);
        let state = AppState::new(store, config).await.expect("state");
        services::bootstrap::ensure_admin(&state.store, &state.hasher, Some(ADMIN_PASSWORD.to_owned()))
            .await
            .expect("bootstrap");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let run_state = state.clone();
        tokio::spawn(async move {
            let _ = muster_server::app::run(listener, run_state, async {
                let _ = rx.await;
            })
            .await;
        });
        TestApp {
            addr,
            base: format!("http://{addr}"),
            state,
            db,
            shutdown: Some(tx),
        }
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn data_dir(&self) -> PathBuf {
        self.db.dir.path().to_path_buf()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An actor with every right in every organization, to set up fixtures.
    pub async fn system_actor(&self) -> Actor {
        let mut conn = self.store().conn().await.expect("conn");
        let orgs = muster_store::organizations::list(&mut conn).await.expect("orgs");
        Actor {
            user_id: 0,
            username: "test".into(),
            roles: vec![Role::Administrator],
            organization_ids: orgs.iter().map(|o| o.id).collect(),
        }
    }

    /// Create a user in organization Main with password [`PASSWORD`].
    pub async fn create_user(&self, username: &str, roles: &[&str]) -> User {
        self.create_user_in(username, roles, &["Main"]).await
    }

    pub async fn create_user_in(&self, username: &str, roles: &[&str], orgs: &[&str]) -> User {
        let actor = self.system_actor().await;
        let grant = actor.allow::<perm::CreateUsers>().expect("grant");
        let input = services::users::UserInput {
            username: username.into(),
            email: format!("{username}@example.com"),
            first_name: format!("First{username}"),
            last_name: format!("Last{username}"),
            password: Some(PASSWORD.into()),
            enabled: true,
            roles: roles.iter().map(|s| s.to_string()).collect(),
            organizations: orgs.iter().map(|s| s.to_string()).collect(),
        };
        services::users::create(self.store(), &self.state.hasher, &grant, &Ctx::cli(), &input)
            .await
            .expect("create user")
    }

    pub async fn create_org(&self, name: &str) -> i64 {
        let mut conn = self.store().conn().await.expect("conn");
        muster_store::organizations::create(&mut conn, name, muster_server::clock::now())
            .await
            .expect("org")
            .id
    }

    pub async fn user(&self, id: i64) -> User {
        let mut conn = self.store().conn().await.expect("conn");
        muster_store::users::get(&mut conn, id)
            .await
            .expect("get")
            .expect("user exists")
    }

    pub async fn user_by_name(&self, username: &str) -> User {
        let mut conn = self.store().conn().await.expect("conn");
        muster_store::users::find_by_username(&mut conn, username)
            .await
            .expect("find")
            .expect("user exists")
    }

    /// A browser-like client (cookies kept, redirects not followed).
    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// A client signed in as `username`.
    pub async fn signed_in(&self, username: &str, password: &str) -> Client {
        let c = self.client();
        let resp = c.login(username, password).await;
        assert_eq!(resp.status(), 303, "sign-in of {username} should succeed");
        c
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // before `db` drops the database under them
        self.state.shut_down();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("GET")
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    /// The CSRF token of the page at `path`.
    pub async fn csrf(&self, path: &str) -> String {
        let html = self.get_text(path).await;
        csrf_in(&html).unwrap_or_else(|| panic!("no csrf token on {path}"))
    }

    /// POST a form as is (no token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{}", self.base, path))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// POST a form with the CSRF token taken from the page at `token_from`.
    pub async fn post(&self, token_from: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf(token_from).await;
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &token));
        self.post_raw(path, &fields).await
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.post("/login", "/login", &[("username", username), ("password", password)])
            .await
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}
