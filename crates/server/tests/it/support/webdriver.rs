//! A small W3C WebDriver client over reqwest, driving Debian's headless
//! Chromium through chromedriver. Waits poll for elements; nothing sleeps a
//! fixed time. The browser and chromedriver end when the `Browser` drops,
//! even when a test fails.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const WAIT: Duration = Duration::from_secs(15);

pub struct Browser {
    http: reqwest::Client,
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

#[derive(Clone, Debug)]
pub struct Element(pub String);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    l.local_addr().expect("addr").port()
}

impl Browser {
    /// Start chromedriver and a headless Chromium. Fails loudly when either is missing.
    pub async fn start() -> Browser {
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chrome_bin = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&driver_bin).exists() && std::path::Path::new(&chrome_bin).exists(),
            "browser tests need {chrome_bin} and {driver_bin} (Debian packages chromium and chromium-driver; .ci/run installs them)"
        );
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-quic".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chrome_bin, "args": args}
        }}});
        let mut browser = Browser {
            http,
            driver,
            base,
            session: String::new(),
            _profile: profile,
        };
        let v = browser.call(reqwest::Method::POST, "/session", Some(caps)).await;
        browser.session = v["sessionId"].as_str().expect("session id").to_owned();
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method.clone(), format!("{}{}", self.base, path));
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let resp = req.send().await.expect("webdriver request");
        let v: Value = resp.json().await.expect("webdriver json");
        if let Some(err) = v["value"]["error"].as_str() {
            panic!("webdriver {path}: {err}: {}", v["value"]["message"]);
        }
        v.get("value").cloned().unwrap_or(v)
    }

    async fn try_call(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value, String> {
        let resp = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = resp.json().await.map_err(|e| e.to_string())?;
        match v["value"]["error"].as_str() {
            Some(e) => Err(format!("{e}: {}", v["value"]["message"])),
            None => Ok(v["value"].clone()),
        }
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, &self.s("/url"), Some(json!({"url": url})))
            .await;
    }

    pub async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, &self.s("/url"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, &self.s("/source"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Find an element now, or `None`.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        self.try_call(
            reqwest::Method::POST,
            &self.s("/element"),
            json!({"using": "css selector", "value": css}),
        )
        .await
        .ok()
        .and_then(|v| v[ELEMENT_KEY].as_str().map(|s| Element(s.to_owned())))
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.try_call(
            reqwest::Method::POST,
            &self.s("/elements"),
            json!({"using": "css selector", "value": css}),
        )
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| Element(s.to_owned())))
        .collect()
    }

    /// Wait for an element to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            if Instant::now() > deadline {
                panic!(
                    "element {css:?} did not appear on {}: {}",
                    self.current_url().await,
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until no element matches.
    pub async fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        while self.try_find(css).await.is_some() {
            assert!(Instant::now() < deadline, "element {css:?} did not go away");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the page's text contains `needle`.
    pub async fn wait_text(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let body = self
                .execute("return document.body ? document.body.innerText : ''", json!([]))
                .await;
            if body.as_str().is_some_and(|b| b.contains(needle)) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "text {needle:?} did not appear on {}; page text: {body}",
                    self.current_url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the flash message satisfies `accept` (the page before an
    /// action may still show an older one for a moment); `wanted` names it
    /// in the failure.
    pub async fn wait_flash(&self, wanted: &str, accept: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self
                .execute(
                    "var f = document.querySelector('.flash'); return f ? f.innerText : ''",
                    json!([]),
                )
                .await;
            if got.as_str().is_some_and(&accept) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "flash {wanted} did not appear; it reads {got} on {}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.click_el(&e).await;
    }

    pub async fn click_el(&self, e: &Element) {
        self.call(reqwest::Method::POST, &self.s(&format!("/element/{}/click", e.0)), None)
            .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(reqwest::Method::POST, &self.s(&format!("/element/{}/clear", e.0)), None)
            .await;
        self.call(
            reqwest::Method::POST,
            &self.s(&format!("/element/{}/value", e.0)),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Choose a file in an `<input type="file">` (no clear first: a file input refuses it).
    pub async fn choose_file(&self, css: &str, path: &std::path::Path) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &self.s(&format!("/element/{}/value", e.0)),
            Some(json!({"text": path.display().to_string()})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.text_el(&e).await
    }

    pub async fn text_el(&self, e: &Element) -> String {
        self.call(reqwest::Method::GET, &self.s(&format!("/element/{}/text", e.0)), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &self.s(&format!("/element/{}/property/{name}", e.0)),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Switch into an `<iframe>`, or back to the top-level page with `None`.
    pub async fn frame(&self, frame: Option<&Element>) {
        let id = frame.map_or(Value::Null, |e| json!({ ELEMENT_KEY: e.0 }));
        self.call(reqwest::Method::POST, &self.s("/frame"), Some(json!({ "id": id })))
            .await;
    }

    pub async fn accept_alert(&self) {
        self.call(reqwest::Method::POST, &self.s("/alert/accept"), None).await;
    }

    /// Resize the window (e.g. to check a narrow screen).
    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            &self.s("/window/rect"),
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// A PNG of the page, for looking at what a person would see.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let v = self.call(reqwest::Method::GET, &self.s("/screenshot"), None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .expect("png");
        std::fs::write(path, bytes).expect("write screenshot");
    }

    /// Add a WebAuthn virtual authenticator to this session (Chromium's
    /// WebDriver extension): a platform authenticator with resident keys and
    /// user verification that always succeeds, so passkeys work headless.
    /// Returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                &self.s("/webauthn/authenticator"),
                Some(json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserVerified": true
                })),
            )
            .await;
        v.as_str().expect("authenticator id").to_owned()
    }

    /// Remove the virtual authenticator `id` (another device from now on).
    pub async fn remove_virtual_authenticator(&self, id: &str) {
        self.call(
            reqwest::Method::DELETE,
            &self.s(&format!("/webauthn/authenticator/{id}")),
            None,
        )
        .await;
    }

    /// The credentials the virtual authenticator `id` holds.
    pub async fn authenticator_credentials(&self, id: &str) -> Vec<Value> {
        let v = self
            .call(
                reqwest::Method::GET,
                &self.s(&format!("/webauthn/authenticator/{id}/credentials")),
                None,
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Sign in through the form.
    pub async fn login(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.type_into("#username", username).await;
        self.type_into("#password", password).await;
        self.click("#sign-in").await;
        self.wait_gone("#sign-in").await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session ends Chromium; killing chromedriver ends anything left.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(async move {
                    let _ = reqwest::Client::new()
                        .delete(url)
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                });
            }
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
