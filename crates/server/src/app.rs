//! The application state and the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use muster_store::Store;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::hashing::Hasher;
use crate::services::auth::DummyHash;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub hasher: Hasher,
    pub dummy_hash: Arc<DummyHash>,
    /// Whether the database is reachable (`/readyz`, the 503 gate, the workers' waits).
    pub db_health: crate::db_health::DbHealth,
}

impl AppState {
    /// The parts a service that writes passwords or sends links works with.
    pub fn deps(&self) -> crate::services::Deps<'_> {
        crate::services::Deps {
            store: &self.store,
            hasher: &self.hasher,
            public_url: &self.config.public_url,
        }
    }

    /// Stop the background work: the workers and the health monitor end at
    /// their next step, quietly (their database may be about to go away).
    pub fn shut_down(&self) {
        self.store.close_now();
        self.db_health.stop();
    }

    pub async fn new(store: Store, config: Config) -> Result<Self, crate::error::AppError> {
        let hasher = Hasher::new();
        let mut conn = store.conn().await?;
        let params = crate::settings::Settings::load(&mut conn).await?.argon2();
        drop(conn);
        let dummy = hasher.hash(crate::crypto::random_token(24), params).await?;
        let db_health = crate::db_health::DbHealth::new(config.database_url.clone());
        Ok(AppState {
            db_health,
            store,
            config: Arc::new(config),
            hasher,
            dummy_hash: Arc::new(DummyHash(dummy)),
        })
    }
}

pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let health = state.db_health.clone();
    let app = crate::web::router(state.clone())
        .merge(crate::api::router())
        .merge(crate::web::assets::router())
        .merge(crate::metrics::router())
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(health, crate::db_health::gate))
        .layer(axum::middleware::from_fn(crate::metrics::track));
    crate::request_trace::apply(crate::security_headers::apply(app, &config))
}

/// Serve until `shutdown` resolves; requests in flight are allowed to finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _monitor = crate::db_health::AbortOnDrop(state.db_health.spawn_monitor());
    let app = router(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Ctrl-C or SIGTERM. The SIGTERM handler is installed when this is called,
/// not when it is first polled, so a signal that arrives right after start-up
/// already means a clean stop.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
    }
}
