//! `GET /metrics`: what an operator watches, in the OpenMetrics text format
//! (which Prometheus scrapes), encoded by the `prometheus-client` crate.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `muster_http_requests_total` | counter | `method`, `route` (the route template, `/admin/users/{id}`), `status` |
//! | `muster_http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `muster_sign_ins_total` | counter | `source` (web, api), `outcome` (success, wrong_password, wrong_code, refused, unknown_user, throttled) |
//! | `muster_lockouts_total` | counter | |
//! | `muster_api_key_refusals_total` | counter | `reason` (missing, malformed, unknown, user_refused, rate_limited) |
//! | `muster_mail_delivery_failures_total` | counter | `outcome` (retry, failed) |
//! | `muster_jobs` | gauge | `kind`, `state` (queued, running, done, failed) |
//! | `muster_jobs_oldest_queued_age_seconds` | gauge | `kind` (0 when none is queued) |
//! | `muster_outbox_depth` | gauge | mail not delivered yet |
//! | `muster_outbox_failed` | gauge | mail given up after the last attempt |
//! | `muster_outbox_oldest_undelivered_age_seconds` | gauge | 0 when the outbox is empty |
//! | `muster_db_pool_connections` | gauge | `state` (in_use, idle) |
//! | `muster_db_up` | gauge | 1 while the database answers |
//! | `process_resident_memory_bytes` | gauge | |
//! | `muster_sqlite_memory_bytes` | gauge | SQLite's page caches, statements and schemas (SQLite only) |
//!
//! Counters live in the process (one set per process, whatever the number of
//! servers in it); the job, outbox and pool gauges are read at scrape time.
//!
//! Who may scrape: on the main listener only peers whose address is in
//! `--metrics-allow` (default loopback); with `--metrics-bind` the main
//! listener does not serve `/metrics` at all and a listener of its own does,
//! to whoever reaches it.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::app::AppState;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    source: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    // 5 ms … 10 s
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    sign_ins: Family<SignInLabels, Counter>,
    lockouts: Counter,
    api_key_refusals: Family<ReasonLabels, Counter>,
    delivery_failures: Family<OutcomeLabels, Counter>,
    jobs: Family<JobLabels, Gauge>,
    jobs_oldest_queued: Family<KindLabels, FloatGauge>,
    outbox_depth: Gauge,
    outbox_failed: Gauge,
    outbox_oldest: FloatGauge,
    pool: Family<StateLabels, Gauge>,
    db_up: Gauge,
    rss: Gauge,
    sqlite_memory: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register("muster_http_requests", "HTTP requests answered", requests.clone());
    let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
    registry.register(
        "muster_http_request_duration_seconds",
        "Time to answer an HTTP request",
        latency.clone(),
    );
    let sign_ins = Family::<SignInLabels, Counter>::default();
    registry.register(
        "muster_sign_ins",
        "Sign-ins with a password, by outcome",
        sign_ins.clone(),
    );
    let lockouts = Counter::default();
    registry.register(
        "muster_lockouts",
        "Accounts locked after too many failed sign-ins",
        lockouts.clone(),
    );
    let api_key_refusals = Family::<ReasonLabels, Counter>::default();
    registry.register(
        "muster_api_key_refusals",
        "API requests refused for their key",
        api_key_refusals.clone(),
    );
    let delivery_failures = Family::<OutcomeLabels, Counter>::default();
    registry.register(
        "muster_mail_delivery_failures",
        "Failed mail deliveries (retry: tried again later; failed: given up)",
        delivery_failures.clone(),
    );
    let jobs = Family::<JobLabels, Gauge>::default();
    registry.register("muster_jobs", "Background jobs by kind and state", jobs.clone());
    let jobs_oldest_queued = Family::<KindLabels, FloatGauge>::default();
    registry.register(
        "muster_jobs_oldest_queued_age_seconds",
        "Age of the oldest queued job of each kind",
        jobs_oldest_queued.clone(),
    );
    let outbox_depth = Gauge::default();
    registry.register("muster_outbox_depth", "Mail not delivered yet", outbox_depth.clone());
    let outbox_failed = Gauge::default();
    registry.register(
        "muster_outbox_failed",
        "Mail given up after the last attempt",
        outbox_failed.clone(),
    );
    let outbox_oldest = FloatGauge::default();
    registry.register(
        "muster_outbox_oldest_undelivered_age_seconds",
        "Age of the oldest mail not delivered yet",
        outbox_oldest.clone(),
    );
    let pool = Family::<StateLabels, Gauge>::default();
    registry.register(
        "muster_db_pool_connections",
        "Database pool connections in use and idle",
        pool.clone(),
    );
    let db_up = Gauge::default();
    registry.register("muster_db_up", "1 while the database answers", db_up.clone());
    let rss = Gauge::default();
    registry.register(
        "process_resident_memory_bytes",
        "Resident set size of this process",
        rss.clone(),
    );
    let sqlite_memory = Gauge::default();
    registry.register(
        "muster_sqlite_memory_bytes",
        "Memory SQLite holds in this process: page caches, statements, schemas",
        sqlite_memory.clone(),
    );
    // every known series from the start at 0, so that a rate over the first failure is right
    for source in ["web", "api"] {
        for outcome in [
            "success",
            "wrong_password",
            "wrong_code",
            "refused",
            "unknown_user",
            "throttled",
        ] {
            let _ = sign_ins.get_or_create(&SignInLabels {
                source: source.to_owned(),
                outcome: outcome.to_owned(),
            });
        }
    }
    for reason in ["missing", "malformed", "unknown", "user_refused", "rate_limited"] {
        let _ = api_key_refusals.get_or_create(&ReasonLabels {
            reason: reason.to_owned(),
        });
    }
    for outcome in ["retry", "failed"] {
        let _ = delivery_failures.get_or_create(&OutcomeLabels {
            outcome: outcome.to_owned(),
        });
    }
    Metrics {
        registry,
        requests,
        latency,
        sign_ins,
        lockouts,
        api_key_refusals,
        delivery_failures,
        jobs,
        jobs_oldest_queued,
        outbox_depth,
        outbox_failed,
        outbox_oldest,
        pool,
        db_up,
        rss,
        sqlite_memory,
    }
});

