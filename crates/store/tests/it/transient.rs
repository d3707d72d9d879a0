//! A job step that meets a passing database trouble (SQLite's writer held by
//! another, a connection lost) is given back and claimed again from its
//! checkpoint, instead of failing for good: the error says which is which,
//! and `jobs::release` queues the job again.

use muster_store::{Error, Store, jobs};

use crate::db;

/// Every pooled SQLite connection waits for the writer in muster's busy handler
/// (store/src/sqlite_busy.rs), which gives up after its limit with a transient
/// error and lets a waiter in as soon as the holder commits.
#[tokio::test]
async fn sqlite_connections_poll_for_the_writer_and_give_up_at_their_limit() {
    let db = db::sqlite().await;
    let store = &db.store;
    let mut holder = store.conn().await.unwrap();
    let mut waiter = store.conn().await.unwrap();
    // sqlite3_busy_handler replaces the built-in timeout, which then reads 0
    let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *waiter)
        .await
        .unwrap();
    assert_eq!(timeout, 0, "the pool's connections have muster's busy handler");

    sqlx::query("BEGIN IMMEDIATE").execute(&mut *holder).await.unwrap();
    let limit: i64 = sqlx::query_scalar("SELECT muster_poll_busy(100)")
        .fetch_one(&mut *waiter)
        .await
        .unwrap();
    assert_eq!(limit, 100);
    let busy = jobs::enqueue(&mut waiter, "export_users", "{}", None, 1)
        .await
        .expect_err("the writer is held for longer than the waiter's limit");
    assert!(busy.is_transient(), "{busy:?}");

    sqlx::query("SELECT muster_poll_busy(10000)")
        .execute(&mut *waiter)
        .await
        .unwrap();
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sqlx::query("COMMIT").execute(&mut *holder).await.unwrap();
    };
    let (_, queued) = tokio::join!(release, jobs::enqueue(&mut waiter, "export_users", "{}", None, 1));
    queued.expect("the waiter writes once the holder commits");
}

#[tokio::test]
async fn a_busy_sqlite_writer_is_transient_and_a_refusal_is_not() {
    let db = db::sqlite().await;
    let store = &db.store;
    let mut holder = store.conn().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *holder).await.unwrap();
    let mut waiter = store.conn().await.unwrap();
    sqlx::query("PRAGMA busy_timeout = 0")
        .execute(&mut *waiter)
        .await
        .unwrap();
    let busy = jobs::enqueue(&mut waiter, "export_users", "{}", None, 1)
        .await
        .expect_err("the writer is held by another connection");
    assert!(busy.is_transient(), "{busy:?}");
    sqlx::query("ROLLBACK").execute(&mut *holder).await.unwrap();
    sqlx::query("SELECT muster_poll_busy(10000)")
        .execute(&mut *waiter)
        .await
        .unwrap();

    let refused = Error::Domain(muster_domain::Error::Refused("no".into()));
    assert!(!refused.is_transient());
    let missing = sqlx::query("SELECT * FROM no_such_table")
        .execute(&mut *waiter)
        .await
        .map_err(Error::from)
        .expect_err("no such table");
    assert!(!missing.is_transient(), "{missing:?}");
}

async fn released_job_is_claimed_again_from_its_checkpoint(store: &Store) {
    let kinds = ["export_users"];
    let id = jobs::enqueue(&mut store.conn().await.unwrap(), "export_users", "{}", None, 1_000)
        .await
        .unwrap();
    let job = jobs::claim(store, &kinds, "w1", 1_000, 61_000).await.unwrap().unwrap();
    assert_eq!((job.id, job.attempts), (id, 1));
    let mut conn = store.conn().await.unwrap();
    assert!(
        jobs::renew(&mut conn, id, "w1", 62_000, 500, Some("{\"rows\":500}"))
            .await
            .unwrap()
    );
    // another worker's release changes nothing
    assert!(!jobs::release(&mut conn, id, "w2", 3_000, "busy").await.unwrap());
    assert!(
        jobs::release(&mut conn, id, "w1", 3_000, "paused by a database error")
            .await
            .unwrap()
    );
    drop(conn);
    assert!(
        jobs::claim(store, &kinds, "w2", 2_999, 62_999).await.unwrap().is_none(),
        "not before its time"
    );
    let again = jobs::claim(store, &kinds, "w2", 3_000, 63_000).await.unwrap().unwrap();
    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.processed, 500);
    assert_eq!(again.checkpoint.as_deref(), Some("{\"rows\":500}"));
    assert_eq!(again.lease_owner.as_deref(), Some("w2"));
}

#[tokio::test]
async fn a_released_job_is_claimed_again_from_its_checkpoint_sqlite() {
    let db = db::sqlite().await;
    released_job_is_claimed_again_from_its_checkpoint(&db.store).await;
}

#[tokio::test]
async fn a_released_job_is_claimed_again_from_its_checkpoint_postgres() {
    let db = db::postgres().await;
    released_job_is_claimed_again_from_its_checkpoint(&db.store).await;
    db.drop_pg().await;
}
