//! Security headers (issue 18, item 4): every response carries the
//! Content-Security-Policy and its companions; no page holds inline script or
//! style, so the strict policy costs nothing; in Chromium the pages and the
//! Swagger UI run without a single CSP violation, and a page of another origin
//! cannot frame ours.

use std::time::{Duration, Instant};

use muster_server::security_headers::{CSP, SWAGGER_CSP, SWAGGER_LOGO_STYLE};
use reqwest::header::HeaderMap;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api_client::key_for;
use crate::mailbox::{reset_link, start_worker, to, wait_spool};
use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, Client, PASSWORD, TestApp, TestDb};

fn h<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The headers every response carries, whatever made it.
fn assert_common(what: &str, headers: &HeaderMap) {
    assert_eq!(h(headers, "x-frame-options"), "DENY", "{what}");
    assert_eq!(h(headers, "x-content-type-options"), "nosniff", "{what}");
    assert!(
        headers.get("strict-transport-security").is_none(),
        "{what}: no HSTS while the public URL is http"
    );
}

/// A dynamic response: the strict policy, no caching, `referrer` as given.
fn assert_dynamic(what: &str, headers: &HeaderMap, referrer: &str) {
    assert_common(what, headers);
    assert_eq!(h(headers, "content-security-policy"), CSP, "{what}");
    assert_eq!(h(headers, "referrer-policy"), referrer, "{what}");
    assert_eq!(h(headers, "cache-control"), "no-store", "{what}");
}

/// A user in password reset, and the path of their mailed link.
async fn reset_path(app: &TestApp, admin: &Client, username: &str) -> String {
    let u = app.create_user(username, &["User"]).await;
    start_worker(app);
    let resp = admin
        .post("/profile", &format!("/admin/users/{}/reset-password", u.id), &[])
        .await;
    assert_eq!(resp.status(), 303);
    let msgs = wait_spool(app, 1).await;
    let mine = to(&msgs, &format!("{username}@example.com"));
    let link = reset_link(mine.first().expect("the reset mail")).expect("a reset link");
    link.trim_start_matches(&app.base).to_owned()
}

