//! Extractors whose every rejection is a JSON:API error with a pointer:
//! the request document, an id in the path, and the query string.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON:API request document, parsed into `T`; a wrong shape names where it is wrong.
pub struct JsonBody<T>(pub T);

/// The request's `Content-Type`, as JSON:API 1.1 says: the JSON:API media type
/// with no parameters but `ext` (none supported, so it must be empty) and
/// `profile` (ignored), or plain `application/json` (any parameters, e.g. `charset`).
fn acceptable_content_type(value: Option<&str>) -> bool {
    let Some(v) = value else { return false };
    let media = MediaType::parse(v);
    match media.essence.as_str() {
        "application/json" => true,
        super::MEDIA_TYPE => media.jsonapi_parameters_allowed(),
        _ => false,
    }
}

/// One media type of a header: its essence (lowercase) and its parameters.
struct MediaType {
    essence: String,
    parameters: Vec<(String, String)>,
}

impl MediaType {
    fn parse(raw: &str) -> MediaType {
        let mut parts = raw.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let parameters = parts
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_owned())
            })
            .collect();
        MediaType { essence, parameters }
    }

    /// Only `ext` and `profile`, and no extension asked for: muster supports none.
    fn jsonapi_parameters_allowed(&self) -> bool {
        self.parameters.iter().all(|(k, v)| match k.as_str() {
            "profile" => true,
            "ext" => v.trim().is_empty(),
            _ => false,
        })
    }
}

/// JSON:API 1.1: when `Accept` names the JSON:API media type only with
/// parameters other than `ext` and `profile` (or with an extension muster does
/// not support), the answer is 406. Other media types are not judged: the
/// API answers JSON:API (and `text/csv` for a download) whatever else is asked.
pub fn acceptable_accept(value: Option<&str>) -> bool {
    let Some(v) = value else { return true };
    let jsonapi: Vec<MediaType> = v
        .split(',')
        .map(MediaType::parse)
        .filter(|m| m.essence == super::MEDIA_TYPE)
        .collect();
    jsonapi.is_empty()
        || jsonapi.iter().any(|m| {
            m.parameters
                .iter()
                .filter(|(k, _)| k != "q")
                .all(|(k, v)| k == "profile" || (k == "ext" && v.trim().is_empty()))
        })
}

/// Refuse, before any handler runs, a request whose `Accept` the API cannot satisfy (406).
pub async fn check_accept(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let accept = req
        .headers()
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    if !accept.is_empty() && !acceptable_accept(Some(&accept)) {
        return ApiError::not_acceptable().into_response();
    }
    next.run(req).await
}

/// `data.attributes.username` → `/data/attributes/username`.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// serde says "missing field `x`" at the parent; point at the field itself.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if !acceptable_content_type(ct) {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text(), ""))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("A request document is required.", ""));
        }
        // a document is an object (serde would read a struct from an array too)
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request("The request document must be a JSON object.", ""));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize::<_, T>(&mut *de) {
            // one document: `{…}{…}` or `{…} x` is not JSON
            Ok(v) => match de.end() {
                Ok(()) => Ok(JsonBody(v)),
                Err(e) => Err(ApiError::bad_request(
                    format!("The request body is not valid JSON: {e}"),
                    "",
                )),
            },
            Err(e) => {
                let mut pointer = pointer_of(e.path());
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                    return Err(ApiError::bad_request(
                        format!("The request body is not valid JSON: {inner}"),
                        "",
                    ));
                }
                let message = inner.to_string();
                // serde appends " at line L column C": the pointer says where more usefully
                let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
                if let Some(field) = missing_field(&message) {
                    pointer.push('/');
                    pointer.push_str(field);
                }
                Err(ApiError::bad_request(message, pointer))
            }
        }
    }
}

/// serde builds a struct from a JSON array as readily as from an object
/// (`"relationships": [null, null]` would pass): the members of a request
/// document that are objects are read with these, which take only an object.
pub mod object {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

    struct ObjectVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }

    /// An object, never an array.
    pub fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
        d.deserialize_map(ObjectVisitor(PhantomData))
    }

    struct OptionVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for OptionVisitor<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            required(d).map(Some)
        }
    }

    /// An object or null (or left out, with `#[serde(default)]`).
    pub fn optional<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_option(OptionVisitor(PhantomData))
    }

    /// One object, for the elements of [`list`].
    struct Element<T>(T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Element<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            required(d).map(Element)
        }
    }

    struct ListVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
            let items: Vec<Element<T>> = Deserialize::deserialize(SeqAccessDeserializer::new(seq))?;
            Ok(items.into_iter().map(|e| e.0).collect())
        }
    }

    /// An array of objects.
    pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(ListVisitor(PhantomData))
    }
}

/// The `{id}` of the path, a whole number.
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<i64>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) => Ok(IdPath(id)),
            Err(_) => Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "bad_request",
                "Bad request",
                "The id in the path must be a whole number.",
                super::error::ErrorSource {
                    pointer: String::new(),
                    parameter: Some("id".to_owned()),
                    header: None,
                },
            )),
        }
    }
}

/// The query string as name/value pairs, in order; parsing each is the handler's.
pub struct RawQuery(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map(RawQuery)
            .map_err(|e| ApiError::bad_request(format!("The query string cannot be read: {e}"), ""))
    }
}

/// A query value that must be a whole number within bounds.
pub fn int_param(name: &str, raw: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    match raw.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::parameter(
            format!("{name} must be a whole number from {min} to {max} (got {raw:?})"),
            name,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(acceptable_content_type(Some("application/vnd.api+json")));
        assert!(acceptable_content_type(Some("application/json; charset=utf-8")));
        assert!(acceptable_content_type(Some(
            "Application/VND.API+JSON; profile=\"https://example.com/p\""
        )));
        assert!(acceptable_content_type(Some("application/vnd.api+json; ext=\"\"")));
        assert!(!acceptable_content_type(Some("text/plain")));
        assert!(!acceptable_content_type(None));
        // JSON:API 1.1: any other parameter, or an extension muster does not support, is a 415
        assert!(!acceptable_content_type(Some(
            "application/vnd.api+json; charset=utf-8"
        )));
        assert!(!acceptable_content_type(Some("application/vnd.api+json; version=1")));
        assert!(!acceptable_content_type(Some(
            "application/vnd.api+json; ext=\"https://jsonapi.org/ext/atomic\""
        )));
    }

    #[test]
    fn accept_headers() {
        for ok in [
            "application/vnd.api+json",
            "*/*",
            "application/json",
            "text/csv",
            "application/vnd.api+json; profile=\"https://example.com/p\"",
            "application/vnd.api+json; q=0.9",
            "application/vnd.api+json; charset=utf-8, application/vnd.api+json",
        ] {
            assert!(acceptable_accept(Some(ok)), "{ok}");
        }
        for refused in [
            "application/vnd.api+json; charset=utf-8",
            "application/vnd.api+json; version=2, */*",
            "application/vnd.api+json; ext=\"https://jsonapi.org/ext/atomic\"",
        ] {
            assert!(!acceptable_accept(Some(refused)), "{refused}");
        }
    }

    #[test]
    fn missing_fields_are_named() {
        assert_eq!(missing_field("missing field `email`"), Some("email"));
        assert_eq!(missing_field("invalid type"), None);
    }
}
