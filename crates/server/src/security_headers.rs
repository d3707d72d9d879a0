//! Security headers on every response, UI and API alike.
//!
//! | Header | Value | Why |
//! |---|---|---|
//! | `Content-Security-Policy` | [`CSP`] | no inline script or style (the UI's are files under `/static/`, see `web::assets`), nothing from other origins, no framing |
//! | `X-Frame-Options` | `DENY` | framing, for browsers without `frame-ancestors` |
//! | `X-Content-Type-Options` | `nosniff` | a download or an upload is never run as a script or a page |
//! | `Referrer-Policy` | `same-origin`; `no-referrer` on `/reset-password` | that page's URL carries a reset token |
//! | `Cache-Control` | `no-store` on every response that does not set its own | signed-in pages and API documents stay out of shared and disk caches; `/static/` sets its own |
//! | `Strict-Transport-Security` | `max-age=31536000`, only when the public URL is https | a plain-http deployment must not pin itself to https |
//!
//! Each is set only when the handler did not set it: `/api/docs` (Swagger UI)
//! sets its own [`SWAGGER_CSP`], the static files their own `Cache-Control`.

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Config;

/// The policy of every page: scripts, styles, images, fetches and form
/// targets from this origin only (images also as `data:` URLs), no plugins,
/// no `<base>`, and no page of another origin may frame ours.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; \
     frame-ancestors 'none'";

/// The policy of the Swagger UI sandbox (`/api/docs/…`, the files of the
/// vendored `utoipa-swagger-ui`, Swagger UI 5.32). Its `index.html` loads its
/// scripts from files and React sets its styles through the CSSOM, which a CSP
/// does not restrict, so [`CSP`] holds with one exception: the logo of the
/// standalone preset is an SVG with one `<style>` element, allowed here by the
/// hash of its text ([`SWAGGER_LOGO_STYLE`]). No `'unsafe-inline'`; if a newer
/// Swagger UI changes that text, only the logo's colours are lost (and the
/// test `security_headers::swagger_logo_style_hash_matches_the_bundle` fails).
pub const SWAGGER_CSP: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; \
     frame-ancestors 'none'";

/// The text of Swagger UI's one `<style>` element, whose SHA-256 [`SWAGGER_CSP`] allows.
pub const SWAGGER_LOGO_STYLE: &str = ".logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}";

/// The path whose URL carries a secret (the reset token).
const NO_REFERRER_PATH: &str = "/reset-password";

const HSTS: &str = "max-age=31536000";

/// Wrap the whole application (UI, API, static files, fallbacks) in the headers.
pub fn apply(router: Router, config: &Config) -> Router {
    let router = router
        .layer(middleware::from_fn(no_referrer_on_token_pages))
        .layer(if_absent(CONTENT_SECURITY_POLICY, CSP))
        .layer(if_absent(X_FRAME_OPTIONS, "DENY"))
        .layer(if_absent(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(if_absent(REFERRER_POLICY, "same-origin"))
        .layer(if_absent(CACHE_CONTROL, "no-store"));
    if config.secure_cookies() {
        router.layer(if_absent(STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        router
    }
}

fn if_absent(name: axum::http::HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// `Referrer-Policy: no-referrer` on every answer of `/reset-password` (the
/// form, its errors, an error page): a link followed from it must not carry
/// the token in a `Referer`.
async fn no_referrer_on_token_pages(req: Request, next: Next) -> Response {
    let token_page = req.uri().path() == NO_REFERRER_PATH;
    let mut resp = next.run(req).await;
    if token_page {
        resp.headers_mut()
            .insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policies_are_valid_header_values_without_unsafe_script() {
        for p in [CSP, SWAGGER_CSP] {
            assert!(HeaderValue::from_str(p).is_ok(), "{p}");
            assert!(p.contains("frame-ancestors 'none'") && p.contains("script-src 'self';"));
            assert!(!p.contains("unsafe-eval"));
        }
        assert!(!CSP.contains("unsafe-inline") && !SWAGGER_CSP.contains("unsafe-inline"));
        assert!(
            !CSP.contains("  ") && !SWAGGER_CSP.contains("  "),
            "one space between directives"
        );
    }

    #[test]
    fn the_swagger_policy_allows_exactly_the_logo_style() {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SWAGGER_LOGO_STYLE));
        assert!(
            SWAGGER_CSP.contains(&format!("style-src 'self' 'sha256-{hash}';")),
            "{hash}"
        );
    }
}