#[tokio::test]
async fn every_kind_of_response_carries_the_headers() {
    let app = TestApp::spawn().await;

    // the sign-in page, signed out
    let c = app.client();
    let r = c.get("/login").await;
    assert_eq!(r.status(), 200);
    assert_dynamic("GET /login", r.headers(), "same-origin");

    // a signed-in grid page, and a page of a user
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let r = admin.get("/admin/users?view=all").await;
    assert_eq!(r.status(), 200);
    assert_dynamic("GET /admin/users", r.headers(), "same-origin");
    let r = admin.get("/profile").await;
    assert_dynamic("GET /profile", r.headers(), "same-origin");
    // a redirect and an error page are responses too
    let r = app.client().get("/admin/users").await;
    assert_eq!(r.status(), 303);
    assert_dynamic("GET /admin/users signed out", r.headers(), "same-origin");
    let r = admin.get("/no-such-page").await;
    assert_eq!(r.status(), 404);
    assert_dynamic("GET /no-such-page", r.headers(), "same-origin");

    // the API: a document, an error, the OpenAPI document
    let admin_user = app.user_by_name("admin").await;
    let key = key_for(&app, admin_user.id, None).await;
    let http = reqwest::Client::new();
    let r = http.get(app.url("/api/users")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h(r.headers(), "content-type"), "application/vnd.api+json");
    assert_dynamic("GET /api/users", r.headers(), "same-origin");
    let r = http.get(app.url("/api/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_dynamic("GET /api/users without a key", r.headers(), "same-origin");
    let r = http.get(app.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_common("GET /api/openapi.json", r.headers());
    assert_eq!(h(r.headers(), "cache-control"), "no-store");

    // the reset page: its URL carries the token, so no Referer leaves it, whatever it answers
    let path = reset_path(&app, &admin, "jdoe").await;
    let r = app.client().get(&path).await;
    assert_eq!(r.status(), 200);
    assert_dynamic("GET /reset-password?token=…", r.headers(), "no-referrer");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(r#"<meta name="referrer" content="no-referrer">"#)
    );
    let r = app.client().get("/reset-password?token=not-a-token").await;
    assert_eq!(r.status(), 410);
    assert_dynamic("GET /reset-password?token=bad", r.headers(), "no-referrer");
    let r = app.client().get("/reset-password").await;
    assert_dynamic("GET /reset-password", r.headers(), "no-referrer");
    let r = app.client().get("/forgot-password").await;
    assert_dynamic("GET /forgot-password", r.headers(), "same-origin");

    // the Swagger UI: its own policy on the page and its files, not framable either
    for p in [
        "/api/docs/",
        "/api/docs/swagger-initializer.js",
        "/api/docs/swagger-ui-bundle.js",
    ] {
        let r = http.get(app.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
        assert_common(p, r.headers());
        assert_eq!(h(r.headers(), "content-security-policy"), SWAGGER_CSP, "{p}");
        assert_eq!(h(r.headers(), "referrer-policy"), "same-origin", "{p}");
    }
    let index = http
        .get(app.url("/api/docs/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !index.contains("<script>") && !index.contains("<style"),
        "Swagger UI's index has no inline script or style: {index}"
    );
    // the one inline <style> its policy allows by hash is still the one the bundle renders
    let preset = http
        .get(app.url("/api/docs/swagger-ui-standalone-preset.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(h(preset.headers(), "content-encoding"), "", "served as is");
    let preset = preset.text().await.unwrap();
    assert!(
        preset.contains(&format!("\"{SWAGGER_LOGO_STYLE}\"")),
        "Swagger UI's logo style changed: update SWAGGER_LOGO_STYLE and the hash in SWAGGER_CSP"
    );
}

#[tokio::test]
async fn static_files_are_typed_and_cached_by_version() {
    let app = TestApp::spawn().await;
    let page = app.client().get_text("/login").await;
    let hrefs = static_links(&page);
    assert!(
        hrefs.iter().any(|h| h.starts_with("/static/muster.css?v="))
            && hrefs.iter().any(|h| h.starts_with("/static/muster.js?v=")),
        "{hrefs:?}"
    );
    let http = reqwest::Client::new();
    for href in &hrefs {
        let r = http.get(app.url(href)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{href}");
        let want = if href.contains(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(h(r.headers(), "content-type"), want, "{href}");
        assert_eq!(h(r.headers(), "cache-control"), "public, max-age=31536000, immutable");
        assert_common(href, r.headers());
        assert_eq!(h(r.headers(), "content-security-policy"), CSP);
        let etag = h(r.headers(), "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
        // without the current version: revalidated each time, 304 while unchanged
        let bare = href.split('?').next().unwrap();
        let r = http.get(app.url(bare)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(h(r.headers(), "cache-control"), "no-cache", "{bare}");
        let r = http
            .get(app.url(bare))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "{bare}");
        let r = http
            .get(app.url(&format!("{bare}?v=0000000000000000")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            h(r.headers(), "cache-control"),
            "no-cache",
            "an old version is not cached for a year"
        );
    }
    let r = http.get(app.url("/static/nope.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_common("/static/nope.js", r.headers());
    let r = http.get(app.url("/static/muster.js")).send().await.unwrap();
    assert!(
        r.headers().get("set-cookie").is_none(),
        "a static file starts no session"
    );
}

#[tokio::test]
async fn hsts_only_when_the_public_url_is_https() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |c| {
        c.public_url = "https://muster.example.com".into();
    })
    .await;
    for p in ["/login", "/api/users", "/api/docs/", "/static/muster.css"] {
        let r = reqwest::get(app.url(p)).await.unwrap();
        assert_eq!(h(r.headers(), "strict-transport-security"), "max-age=31536000", "{p}");
        assert_eq!(h(r.headers(), "x-frame-options"), "DENY", "{p}");
    }
}

/// `/static/…` URLs that a page links (`href="…"` or `src="…"`).
fn static_links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["href=\"/static/", "src=\"/static/"] {
        let mut rest = html;
        while let Some(p) = rest.find(marker) {
            let start = p + marker.len() - "/static/".len();
            let end = rest[start..].find('"').map_or(rest.len(), |e| start + e);
            out.push(rest[start..end].replace("&amp;", "&"));
            rest = &rest[end..];
        }
    }
    out
}

/// Inline code in a page: `<script>` with a body or without `src`, `<style>`,
/// `style="…"`, `on…=` handlers and `javascript:` URLs. Tags are found by
/// `<` and `>`, which askama escapes in text and attribute values.
pub(crate) fn inline_code(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut rest = lower.as_str();
    while let Some(p) = rest.find('<') {
        rest = &rest[p + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = rest[..end].replace(['\n', '\r', '\t'], " ");
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        let after = &rest[end..];
        if name == "style" {
            found.push(format!("<{tag}>"));
        }
        if name == "script" && !(tag.contains(" src=") && after.starts_with("></script>")) {
            found.push(format!("<{tag}> with a body or without src"));
        }
        if tag.contains(" style=") {
            found.push(format!("style attribute in <{tag}>"));
        }
        if tag.contains("javascript:") {
            found.push(format!("javascript: URL in <{tag}>"));
        }
        for (i, _) in tag.match_indices(" on") {
            let attr: String = tag[i + 1..].chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            if attr.len() > 2 && tag[i + 1 + attr.len()..].trim_start().starts_with('=') {
                found.push(format!("handler {attr} in <{tag}>"));
            }
        }
    }
    found
}

#[test]
fn the_inline_code_finder_finds_inline_code() {
    assert!(inline_code(r#"<p>x</p><script src="/static/a.js" defer></script><a href="/">on=</a>"#).is_empty());
    for bad in [
        "<script>alert(1)</script>",
        r#"<script src="/a.js">alert(1)</script>"#,
        "<style>p{}</style>",
        r#"<p style="color:red">"#,
        r#"<button type="button" onclick="go()">"#,
        "<body\nonload='x()'>",
        r#"<a href="JavaScript:go()">"#,
    ] {
        assert!(!inline_code(bad).is_empty(), "{bad}");
    }
}

/// Every page a person can reach, fetched as the admin (and the anonymous
/// ones signed out): none holds inline code, and every static file linked is
/// served.
#[tokio::test]
async fn no_page_holds_inline_script_or_style() {
    let app = TestApp::spawn().await;
    let jdoe = app.create_user("jdoe", &["User"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let admin_id = app.user_by_name("admin").await.id;
    let reset = reset_path(&app, &admin, "rosa").await;
    // an export that is still queued (no job worker here): the Exports page follows it
    assert_eq!(admin.post("/admin/exports", "/admin/exports", &[]).await.status(), 303);
    // a saved view, so the grid shows its rename/default/delete forms
    let r = admin
        .post(
            "/admin/users",
            "/admin/users/views",
            &[("name", "mine"), ("query", "view=all&q=j")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let saved_view = crate::support::location(&r);

    let mut pages: Vec<(String, String)> = Vec::new();
    let anon = app.client();
    for p in [
        "/login",
        "/forgot-password",
        "/reset-password?token=nope",
        reset.as_str(),
    ] {
        pages.push((p.to_owned(), anon.get_text(p).await));
    }
    let r = anon.login("admin", "wrong").await;
    pages.push(("POST /login (refused)".into(), r.text().await.unwrap()));

    let u = jdoe.id;
    let mut paths = vec![
        "/profile".to_owned(),
        "/admin/users".into(),
        "/admin/users?view=all".into(),
        "/admin/users?view=disabled".into(),
        "/admin/users?view=cannot_login".into(),
        "/admin/users?view=all&q=nobody-matches".into(),
        saved_view,
        "/admin/users/new".into(),
        format!("/admin/users/{u}"),
        format!("/admin/users/{u}/edit"),
        format!("/admin/users/{u}/password"),
        format!("/admin/users/{admin_id}"),
        format!("/admin/users/mass/reset-password?ids={u}"),
        "/admin/exports".into(),
        "/admin/import".into(),
        "/admin/settings".into(),
        "/admin/audit".into(),
        "/admin/login-attempts".into(),
        "/admin/mail".into(),
        "/admin/users/999999".into(),
        // confirmation pages (without JavaScript)
        format!("/admin/users/{u}/reset-password"),
        format!("/admin/users/{u}/delete"),
        format!("/admin/users/{u}/sessions/end-all"),
    ];
    paths.dedup();
    for p in &paths {
        let r = admin.get(p).await;
        assert!(r.status().as_u16() < 500, "{p} → {}", r.status());
        assert!(h(r.headers(), "content-type").starts_with("text/html"), "{p}");
        pages.push((p.clone(), r.text().await.unwrap()));
    }
    // a new key's page (shown once), and a page refused to a plain user
    let mut conn = app.store().conn().await.unwrap();
    let main_org = muster_store::organizations::list(&mut conn).await.unwrap()[0].id;
    drop(conn);
    let r = admin
        .post(
            &format!("/admin/users/{u}"),
            &format!("/admin/users/{u}/api-key"),
            &[("organization_id", &main_org.to_string())],
        )
        .await;
    assert_eq!(r.status(), 200);
    pages.push(("POST api-key".into(), r.text().await.unwrap()));
    let user = app.signed_in("jdoe", PASSWORD).await;
    let r = user.get("/admin/users").await;
    assert_eq!(r.status(), 403);
    pages.push(("/admin/users as a User".into(), r.text().await.unwrap()));

    let exports = &pages.iter().find(|(p, _)| p == "/admin/exports").unwrap().1;
    assert!(exports.contains("data-reload-after"), "a running export is followed");

    let http = reqwest::Client::new();
    let mut checked = std::collections::BTreeSet::new();
    for (p, html) in &pages {
        assert!(html.contains("</html>"), "{p}: a whole page");
        let found = inline_code(html);
        assert!(found.is_empty(), "{p} holds inline code: {found:#?}");
        for href in static_links(html) {
            if checked.insert(href.clone()) {
                let r = http.get(app.url(&href)).send().await.unwrap();
                assert_eq!(r.status(), 200, "{p} links {href}");
            }
        }
    }
    assert_eq!(
        checked.len(),
        8,
        "muster.css, muster.js, confirm.js, grid.js, users.css, user.css, error.css, passkeys.js (the profile): {checked:?}"
    );
}

/// A script that collects the page's CSP violations (those of its loading
/// too: `buffered`), then causes one of its own as a probe (an image from
/// another origin), so a wait for the probe's report proves that reports are
/// delivered.
const COLLECT_VIOLATIONS: &str = "
    window.__csp = [];
    new ReportingObserver(function (reports) {
        reports.forEach(function (r) { window.__csp.push(r.body.effectiveDirective + ' ' + r.body.blockedURL); });
    }, {types: ['csp-violation'], buffered: true}).observe();
    new Image().src = 'http://csp-probe.invalid/probe.png';
    return true;";

/// The CSP violations of the current page, less the probe.
pub(crate) async fn violations(b: &Browser) -> Vec<String> {
    b.execute(COLLECT_VIOLATIONS, json!([])).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = b.execute("return window.__csp", json!([])).await;
        let got: Vec<String> = got
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        if got.iter().any(|v| v.contains("csp-probe")) {
            return got.into_iter().filter(|v| !v.contains("csp-probe")).collect();
        }
        assert!(
            Instant::now() < deadline,
            "the probe's violation was not reported: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_pages_and_swagger_run_under_the_csp_without_violations() {
    let app = TestApp::spawn().await;
    let jdoe = app.create_user("jdoe", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;

    let u = jdoe.id;
    for p in [
        "/admin/users?view=all".to_owned(),
        format!("/admin/users/{u}"),
        format!("/admin/users/{u}/edit"),
        format!("/admin/users/{u}/password"),
        "/profile".into(),
        "/admin/exports".into(),
        "/admin/audit".into(),
        "/admin/settings".into(),
    ] {
        b.goto(&app.url(&p)).await;
        b.find("main#content").await;
        let v = violations(&b).await;
        assert!(v.is_empty(), "{p}: CSP violations {v:?}");
        // the stylesheet applies
        let bg = b
            .execute(
                "return getComputedStyle(document.querySelector('header.top')).backgroundColor",
                json!([]),
            )
            .await;
        assert_eq!(bg, json!("rgb(29, 39, 51)"), "{p}: muster.css applies");
    }

    // the script runs: select the page's rows on the grid; open and close More Actions
    b.goto(&app.url("/admin/users?view=all")).await;
    b.click("#select-page").await;
    let note = b.text("#selection-note").await;
    assert!(note.ends_with("selected"), "{note:?}");
    b.goto(&app.url(&format!("/admin/users/{u}"))).await;
    b.click("#more-actions").await;
    b.click("#change-password-open").await;
    assert_eq!(
        b.execute(
            "return document.getElementById('change-password-dialog').open",
            json!([])
        )
        .await,
        json!(true)
    );

    // the Swagger UI renders and loads the OpenAPI document under its own policy
    b.goto(&app.url("/api/docs/")).await;
    b.find(".opblock").await;
    b.find(".swagger-ui .info .title").await;
    let v = violations(&b).await;
    assert!(v.is_empty(), "/api/docs/: CSP violations {v:?}");
    let logo_style = b
        .execute(
            "var s = document.querySelectorAll('style'); return s.length > 0 && Array.from(s).every(function (e) { return e.sheet !== null; })",
            json!([]),
        )
        .await;
    assert_eq!(
        logo_style,
        json!(true),
        "Swagger UI's own <style> is allowed by its hash"
    );
}

/// A page on another port (another origin of the same site, as in the
/// finding) that frames `target`, and a page of its own that it frames as a
/// control. Serves until the test ends.
async fn framing_site(target: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let target = target.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = match path.as_str() {
                    "/own" => "<!doctype html><p id=\"own\">framed</p>".to_owned(),
                    "/control" => {
                        "<!doctype html><iframe id=\"f\" src=\"/own\" onload=\"document.title='loaded'\"></iframe>"
                            .to_owned()
                    }
                    _ => format!(
                        "<!doctype html><iframe id=\"f\" src=\"{target}\" onload=\"document.title='loaded'\"></iframe>"
                    ),
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    base
}

async fn wait_frame_loaded(b: &Browser) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.execute("return document.title", json!([])).await != json!("loaded") {
        assert!(Instant::now() < deadline, "the frame did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_refuses_to_show_our_pages_in_a_frame_of_another_origin() {
    let app = TestApp::spawn().await;
    let site = framing_site(app.url("/admin/users?view=all")).await;
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;

    // control: the framing site frames its own page, and the test sees into it
    b.goto(&format!("{site}/control")).await;
    wait_frame_loaded(&b).await;
    let f = b.find("#f").await;
    b.frame(Some(&f)).await;
    assert_eq!(b.text("#own").await, "framed");
    b.frame(None).await;

    // the signed-in grid, framed by the other origin: refused, nothing of it shows
    b.goto(&format!("{site}/")).await;
    wait_frame_loaded(&b).await;
    let f = b.find("#f").await;
    b.frame(Some(&f)).await;
    assert!(
        b.try_find("#users-grid").await.is_none(),
        "the grid rendered inside a frame"
    );
    let text = b
        .execute("return document.body ? document.body.innerText : ''", json!([]))
        .await;
    assert!(
        !text.as_str().unwrap_or("").contains("admin@"),
        "no user data inside the frame: {text}"
    );
    b.frame(None).await;
}
