//! The baseline for the init-time benchmark: the smallest HTTP Lambda, no
//! SDK clients, no keys. Our functions' init is reported as a ratio to it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(|_req: lambda_http::Request| async {
        Ok::<_, lambda_http::Error>(lambda_http::Response::new(lambda_http::Body::from("hello")))
    }))
    .await
}
