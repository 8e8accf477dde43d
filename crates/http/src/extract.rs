//! Request extractors whose every rejection is our JSON error with the field
//! at fault named: a client learns what to fix from the response alone.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, header, request::Parts},
};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Limit on request bodies; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body. Requires a JSON content type; unknown fields are rejected
/// where the target type says `deny_unknown_fields`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                ApiError::bad_request("invalid_body", "could not read the request body")
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request("invalid_json", format!("request body is not valid JSON: {inner}"));
        }
        let field = field_of(&path, &inner.to_string());
        let err = ApiError::bad_request("invalid_body", body_message(field.as_deref(), &inner.to_string()));
        match field {
            Some(f) => err.with_field(f),
            None => err,
        }
    })?;
    // Trailing garbage after the value is malformed JSON too.
    de.end().map_err(|e| ApiError::bad_request("invalid_json", format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// The field an error is about: the path where deserialization stopped, or
/// the name serde put in a "missing field" / "unknown field" message.
fn field_of(path: &str, message: &str) -> Option<String> {
    for marker in ["missing field `", "unknown field `"] {
        if let Some(name) = message.split(marker).nth(1).and_then(|rest| rest.split('`').next()) {
            // For unknown fields the path already ends at the field;
            // for missing ones it stops at the parent.
            let already = path == name || path.ends_with(&format!(".{name}"));
            return Some(match (path, already) {
                (".", _) => name.to_owned(),
                (_, true) => path.to_owned(),
                _ => format!("{path}.{name}"),
            });
        }
    }
    (path != ".").then(|| path.to_owned())
}

fn body_message(field: Option<&str>, message: &str) -> String {
    // Drop serde's "at line 1 column 9": the field says where.
    let message = message.split(" at line ").next().unwrap_or(message);
    match field {
        Some(f) if !message.contains(&format!("`{f}`")) => format!("{f}: {message}"),
        _ => message.to_owned(),
    }
}

/// A query string, strictly parsed.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            let field = field_of(&path, &message);
            let err = ApiError::bad_request("invalid_query", body_message(field.as_deref(), &message));
            match field {
                Some(f) => err.with_field(f),
                None => err,
            }
        })
    }
}

/// What a resource is called in its 404 (`"webhook not found"`).
pub trait Noun {
    const NOUN: &'static str;
}

/// The `{id}` of a path (the first parameter of `/things/{id}/…`) when it can
/// name something: an id this API issued. Anything else is the same 404 as
/// a missing or hidden one, without a database round trip.
pub struct PathId<N: Noun>(pub String, std::marker::PhantomData<N>);

impl<N: Noun> PathId<N> {
    pub fn id(&self) -> &str {
        &self.0
    }
}

impl<N: Noun, S: Send + Sync> FromRequestParts<S> for PathId<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found(N::NOUN))?;
        match params.iter().next() {
            Some((_, id)) if skycast_core::ids::is_id(id) => Ok(Self(id.to_owned(), std::marker::PhantomData)),
            _ => Err(ApiError::not_found(N::NOUN)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        n: Option<u32>,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"title": 5}"#).unwrap_err();
        assert_eq!((e.code.as_ref(), e.field.as_deref()), ("invalid_body", Some("title")));
        let e = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("title"));
        let e = parse_json::<Body>(br#"{"title":"x","colour":1}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("colour"));
        assert_eq!(e.message, "unknown field `colour`, expected `title` or `n`");
        let e = parse_json::<Body>(br#"{"title":"x""#).unwrap_err();
        assert_eq!(e.code, "invalid_json");
        let e = parse_json::<Body>(br#"{"title":"x"} trailing"#).unwrap_err();
        assert_eq!(e.code, "invalid_json");
        assert!(parse_json::<Body>(br#"{"title":"x","n":3}"#).is_ok());
    }
}
