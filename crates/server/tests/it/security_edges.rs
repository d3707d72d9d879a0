//! The edges of issue 18, each through HTTP: redirect targets after sign-in,
//! the per-address pause of failed web sign-ins, the API-key limiter that
//! counts only failures, CSRF only in the body or a header, and Suggest
//! Password only for a signed-in user (or a valid reset link).

use crate::support::{ADMIN_PASSWORD, TestApp, location};

/// `next` values that must never lead off-site, nor to a 500.
const HOSTILE_NEXT: &[&str] = &[
    "/\t/evil.example/x",
    "/\n/evil.example/x",
    "/\r/evil.example/x",
    "/\u{b}/evil.example/x",
    "/\u{c}/evil.example/x",
    "/\0/evil.example/x",
    "/admin\r\nSet-Cookie: x=1",
    "/\\evil.example",
    "\\\\evil.example",
    "//evil.example",
    "///evil.example",
    "/%09/evil.example/x",
    "/%0a/evil.example/x",
    "/%0D%0ASet-Cookie:%20x=1",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
];

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_never_redirects_off_site_nor_fails_on_a_hostile_next() {
    let app = TestApp::spawn().await;
    for next in HOSTILE_NEXT {
        let c = app.client();
        let r = c
            .post(
                "/login",
                "/login",
                &[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(location(&r), "/admin/users", "{next:?}: the local default");

        // signed in, the sign-in page sends a hostile `next` to the home page
        let q = serde_urlencoded::to_string([("next", next)]).unwrap();
        let r = c.get(&format!("/login?{q}")).await;
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(location(&r), "/", "{next:?}");

        // anonymous, the form does not carry it
        let anon = app.client();
        let r = anon.get(&format!("/login?{q}")).await;
        assert_eq!(r.status(), 200, "{next:?}");
        let html = r.text().await.unwrap();
        assert!(!html.contains("evil.example"), "{next:?}");
    }

    // a local target still works, normalized
    let c = app.client();
    let r = c
        .post(
            "/login",
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", "/admin/users?view=all"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/users?view=all");
}
