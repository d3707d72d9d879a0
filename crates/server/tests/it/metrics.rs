//! `GET /metrics`: scraped, then parsed by a real OpenMetrics parser (the
//! Python `prometheus_client` package, Debian's python3-prometheus-client),
//! never by string matching; who may read it.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::api_client::{Api, key_for};
use crate::support::serve_process::{ServeProcess, muster};
use crate::support::{ADMIN_PASSWORD, TestApp, TestDb};

const PARSER: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "samples": [
        {"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
print(json.dumps(out))
"#;

/// Family name → its type and samples, as the parser read them.
struct Exposition(HashMap<String, Value>);

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", PARSER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("/usr/bin/python3 (apt-get install python3-prometheus-client)");
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "the OpenMetrics parser refused the exposition: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        Exposition(serde_json::from_slice(&out.stdout).unwrap())
    }

    fn family(&self, name: &str, kind: &str) -> &Value {
        let f = self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("no family {name}; have {:?}", self.0.keys().collect::<Vec<_>>()));
        assert_eq!(f["type"], kind, "{name}");
        f
    }

    /// The value of the sample `sample` whose labels include `labels`.
    fn value(&self, family: &str, kind: &str, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.family(family, kind)["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == sample && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
            .map(|s| s["value"].as_f64().unwrap())
    }
}

#[tokio::test]
async fn scraped_and_parsed() {
    let app = TestApp::spawn().await;
    let web = app.client();
    assert_ne!(web.login("admin", "wrong-password-here").await.status(), 303);
    let web = app.signed_in("admin", ADMIN_PASSWORD).await;
    let admin = app.user_by_name("admin").await;
    assert_eq!(web.get(&format!("/admin/users/{}", admin.id)).await.status(), 200);
    // API key refusals: none, malformed
    assert_eq!(Api::new(&app, None).get("/api/users").await.status, 401);
    assert_eq!(Api::new(&app, Some("nope")).get("/api/users").await.status, 401);
    // a queued export (this test server runs no job worker)
    let key = key_for(&app, admin.id, None).await;
    assert_eq!(
        Api::new(&app, Some(&key)).post_empty("/api/exports/users").await.status,
        202
    );

    let resp = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let m = Exposition::parse(&resp.text().await.unwrap());

    let user_page = [("method", "GET"), ("route", "/admin/users/{id}"), ("status", "200")];
    assert!(
        m.value(
            "muster_http_requests",
            "counter",
            "muster_http_requests_total",
            &user_page
        ) >= Some(1.0)
    );
    assert!(
        m.value(
            "muster_http_request_duration_seconds",
            "histogram",
            "muster_http_request_duration_seconds_count",
            &user_page
        ) >= Some(1.0)
    );
    assert!(
        m.value(
            "muster_http_request_duration_seconds",
            "histogram",
            "muster_http_request_duration_seconds_bucket",
            &[("route", "/admin/users/{id}"), ("le", "+Inf")]
        ) >= Some(1.0)
    );
    for outcome in ["success", "wrong_password"] {
        assert!(
            m.value(
                "muster_sign_ins",
                "counter",
                "muster_sign_ins_total",
                &[("source", "web"), ("outcome", outcome)]
            ) >= Some(1.0),
            "{outcome}"
        );
    }
    m.family("muster_lockouts", "counter");
    for reason in ["missing", "malformed"] {
        assert!(
            m.value(
                "muster_api_key_refusals",
                "counter",
                "muster_api_key_refusals_total",
                &[("reason", reason)]
            ) >= Some(1.0),
            "{reason}"
        );
    }
    m.family("muster_mail_delivery_failures", "counter");
    assert_eq!(
        m.value(
            "muster_jobs",
            "gauge",
            "muster_jobs",
            &[("kind", "export_users"), ("state", "queued")]
        ),
        Some(1.0)
    );
    assert!(
        m.value(
            "muster_jobs_oldest_queued_age_seconds",
            "gauge",
            "muster_jobs_oldest_queued_age_seconds",
            &[("kind", "export_users")]
        )
        .is_some()
    );
    // the export was requested by mail-less means so far; the outbox holds what the sign-ins queued, if anything
    assert!(
        m.value("muster_outbox_depth", "gauge", "muster_outbox_depth", &[])
            .is_some()
    );
    assert!(
        m.value(
            "muster_outbox_oldest_undelivered_age_seconds",
            "gauge",
            "muster_outbox_oldest_undelivered_age_seconds",
            &[]
        )
        .is_some()
    );
    assert!(
        m.value(
            "muster_db_pool_connections",
            "gauge",
            "muster_db_pool_connections",
            &[("state", "idle")]
        )
        .is_some()
    );
    assert!(
        m.value(
            "muster_db_pool_connections",
            "gauge",
            "muster_db_pool_connections",
            &[("state", "in_use")]
        )
        .is_some()
    );
    assert_eq!(m.value("muster_db_up", "gauge", "muster_db_up", &[]), Some(1.0));
    let rss = m
        .value(
            "process_resident_memory_bytes",
            "gauge",
            "process_resident_memory_bytes",
            &[],
        )
        .unwrap();
    assert!(rss > 1_000_000.0, "RSS {rss}");
    // the schema and statements of the open connections at least, and part of the RSS
    let sqlite = m
        .value("muster_sqlite_memory_bytes", "gauge", "muster_sqlite_memory_bytes", &[])
        .unwrap();
    assert!(sqlite > 10_000.0 && sqlite < rss, "SQLite {sqlite}, RSS {rss}");
}

#[tokio::test]
async fn only_allowed_addresses_may_scrape() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |c| {
        c.metrics_allow = muster_server::metrics::AllowList::parse("10.0.0.0/8").unwrap();
    })
    .await;
    let resp = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 403, "loopback is not in the list");
    assert!(!resp.text().await.unwrap().contains("muster_"));
}

#[tokio::test]
async fn a_listener_of_its_own() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = muster(data.path());
    cmd.args(["--metrics-bind", "127.0.0.1:0"]);
    let serve = ServeProcess::start(cmd, data.path());
    let metrics_url = serve
        .stdout_before
        .iter()
        .find_map(|l| l.strip_prefix("muster metrics on "))
        .unwrap_or_else(|| panic!("no metrics address in {:?}", serve.stdout_before))
        .to_owned();
    assert_eq!(
        reqwest::get(serve.url("/metrics")).await.unwrap().status(),
        404,
        "the main listener no longer serves /metrics"
    );
    let text = reqwest::get(&metrics_url).await.unwrap().text().await.unwrap();
    let m = Exposition::parse(&text);
    assert_eq!(m.value("muster_db_up", "gauge", "muster_db_up", &[]), Some(1.0));
}
