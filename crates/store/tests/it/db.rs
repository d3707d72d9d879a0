use muster_store::Store;

pub struct Db {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

pub async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    Db {
        store,
        _dir: Some(dir),
        pg: None,
    }
}

pub async fn postgres() -> Db {
    let base = std::env::var("MUSTER_TEST_DATABASE_URL")
        .expect("MUSTER_TEST_DATABASE_URL is not set: PostgreSQL stories need it (scripts/test sets it)");
    sqlx::any::install_default_drivers();
    let name = format!(
        "muster_s_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    );
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    let store = Store::connect(url.as_str(), 4).await.unwrap();
    store.migrate().await.unwrap();
    Db {
        store,
        _dir: None,
        pg: Some((base, name)),
    }
}

impl Db {
    pub async fn drop_pg(self) {
        let Db { store, pg, .. } = self;
        store.pool.close().await;
        if let Some((base, name)) = pg {
            let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await.unwrap();
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

/// Run one story on both databases.
#[macro_export]
macro_rules! both {
    ($story:ident) => {
        mod $story {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                let db = $crate::db::sqlite().await;
                super::$story(&db.store).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                let db = $crate::db::postgres().await;
                super::$story(&db.store).await;
                db.drop_pg().await;
            }
        }
    };
}