/// A password sign-in ended (`source`: web or api).
pub fn sign_in(source: &str, outcome: &str) {
    METRICS
        .sign_ins
        .get_or_create(&SignInLabels {
            source: source.to_owned(),
            outcome: outcome.to_owned(),
        })
        .inc();
}

/// An account was locked.
pub fn lockout() {
    METRICS.lockouts.inc();
}

/// An API request was refused for its key.
pub fn api_key_refused(reason: &str) {
    METRICS
        .api_key_refusals
        .get_or_create(&ReasonLabels {
            reason: reason.to_owned(),
        })
        .inc();
}

/// A mail delivery failed; `given_up` when it was the last attempt.
pub fn delivery_failed(given_up: bool) {
    let outcome = if given_up { "failed" } else { "retry" };
    METRICS
        .delivery_failures
        .get_or_create(&OutcomeLabels {
            outcome: outcome.to_owned(),
        })
        .inc();
}

/// The middleware that counts and times every request by its route template.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let labels = RequestLabels {
        method,
        route,
        status: resp.status().as_u16(),
    };
    METRICS.requests.get_or_create(&labels).inc();
    METRICS
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// Resident set size from `/proc/self/statm` (Linux); 0 elsewhere.
fn resident_bytes() -> i64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // every Linux this runs on uses 4 KiB pages for the RSS count
    pages.saturating_mul(4096)
}

fn age_seconds(now_ms: i64, then_ms: Option<i64>) -> f64 {
    then_ms.map_or(0.0, |t| (now_ms.saturating_sub(t)).max(0) as f64 / 1000.0)
}

/// Read the gauges from the database; false when it did not answer in time.
async fn refresh_from_database(state: &AppState) -> bool {
    let read = async {
        let mut conn = state.store.conn().await?;
        let jobs = muster_store::metrics::job_counts(&mut conn).await?;
        let outbox = muster_store::metrics::outbox_depth(&mut conn).await?;
        Ok::<_, muster_store::Error>((jobs, outbox))
    };
    let Ok(Ok((jobs, outbox))) = tokio::time::timeout(Duration::from_secs(2), read).await else {
        return false;
    };
    let now = crate::clock::now();
    let m = &*METRICS;
    m.jobs.clear();
    m.jobs_oldest_queued.clear();
    for kind in crate::jobs::KINDS {
        for state in ["queued", "running", "done", "failed"] {
            m.jobs
                .get_or_create(&JobLabels {
                    kind: (*kind).to_owned(),
                    state: state.to_owned(),
                })
                .set(0);
        }
        m.jobs_oldest_queued
            .get_or_create(&KindLabels {
                kind: (*kind).to_owned(),
            })
            .set(0.0);
    }
    for j in &jobs {
        m.jobs
            .get_or_create(&JobLabels {
                kind: j.kind.clone(),
                state: j.status.clone(),
            })
            .set(j.count);
        if j.status == "queued" {
            m.jobs_oldest_queued
                .get_or_create(&KindLabels { kind: j.kind.clone() })
                .set(age_seconds(now, j.oldest_created_at));
        }
    }
    m.outbox_depth.set(outbox.pending);
    m.outbox_failed.set(outbox.failed);
    m.outbox_oldest.set(age_seconds(now, outbox.oldest_pending_created_at));
    true
}

