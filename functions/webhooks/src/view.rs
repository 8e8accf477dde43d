//! What the API shows of webhook endpoints and their deliveries.

use serde::Serialize;
use skycast_core::webhook::{Delivery, DeliveryStatus, EventType, Webhook};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    /// The event types it receives; empty: every type.
    pub events: Vec<EventType>,
    pub description: String,
    /// A disabled endpoint is sent nothing (its queued deliveries are dropped).
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Signs every delivery (`Skycast-Signature`): in the creation's answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<Webhook> for WebhookView {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events,
            description: w.description,
            enabled: w.enabled,
            created_at: w.created_at,
            updated_at: w.updated_at,
            secret: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The receiver's HTTP status on the last attempt, if it answered.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed (timeout, refused address, status…).
    pub last_error: Option<String>,
    /// The start of the receiver's last answer (at most 1 KiB).
    pub last_response: Option<String>,
    pub last_attempt_at: Option<String>,
    /// When the next attempt is due, while `retrying`.
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    /// When the event happened.
    pub created_at: String,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            delivery_id: d.delivery_id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_response: d.last_response,
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
}

/// A test event on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    pub event_id: String,
    /// Its entry in `GET /webhooks/{id}/deliveries`.
    pub delivery_id: String,
}
