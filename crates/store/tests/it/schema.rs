//! The SQLite and PostgreSQL migrations must not drift: after both have run,
//! the same tables hold the same columns and the same named indexes exist,
//! but for the objects one backend has for a reason of its own (listed here,
//! each with that reason). What triggers do is checked by the stories, which
//! run on both databases.

use std::collections::{BTreeMap, BTreeSet};

use muster_store::Store;
use sqlx::Row;

/// Tables only SQLite has: the FTS5 trigram index of the search and its shadow tables
/// (PostgreSQL searches `user_search` with a `pg_trgm` GIN index instead), and the
/// flag a mass enable/disable sets while its per-row counter triggers stand aside
/// (PostgreSQL's are per statement, migration 0021).
const SQLITE_ONLY_TABLES: &[&str] = &[
    "counter_bypass",
    "users_fts",
    "users_fts_config",
    "users_fts_data",
    "users_fts_docsize",
    "users_fts_idx",
];

/// Tables only PostgreSQL has: the search's narrow table (migration 0020), which
/// the FTS5 table stands for on SQLite (it holds the text and the index in one).
const POSTGRES_ONLY_TABLES: &[&str] = &["user_search"];

/// Indexes only PostgreSQL has: the trigram index the FTS5 table stands for on SQLite.
const POSTGRES_ONLY_INDEXES: &[&str] = &["user_search_trgm"];

#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, BTreeSet<String>>,
    indexes: BTreeSet<String>,
}

async fn strings(store: &Store, sql: &str, bind: Option<&str>) -> Vec<String> {
    let mut conn = store.conn().await.unwrap();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    if let Some(b) = bind {
        q = q.bind(b.to_owned());
    }
    q.fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

async fn sqlite_schema(store: &Store) -> Schema {
    let mut s = Schema::default();
    let tables = strings(
        store,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
        None,
    )
    .await;
    // the exceptions must exist, or the list has gone stale
    for only in SQLITE_ONLY_TABLES {
        assert!(
            tables.iter().any(|t| t == only),
            "{only} is listed as SQLite's own but does not exist"
        );
    }
    for t in tables.into_iter().filter(|t| !SQLITE_ONLY_TABLES.contains(&t.as_str())) {
        let cols = strings(store, "SELECT name FROM pragma_table_info($1)", Some(&t)).await;
        s.tables.insert(t, cols.into_iter().collect());
    }
    s.indexes = strings(
        store,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'",
        None,
    )
    .await
    .into_iter()
    .collect();
    s
}

async fn postgres_schema(store: &Store) -> Schema {
    let mut s = Schema::default();
    let tables = strings(
        store,
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
        None,
    )
    .await;
    for only in POSTGRES_ONLY_TABLES {
        assert!(
            tables.iter().any(|t| t == only),
            "{only} is listed as PostgreSQL's own but does not exist"
        );
    }
    for t in tables
        .into_iter()
        .filter(|t| !POSTGRES_ONLY_TABLES.contains(&t.as_str()))
    {
        let cols = strings(
            store,
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
            Some(&t),
        )
        .await;
        s.tables.insert(t, cols.into_iter().collect());
    }
    // primary keys and UNIQUE constraints are indexes PostgreSQL names itself (SQLite's autoindexes)
    let indexes = strings(
        store,
        "SELECT i.indexname::text FROM pg_indexes i WHERE i.schemaname = 'public' AND NOT EXISTS \
         (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p', 'u'))",
        None,
    )
    .await;
    for only in POSTGRES_ONLY_INDEXES {
        assert!(
            indexes.iter().any(|i| i == only),
            "{only} is listed as PostgreSQL's own but does not exist"
        );
    }
    s.indexes = indexes
        .into_iter()
        .filter(|i| !POSTGRES_ONLY_INDEXES.contains(&i.as_str()))
        .collect();
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn both_migrations_make_the_same_schema() {
    let lite = crate::db::sqlite().await;
    let pg = crate::db::postgres().await;
    let a = sqlite_schema(&lite.store).await;
    let b = postgres_schema(&pg.store).await;
    pg.drop_pg().await;
    let mut diffs = Vec::new();
    let names: BTreeSet<&String> = a.tables.keys().chain(b.tables.keys()).collect();
    for t in names {
        match (a.tables.get(t), b.tables.get(t)) {
            (Some(x), Some(y)) if x != y => diffs.push(format!(
                "table {t}: only on SQLite {:?}, only on PostgreSQL {:?}",
                x.difference(y).collect::<Vec<_>>(),
                y.difference(x).collect::<Vec<_>>()
            )),
            (Some(_), None) => diffs.push(format!("table {t} only on SQLite")),
            (None, Some(_)) => diffs.push(format!("table {t} only on PostgreSQL")),
            _ => {}
        }
    }
    for i in a.indexes.difference(&b.indexes) {
        diffs.push(format!("index {i} only on SQLite"));
    }
    for i in b.indexes.difference(&a.indexes) {
        diffs.push(format!("index {i} only on PostgreSQL"));
    }
    assert!(!a.tables.is_empty() && !a.indexes.is_empty());
    assert!(diffs.is_empty(), "the migrations drifted:\n{}", diffs.join("\n"));
}
