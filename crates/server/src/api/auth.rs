//! `Authorization: Bearer <key>` → the actor of an API request.
//!
//! No header is a plain 401. A presented key that is malformed, unknown, or
//! whose user may not sign in (disabled, locked, password reset, no longer in
//! the key's organization) is a 401 too, the same for every reason; the
//! reason goes to the login attempts (source `api`) and the address loses a
//! token of its budget of failures (setting `api_key_failures_per_minute`).
//! Once the budget is spent, wrong keys get 429 until it refills; a valid key
//! is always answered, so a client that shares an address with a guesser
//! keeps working.
//! Successful uses are not logged one by one: the key's `last_used_at` says
//! when it was last used.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use muster_domain::Actor;
use muster_store::users::User;

use super::error::ApiError;
use super::limiter::Limiter;
use crate::app::AppState;
use crate::clock;
use crate::services::Ctx;
use crate::services::api_keys::{self, Refusal};
use crate::settings::Settings;
use crate::web::session::ctx_from;

/// The authenticated caller of an API request.
pub struct ApiActor {
    pub actor: Actor,
    pub user: User,
    pub ctx: Ctx,
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

async fn failures_per_minute(state: &AppState) -> Result<u32, ApiError> {
    let mut conn = state.store.conn().await.map_err(crate::error::AppError::from)?;
    let s = Settings::load(&mut conn).await?;
    Ok(u32::try_from(s.get("api_key_failures_per_minute")).unwrap_or(0))
}

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let ctx = ctx_from(&parts.headers, addr);
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            crate::metrics::api_key_refused("missing");
            return Err(ApiError::unauthenticated(
                "A valid API key is required: Authorization: Bearer <key>.",
            ));
        };
        // A valid key is answered whatever the address did before: only failures are limited.
        let presented = header.to_str().ok().and_then(bearer).unwrap_or("");
        let now = clock::now();
        let refusal = match api_keys::authenticate(&state.store, presented, now).await? {
            Ok((actor, user)) => return Ok(ApiActor { actor, user, ctx }),
            Err(r) => r,
        };
        let limiter = parts.extensions.get::<Arc<Limiter>>().cloned();
        if let (Some(l), Some(ip)) = (limiter, addr.map(|a| a.ip())) {
            let per_minute = failures_per_minute(state).await?;
            // Out of budget: 429, neither recorded nor counted again (a flood adds no rows).
            if let Some(wait) = l.blocked(ip, per_minute, now) {
                crate::metrics::api_key_refused("rate_limited");
                return Err(ApiError::rate_limited(wait));
            }
            l.fail(ip, per_minute, now);
        }
        api_keys::record_refusal(&state.store, &ctx, presented, &refusal).await?;
        crate::metrics::api_key_refused(match refusal {
            Refusal::Malformed => "malformed",
            Refusal::Unknown => "unknown",
            Refusal::UserRefused { .. } => "user_refused",
        });
        let detail = match refusal {
            Refusal::Malformed => "The Authorization header must be \"Bearer <API key>\" with a muster API key (mk_…).",
            _ => "The API key is not valid, or its user cannot sign in.",
        };
        Err(ApiError::unauthenticated(detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme() {
        assert_eq!(bearer("Bearer mk_abc"), Some("mk_abc"));
        assert_eq!(bearer("bearer  mk_abc "), Some("mk_abc"));
        assert_eq!(bearer("Basic xyz"), None);
        assert_eq!(bearer("mk_abc"), None);
    }
}
