//! Is the database reachable? One answer per process, kept fresh by a
//! monitor that pings every second on a connection of its own (not one of the
//! pool's, so a pool busy under load does not read as a database that went
//! away), and by every `/readyz`.
//!
//! While the database is away:
//! - `/readyz` answers 503 (within [`PING_TIMEOUT`] of the outage: it pings itself);
//! - every other page answers a plain "temporarily unavailable" page (503), every
//!   API call a JSON:API 503 error, at once instead of after the pool's
//!   acquire timeout ([`gate`]); `/healthz`, `/metrics` and `/static/` still answer;
//! - the job and mail workers wait for it to come back ([`DbHealth::wait_up`]).
//!
//! Nothing exits: when the database returns the monitor sees it within a
//! second and everything carries on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::Connection;
use tokio::sync::{Mutex, Notify};

use crate::app::AppState;
use crate::config::SecretUrl;

/// How long a ping (or a reconnect) may take before the database counts as away.
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the monitor pings.
pub const MONITOR_EVERY: Duration = Duration::from_secs(1);
/// What a 503 asks the client to wait, in seconds.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The shared answer, and the connection the checks run on.
#[derive(Clone)]
pub struct DbHealth {
    inner: Arc<Inner>,
}

struct Inner {
    url: SecretUrl,
    up: AtomicBool,
    /// Set by [`DbHealth::stop`]: the monitor ends, and an outage is not reported.
    stopped: AtomicBool,
    back: Notify,
    conn: Mutex<Option<sqlx::AnyConnection>>,
}

impl DbHealth {
    /// Up until a check says otherwise: the process has just connected.
    pub fn new(url: SecretUrl) -> Self {
        sqlx::any::install_default_drivers();
        DbHealth {
            inner: Arc::new(Inner {
                url,
                up: AtomicBool::new(true),
                stopped: AtomicBool::new(false),
                back: Notify::new(),
                conn: Mutex::new(None),
            }),
        }
    }

    /// The last answer, without waiting.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
    }

    /// The process is shutting down (or a test drops its database): stop checking.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Release);
    }

    fn set(&self, up: bool) {
        if self.inner.stopped.load(Ordering::Acquire) {
            return;
        }
        let was = self.inner.up.swap(up, Ordering::AcqRel);
        if was != up {
            if up {
                tracing::warn!("the database is reachable again");
                self.inner.back.notify_waiters();
            } else {
                tracing::error!("the database is unreachable: pages and the API answer 503 until it returns");
            }
        }
    }

    /// Ping now (reconnecting first when needed), at most [`PING_TIMEOUT`], and record the answer.
    pub async fn check(&self) -> bool {
        let up = tokio::time::timeout(PING_TIMEOUT, self.ping()).await.unwrap_or(false);
        self.set(up);
        up
    }

    async fn ping(&self) -> bool {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = slot.as_mut() {
            if conn.ping().await.is_ok() {
                return true;
            }
            *slot = None;
        }
        match sqlx::AnyConnection::connect(self.inner.url.expose()).await {
            Ok(mut conn) => {
                let ok = conn.ping().await.is_ok();
                if ok {
                    *slot = Some(conn);
                }
                ok
            }
            Err(_) => false,
        }
    }

    /// Return when the database is up again, or after `at_most`.
    pub async fn wait_up(&self, at_most: Duration) {
        let back = self.inner.back.notified();
        if self.is_up() {
            return;
        }
        let _ = tokio::time::timeout(at_most, back).await;
    }

    /// Check every [`MONITOR_EVERY`] until the returned task is aborted.
    pub fn spawn_monitor(&self) -> tokio::task::JoinHandle<()> {
        let health = self.clone();
        tokio::spawn(async move {
            while !health.inner.stopped.load(Ordering::Acquire) {
                health.check().await;
                tokio::time::sleep(MONITOR_EVERY).await;
            }
        })
    }
}

/// Aborts a task when dropped (the monitor lives as long as the server).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Paths that answer whether or not the database is there.
fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/static/")
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The answer while the database is away: a JSON:API error under `/api`, a plain page elsewhere.
pub fn unavailable(path: &str) -> Response {
    let mut resp = if is_api(path) {
        crate::api::error::ApiError::from(crate::error::AppError::Unavailable).into_response()
    } else {
        crate::web::error::unavailable_page()
    };
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    resp
}

/// The middleware: answer 503 at once while the database is known to be away.
pub async fn gate(State(health): State<DbHealth>, req: Request, next: Next) -> Response {
    if !health.is_up() && !exempt(req.uri().path()) {
        return unavailable(req.uri().path());
    }
    next.run(req).await
}

/// `/readyz`: 200 while the database answers a ping, 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.db_health.check().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}

/// Whether a database error means "the database is not there" (as opposed to a wrong query).
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL: class 08 (connection exception), 57P01..57P03 (admin shutdown, crash shutdown, cannot connect now)
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_paths_are_exempt() {
        assert!(exempt("/readyz"));
        assert!(exempt("/static/app.css"));
        assert!(!exempt("/admin/users"));
        assert!(!exempt("/api/users"));
        assert!(is_api("/api/users"));
        assert!(!is_api("/apiary"));
    }

    #[test]
    fn unreachable_errors() {
        assert!(is_unreachable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unreachable(&sqlx::Error::RowNotFound));
    }

    #[tokio::test]
    async fn a_missing_database_is_down_and_waiting_ends() {
        let h = DbHealth::new(SecretUrl::new("postgres://nobody@127.0.0.1:1/none"));
        assert!(h.is_up());
        assert!(!h.check().await);
        assert!(!h.is_up());
        let started = std::time::Instant::now();
        h.wait_up(Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
