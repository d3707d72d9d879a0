//! The SQLite pool gives idle connections back (their page caches and
//! statements with them), and a closed connection is reopened on demand.

use std::time::{Duration, Instant};

use crate::db;

#[tokio::test]
async fn idle_sqlite_connections_are_closed_and_reopened_on_demand() {
    let db = db::sqlite().await;
    let store = &db.store;
    muster_store::organizations::create(&mut store.conn().await.unwrap(), "Kept", 1)
        .await
        .unwrap();
    // hold several connections at once, as a burst of requests does
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(store.conn().await.unwrap());
    }
    assert!(store.pool.size() >= 3);
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.pool.size() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} idle connections still open long after the idle timeout",
            store.pool.size()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the data outlives the connections
    let mut conn = store.conn().await.unwrap();
    let kept = muster_store::organizations::find_by_name(&mut conn, "Kept")
        .await
        .unwrap();
    assert!(kept.is_some());
}