/// The exposition, with the scrape-time gauges refreshed.
pub async fn render(state: &AppState) -> String {
    let m = &*METRICS;
    let up = state.db_health.is_up() && refresh_from_database(state).await;
    m.db_up.set(i64::from(up));
    let size = i64::from(state.store.pool.size());
    let idle = i64::try_from(state.store.pool.num_idle()).unwrap_or(i64::MAX);
    m.pool
        .get_or_create(&StateLabels {
            state: "in_use".to_owned(),
        })
        .set(size.saturating_sub(idle).max(0));
    m.pool
        .get_or_create(&StateLabels {
            state: "idle".to_owned(),
        })
        .set(idle);
    m.rss.set(resident_bytes());
    m.sqlite_memory.set(state.store.sqlite_memory_used().unwrap_or(0));
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &m.registry) {
        tracing::error!(error = %e, "encoding the metrics failed");
    }
    out
}

fn exposition(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body,
    )
        .into_response()
}

/// Addresses allowed to scrape on the main listener: `127.0.0.0/8, ::1` unless set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<ipnet::IpNet>);

impl AllowList {
    pub fn loopback() -> Self {
        AllowList(vec![
            ipnet::IpNet::V4(ipnet::Ipv4Net::new_assert(std::net::Ipv4Addr::LOCALHOST, 8)),
            ipnet::IpNet::V6(ipnet::Ipv6Net::new_assert(std::net::Ipv6Addr::LOCALHOST, 128)),
        ])
    }

    /// `10.0.0.0/8, 192.168.1.7, ::1` — networks or single addresses, comma-separated.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = match part.parse::<ipnet::IpNet>() {
                Ok(n) => n,
                Err(_) => part
                    .parse::<IpAddr>()
                    .map(ipnet::IpNet::from)
                    .map_err(|_| format!("metrics allow list: {part:?} is neither an address nor a network"))?,
            };
            nets.push(net);
        }
        Ok(AllowList(nets))
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// `/metrics` on the main listener: only for allowed peers, and not at all with `--metrics-bind`.
async fn on_main_listener(State(state): State<AppState>, req: Request) -> Response {
    if state.config.metrics_bind.is_some() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let allowed = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| state.config.metrics_allow.allows(addr.ip()));
    if !allowed {
        return (
            StatusCode::FORBIDDEN,
            "metrics are served only to the addresses of --metrics-allow\n",
        )
            .into_response();
    }
    exposition(render(&state).await)
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(on_main_listener))
}

/// The listener of `--metrics-bind`: `/metrics` and nothing else, to whoever reaches it.
pub async fn serve_separately(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(|State(state): State<AppState>| async move { exposition(render(&state).await) }),
    );
    axum::serve(listener, app.with_state(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists() {
        let l = AllowList::loopback();
        assert!(l.allows("127.0.0.1".parse().unwrap()));
        assert!(l.allows("127.5.0.1".parse().unwrap()));
        assert!(l.allows("::1".parse().unwrap()));
        assert!(l.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!l.allows("10.0.0.1".parse().unwrap()));
        let l = AllowList::parse("10.0.0.0/8, 192.168.1.7").unwrap();
        assert!(l.allows("10.9.9.9".parse().unwrap()));
        assert!(l.allows("192.168.1.7".parse().unwrap()));
        assert!(!l.allows("192.168.1.8".parse().unwrap()));
        assert!(!l.allows("127.0.0.1".parse().unwrap()));
        assert!(AllowList::parse("10.0.0.0/33").is_err());
        assert!(AllowList::parse("localhost").is_err());
    }

    #[test]
    fn ages() {
        assert_eq!(age_seconds(10_000, Some(4_000)), 6.0);
        assert_eq!(age_seconds(10_000, None), 0.0);
        assert_eq!(age_seconds(10_000, Some(20_000)), 0.0);
    }
}
