use axum::{
    Json as JsonResponse,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use skycast_core::{
    timefmt,
    webhook::{self, Envelope, EventType, UrlPolicy, Webhook, WebhookEvent},
};
use skycast_http::{
    ApiContext, ApiError, ErrorBody,
    auth::AuthUser,
    error::ApiResult,
    extract::{Json, Noun, PathId},
};
use utoipa::ToSchema;

use crate::view::{DeliveryList, DeliveryView, TestSent, WebhookList, WebhookView};

pub struct WebhookNoun;
impl Noun for WebhookNoun {
    const NOUN: &'static str = "webhook";
}
type WebhookId = PathId<WebhookNoun>;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// `https://` on the public internet (`http://127.0.0.1:…` too under `make dev`).
    pub url: String,
    /// Event types to receive; every type when absent or empty.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// A note for yourself (at most 200 characters).
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

fn not_found() -> ApiError {
    ApiError::not_found("webhook")
}

/// The URL's form and, now, where its name points: both must be allowed.
async fn checked_url(ctx: &ApiContext, text: &str) -> ApiResult<String> {
    let policy = UrlPolicy { allow_loopback: ctx.config.webhooks.allow_loopback };
    let refused = |e: webhook::UrlRefusal| ApiError::bad_request("url_not_allowed", e.to_string()).with_field("url");
    let receiver = policy.check_url(text).map_err(refused)?;
    webhook::resolve_allowed(policy, &receiver).await.map_err(refused)?;
    Ok(receiver.url.to_string())
}

fn event_types(names: Option<Vec<String>>) -> ApiResult<Vec<EventType>> {
    let mut types = Vec::new();
    for name in names.unwrap_or_default() {
        let t = EventType::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = EventType::SUBSCRIBABLE.iter().map(|t| t.as_str()).collect();
            ApiError::bad_request("unknown_event_type", format!("{name:?} is not one of {}", known.join(", ")))
                .with_field("events")
        })?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(types)
}

fn description(text: Option<String>) -> ApiResult<Option<String>> {
    match text {
        Some(d) if d.chars().count() > 200 => {
            Err(ApiError::bad_request("validation_failed", "at most 200 characters").with_field("description"))
        }
        other => Ok(other.map(|d| d.trim().to_owned())),
    }
}

async fn owned(ctx: &ApiContext, id: &str, caller: &str) -> ApiResult<Webhook> {
    match ctx.stores.webhooks.get(id).await? {
        Some(w) if w.owner_id == caller => Ok(w),
        _ => Err(not_found()),
    }
}

/// Register an endpoint. The answer carries its signing secret (shown only here).
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateWebhookRequest, security(("bearer" = [])), responses(
    (status = 201, body = WebhookView),
    (status = 400, description = "url_not_allowed, unknown_event_type, too_many_webhooks, validation_failed", body = ErrorBody),
    (status = 401, body = ErrorBody),
))]
pub async fn create(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    Json(req): Json<CreateWebhookRequest>,
) -> ApiResult<Response> {
    let events = event_types(req.events)?;
    let description = description(req.description)?.unwrap_or_default();
    if ctx.stores.webhooks.by_owner(&caller.id).await?.len() >= webhook::MAX_PER_USER {
        return Err(ApiError::bad_request(
            "too_many_webhooks",
            format!("at most {} endpoints per user; delete one first", webhook::MAX_PER_USER),
        ));
    }
    let url = checked_url(&ctx, &req.url).await?;
    let mut w = Webhook::create(&caller.id, &url, events, &description, &timefmt::now_rfc3339());
    w.enabled = req.enabled.unwrap_or(true);
    ctx.stores.webhooks.create(&w).await?;
    tracing::info!(webhook_id = %w.id, "webhook registered");
    let secret = w.secret.clone();
    let mut body = WebhookView::from(w);
    body.secret = Some(secret);
    Ok((StatusCode::CREATED, JsonResponse(body)).into_response())
}

