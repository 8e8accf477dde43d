//! Running a router as a Lambda function behind API Gateway.

use axum::Router;

/// Serves `router` (already finished with [`crate::app::finish`]) to the
/// Lambda Runtime API until the sandbox is torn down.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(router).await
}
