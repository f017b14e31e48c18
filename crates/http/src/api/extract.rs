//! JSON body and query extractors whose rejections are problem+json, like every other error.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::Problem;
use crate::problem::FieldError;

/// Largest API request body.
pub const MAX_API_BODY: usize = 64 * 1024;

/// A JSON request body.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(e) => Err(json_problem(e)),
        }
    }
}

fn json_problem(e: JsonRejection) -> Problem {
    match e {
        JsonRejection::JsonDataError(e) => match data_error_field(&e.body_text()) {
            // Well-formed JSON of the wrong shape is a validation error like any other: name
            // the field in `errors`, as `Check` does.
            Some(field) => Problem::invalid(vec![field]),
            None => Problem::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid Request",
                e.body_text(),
            ),
        },
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "send Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(_) => Problem::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            format!("request bodies are limited to {MAX_API_BODY} bytes"),
        ),
        other => Problem::bad_request(other.body_text()),
    }
}

/// The field a serde data error is about, from axum's text: `…target type: PATH: MESSAGE`
/// (unknown field, wrong type) or `…target type: missing field `NAME` …`.
fn data_error_field(text: &str) -> Option<FieldError> {
    let msg = text
        .split_once("target type: ")
        .map_or(text, |(_, m)| m)
        .trim();
    let (path, inner) = match msg.split_once(": ") {
        Some((p, m)) if !p.is_empty() && p != "." && !p.contains(' ') => (Some(p), m),
        _ => (None, msg),
    };
    let inner = inner.split(" at line ").next().unwrap_or(inner);
    if let Some(rest) = inner.strip_prefix("missing field `") {
        let name = rest.split('`').next()?;
        let field = path.map_or_else(|| name.to_owned(), |p| format!("{p}.{name}"));
        return Some(FieldError {
            field,
            message: "is required".to_owned(),
        });
    }
    Some(FieldError {
        field: path?.to_owned(),
        message: inner.to_owned(),
    })
}

/// A query string.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(Problem::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid Request",
                e.body_text(),
            )),
            Err(e) => Err(Problem::bad_request(e.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_error_fields() {
        let p = "Failed to deserialize the JSON body into the target type: ";
        let f = data_error_field(&format!(
            "{p}role: unknown field `role`, expected one of `email` at line 1 column 71"
        ))
        .unwrap();
        assert_eq!(f.field, "role");
        assert!(f.message.starts_with("unknown field `role`"));
        let f = data_error_field(&format!("{p}missing field `name` at line 1 column 2")).unwrap();
        assert_eq!(
            (f.field.as_str(), f.message.as_str()),
            ("name", "is required")
        );
        let f = data_error_field(&format!(
            "{p}email: invalid type: integer `5`, expected a string at line 1 column 10"
        ))
        .unwrap();
        assert_eq!(f.field, "email");
        assert_eq!(
            data_error_field(&format!("{p}invalid type: null")).map(|f| f.field),
            None
        );
    }
}