/// The caller's endpoints, newest first.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("bearer" = [])), responses(
    (status = 200, body = WebhookList),
    (status = 401, body = ErrorBody),
))]
pub async fn list(State(ctx): State<ApiContext>, caller: AuthUser) -> ApiResult<JsonResponse<WebhookList>> {
    let items = ctx.stores.webhooks.by_owner(&caller.id).await?;
    Ok(JsonResponse(WebhookList { items: items.into_iter().map(WebhookView::from).collect() }))
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), responses(
    (status = 200, body = WebhookView),
    (status = 401, body = ErrorBody),
    (status = 404, description = "no such endpoint, or not the caller's", body = ErrorBody),
))]
pub async fn get_one(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    id: WebhookId,
) -> ApiResult<JsonResponse<WebhookView>> {
    Ok(JsonResponse(owned(&ctx, id.id(), &caller.id).await?.into()))
}

/// Change an endpoint's URL, events, description or enabled flag.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", request_body = UpdateWebhookRequest, security(("bearer" = [])), responses(
    (status = 200, body = WebhookView),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn update(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    id: WebhookId,
    Json(req): Json<UpdateWebhookRequest>,
) -> ApiResult<JsonResponse<WebhookView>> {
    let mut w = owned(&ctx, id.id(), &caller.id).await?;
    if let Some(events) = req.events {
        w.events = event_types(Some(events))?;
    }
    if let Some(d) = description(req.description)? {
        w.description = d;
    }
    if let Some(enabled) = req.enabled {
        w.enabled = enabled;
    }
    if let Some(url) = req.url {
        w.url = checked_url(&ctx, &url).await?;
    }
    w.updated_at = timefmt::now_rfc3339();
    if !ctx.stores.webhooks.replace(&w).await? {
        return Err(not_found());
    }
    Ok(JsonResponse(w.into()))
}

/// Delete an endpoint: nothing more is sent to it, queued deliveries included.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), responses(
    (status = 204),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn delete(State(ctx): State<ApiContext>, caller: AuthUser, id: WebhookId) -> ApiResult<StatusCode> {
    if !ctx.stores.webhooks.delete(id.id(), &caller.id).await? {
        return Err(not_found());
    }
    tracing::info!(webhook_id = %id.id(), "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoint's deliveries, newest first (the last 100, kept 30 days).
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])), responses(
    (status = 200, body = DeliveryList),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn deliveries(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    id: WebhookId,
) -> ApiResult<JsonResponse<DeliveryList>> {
    owned(&ctx, id.id(), &caller.id).await?;
    let items = ctx.stores.webhooks.deliveries(id.id(), 100).await?;
    Ok(JsonResponse(DeliveryList { items: items.into_iter().map(DeliveryView::from).collect() }))
}

/// Send the endpoint a `webhook.test` event, signed as every delivery is.
/// Its outcome shows in the delivery log within seconds.
#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks", security(("bearer" = [])), responses(
    (status = 202, body = TestSent),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 429, description = "rate_limited: too many tests", body = ErrorBody),
))]
pub async fn test(State(ctx): State<ApiContext>, caller: AuthUser, id: WebhookId) -> ApiResult<Response> {
    let w = owned(&ctx, id.id(), &caller.id).await?;
    skycast_http::limits::take(&ctx, &ctx.config.limits.webhook_tests_per_user, &caller.id).await?;
    let data = serde_json::json!({ "webhook_id": w.id, "message": "a test event from Skycast" });
    let event = WebhookEvent::fresh(EventType::WebhookTest, &timefmt::now_rfc3339(), data);
    let sent = TestSent { event_id: event.id.clone(), delivery_id: webhook::delivery_id(&event) };
    ctx.webhooks.send(Envelope { owner_id: w.owner_id, event, webhook_id: Some(w.id) }).await?;
    Ok((StatusCode::ACCEPTED, JsonResponse(sent)).into_response())
}
