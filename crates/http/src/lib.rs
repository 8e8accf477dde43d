//! HTTP plumbing shared by Skycast's API functions: the JSON error body, strict
//! extractors, authentication, the common layers (request ids, CORS, body
//! limit, logging, metrics), health/readiness, and the Lambda adapter.
//!
//! A function's crate exports a `Router<ApiContext>` of its own routes;
//! [`app::finish`] adds everything common, once, whether the routers run one
//! per Lambda or merged on one port locally.

pub mod app;
pub mod auth;
pub mod client;
pub mod context;
pub mod error;
pub mod extract;
pub mod lambda;
pub mod limits;
pub mod listing;
pub mod metrics;
pub mod openapi;
pub mod telemetry;

pub use context::ApiContext;
pub use error::{ApiError, ErrorBody};
