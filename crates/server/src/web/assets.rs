//! The UI's static files: its styles and its one script, compiled into the
//! binary and served under `/static/`.
//!
//! They exist so that the Content-Security-Policy can forbid inline script and
//! style (`crate::security_headers`): no template holds a `<script>` body, a
//! `<style>` block, a `style="…"` attribute or an `on…=` handler.
//!
//! Templates link them through [`href`], which appends `?v=<hash of the
//! content>`. A request that carries the current hash may be cached for a year
//! (`immutable`): a new build changes the hash, so an upgrade is never served
//! a stale script. Any other request is answered with `no-cache` and an
//! `ETag`, which a browser revalidates (304) before each use.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        name: "muster.css",
        content_type: CSS,
        body: include_bytes!("../../static/muster.css"),
    },
    Asset {
        name: "users.css",
        content_type: CSS,
        body: include_bytes!("../../static/users.css"),
    },
    Asset {
        name: "user.css",
        content_type: CSS,
        body: include_bytes!("../../static/user.css"),
    },
    Asset {
        name: "dashboard.css",
        content_type: CSS,
        body: include_bytes!("../../static/dashboard.css"),
    },
    Asset {
        name: "error.css",
        content_type: CSS,
        body: include_bytes!("../../static/error.css"),
    },
    Asset {
        name: "grid.js",
        content_type: JS,
        body: include_bytes!("../../static/grid.js"),
    },
    Asset {
        name: "muster.js",
        content_type: JS,
        body: include_bytes!("../../static/muster.js"),
    },
    Asset {
        name: "confirm.js",
        content_type: JS,
        body: include_bytes!("../../static/confirm.js"),
    },
    Asset {
        name: "passkeys.js",
        content_type: JS,
        body: include_bytes!("../../static/passkeys.js"),
    },
];

/// An asset with its content hash, computed once.
struct Versioned {
    asset: &'static Asset,
    /// 16 hex digits of the SHA-256 of the body.
    version: String,
    /// `/static/<name>?v=<version>`.
    href: String,
    /// `"<version>"`.
    etag: HeaderValue,
}

static VERSIONED: LazyLock<Vec<Versioned>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let version = hex::encode(&digest[..8]);
            let href = format!("/static/{}?v={version}", asset.name);
            // hex digits and quotes: always a valid header value
            let etag =
                HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
            Versioned {
                asset,
                version,
                href,
                etag,
            }
        })
        .collect()
});

fn find(name: &str) -> Option<&'static Versioned> {
    VERSIONED.iter().find(|v| v.asset.name == name)
}

/// The URL of an asset for a template: `{{ crate::web::assets::href("muster.js") }}`.
/// A name that is not an asset gives a URL that answers 404 (and the tests
/// fetch every asset a page links).
pub fn href(name: &str) -> &'static str {
    find(name).map_or("/static/not-found", |v| v.href.as_str())
}

/// `/static/{name}`, outside the session middleware (an asset needs no session).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/static/{name}", get(serve))
}

async fn serve(Path(name): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let Some(v) = find(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let current = query.is_some_and(|q| q.strip_prefix("v=") == Some(v.version.as_str()));
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut out = HeaderMap::new();
    out.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(ETAG, v.etag.clone());
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.split(',').any(|t| t.trim().trim_start_matches("W/") == v.etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    out.insert(CONTENT_TYPE, HeaderValue::from_static(v.asset.content_type));
    (out, v.asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_versioned_href() {
        for a in ASSETS {
            let h = href(a.name);
            assert!(h.starts_with(&format!("/static/{}?v=", a.name)), "{h}");
            assert_eq!(h.len(), format!("/static/{}?v=", a.name).len() + 16);
        }
        assert_eq!(href("nope.js"), "/static/not-found");
    }

    #[test]
    fn no_asset_is_empty() {
        assert!(ASSETS.iter().all(|a| !a.body.is_empty()));
    }
}
