//! JSON body and query extractors whose rejections are problem+json, like every other error.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::http::Problem;

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
        JsonRejection::JsonDataError(e) => Problem::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid Request",
            e.body_text(),
        ),
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
