//! The webhooks function (issue 15): a signed-in user registers HTTPS
//! endpoints for events about their streams, recordings and videos, reads
//! each endpoint's delivery log and sends it a test event. Deliveries are
//! the sender function's (`functions/webhook-sender`).

mod handlers;
mod view;

use axum::{
    Router,
    routing::{get, post},
};
use skycast_http::ApiContext;
use utoipa::OpenApi;

pub use handlers::{CreateWebhookRequest, UpdateWebhookRequest};
pub use view::{DeliveryList, DeliveryView, TestSent, WebhookList, WebhookView};

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/webhooks", post(handlers::create).get(handlers::list))
        .route("/webhooks/{id}", get(handlers::get_one).patch(handlers::update).delete(handlers::delete))
        .route("/webhooks/{id}/deliveries", get(handlers::deliveries))
        .route("/webhooks/{id}/test", post(handlers::test))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::create,
        handlers::list,
        handlers::get_one,
        handlers::update,
        handlers::delete,
        handlers::deliveries,
        handlers::test
    ),
    components(schemas(
        CreateWebhookRequest,
        UpdateWebhookRequest,
        WebhookView,
        WebhookList,
        DeliveryView,
        DeliveryList,
        TestSent,
        skycast_core::webhook::EventType,
        skycast_core::webhook::DeliveryStatus
    )),
    tags((name = "webhooks", description = "Signed HTTPS callbacks for stream, recording and video events"))
)]
pub struct WebhooksDoc;
