//! In headless Chromium: set up two-factor sign-in on the profile (the QR code
//! renders under the CSP, the secret is read from the page), then sign in
//! with the password and a code computed from that secret.

use serde_json::json;

use crate::second_factor::{code_at, now_secs};
use crate::support::webdriver::Browser;
use crate::support::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn enrol_on_the_profile_then_sign_in_with_a_code() {
    let app = TestApp::spawn().await;
    app.create_user("jdoe", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "jdoe", PASSWORD).await;
    b.goto(&app.url("/profile")).await;
    b.click("#two-factor-setup").await;
    let secret = b.text("#totp-secret").await;
    assert_eq!(secret.len(), 32, "{secret}");
    // the SVG QR code is shown (a data: image, allowed by the CSP)
    let width = b
        .execute("return document.getElementById('totp-qr').naturalWidth", json!([]))
        .await;
    assert!(width.as_i64().unwrap_or(0) >= 200, "{width}");
    let enrolled_at = now_secs();
    b.type_into("#code", &code_at(&secret, enrolled_at)).await;
    b.click("#confirm-code").await;
    b.find("#recovery-codes").await;
    assert_eq!(b.find_all("#recovery-codes li").await.len(), 10);
    b.click("#continue").await;
    b.wait_text("Recovery codes left: 10").await;

    b.click("form[action='/logout'] button").await;
    b.find("#sign-in").await;
    b.type_into("#username", "jdoe").await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.find("#verify-code").await;
    // a newer step than the one used at enrolment: one code is accepted once
    b.type_into("#code", &code_at(&secret, enrolled_at + 30)).await;
    b.click("#verify-code").await;
    b.find("#profile-username").await;
    assert_eq!(b.text("#profile-username").await, "jdoe");
}
