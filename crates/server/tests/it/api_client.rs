//! A JSON:API client with an API key, and keys for test users.
#![allow(dead_code)]

use muster_server::services::{Ctx, api_keys};
use serde_json::Value;

use crate::support::TestApp;

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The error codes, for assertions.
    pub fn pointer(&self) -> String {
        self.body["errors"][0]["source"]["pointer"]
            .as_str()
            .unwrap_or("?")
            .to_owned()
    }

    pub fn detail(&self) -> String {
        self.body["errors"][0]["detail"].as_str().unwrap_or("").to_owned()
    }
}

impl Api {
    pub fn new(app: &TestApp, key: Option<&str>) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: app.base.clone(),
            key: key.map(str::to_owned),
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, format!("{}{}", self.base, path));
        if let Some(k) = &self.key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/vnd.api+json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status != 204 && !path.starts_with("/api/docs") {
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/vnd.api+json"),
                "{method} {path} → {status}: {text}"
            );
        }
        if status >= 400 {
            let e = &body["errors"][0];
            assert_eq!(e["status"], status.to_string(), "{method} {path}: {text}");
            assert!(
                e["code"].is_string() && e["title"].is_string() && e["detail"].is_string(),
                "{text}"
            );
            assert!(
                e["source"]["pointer"].is_string(),
                "{method} {path}: no pointer in {text}"
            );
        }
        Reply {
            status,
            body,
            text,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send("POST", path, None).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None).await
    }
}

/// Generate `user_id`'s key as the operator would (`muster apikey create`).
pub async fn key_for(app: &TestApp, user_id: i64, org: Option<i64>) -> String {
    let actor = app.system_actor().await;
    api_keys::generate(app.store(), &actor, &Ctx::cli(), user_id, org)
        .await
        .expect("generate key")
        .secret
}
