//! Every request gets an id (`x-request-id`: the client's, or a new random
//! one), sent back in the response and carried by a tracing span, so every
//! log line written while the request runs names it. Only the path is
//! logged, never the query string: a reset link carries its token there.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone, Copy, Default)]
struct RandomId;

impl MakeRequestId for RandomId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&crate::crypto::random_token(9))
            .ok()
            .map(RequestId::new)
    }
}

/// The id given to a request (by [`apply`]'s layers), for an error page to show.
pub fn id_of<B>(req: &Request<B>) -> &str {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

pub fn apply(app: Router) -> Router {
    app.layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        // at ERROR level the span is on whatever MUSTER_LOG lets through, so every line shows the id
        tracing::error_span!("request", id = %id_of(req), method = %req.method(), path = %req.uri().path())
    }))
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(SetRequestIdLayer::new(REQUEST_ID, RandomId))
}
