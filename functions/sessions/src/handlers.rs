use axum::{
    Json as JsonResponse,
    extract::{FromRequestParts, Path, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use skycast_core::{
    ids,
    relay_session::{self, RelaySession, RelayStatus},
    store::Invitation,
    timefmt,
};
use skycast_http::{ApiContext, ApiError, ErrorBody, auth::AuthUser, error::ApiResult, extract::Json};
use utoipa::ToSchema;

use crate::view::{OperatorList, SessionList, SessionView};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// A UUID naming the source; a new one when absent. When it is a user's
    /// id, that user's access token also opens the client's socket.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Users invited to operate, besides the creator (at most 100).
    #[serde(default)]
    pub operators: Option<Vec<String>>,
}

fn not_found() -> ApiError {
    ApiError::not_found("session")
}

/// A `{id}` that can name a session; anything else is the same 404 as a
/// missing or hidden one, without a database round trip.
pub struct SessionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) if ids::is_id(&id) => Ok(SessionId(id)),
            // `/sessions/{id}/operators/{user_id}` has two segments.
            _ => match Path::<(String, String)>::from_request_parts(parts, state).await {
                Ok(Path((id, _))) if ids::is_id(&id) => Ok(SessionId(id)),
                _ => Err(not_found()),
            },
        }
    }
}

fn view(ctx: &ApiContext, s: RelaySession, caller: &str) -> SessionView {
    let s = s.as_of(timefmt::unix_now());
    SessionView::new(s, caller, &ctx.config.relay.ws_base_url, ctx.config.relay.max_operators)
}

async fn visible(ctx: &ApiContext, id: &str, caller: &str) -> ApiResult<RelaySession> {
    match ctx.stores.relay_sessions.get(id).await? {
        Some(s) if s.visible_to(caller) => Ok(s),
        _ => Err(not_found()),
    }
}

/// An invited user must exist: a typo would otherwise invite nobody, silently.
async fn check_user(ctx: &ApiContext, user_id: &str, field: &str) -> ApiResult<()> {
    let exists = ids::is_id(user_id) && ctx.stores.users.get(user_id).await?.is_some();
    if exists {
        Ok(())
    } else {
        Err(ApiError::bad_request("unknown_user", format!("no user {user_id:?}")).with_field(field))
    }
}

/// Create a session. The answer carries the client's socket URL and its
/// stream key (shown only here).
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = CreateSessionRequest, security(("bearer" = [])), responses(
    (status = 201, body = SessionView),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 429, description = "rate_limited: too many sessions created", body = ErrorBody),
))]
pub async fn create(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    Json(req): Json<CreateSessionRequest>,
) -> ApiResult<Response> {
    let client_id = match req.client_id.as_deref() {
        // The client's id is a name, not a sort key: random, as a client's own would be.
        None => uuid::Uuid::new_v4().hyphenated().to_string(),
        Some(text) => relay_session::parse_client_id(text).ok_or_else(|| {
            ApiError::bad_request("invalid_client_id", "client_id must be a UUID (8-4-4-4-12 hex digits)")
                .with_field("client_id")
        })?,
    };
    let mut invited = req.operators.unwrap_or_default();
    invited.sort();
    invited.dedup();
    if invited.len() > relay_session::MAX_INVITED {
        return Err(ApiError::bad_request(
            "too_many_operators",
            format!("invite at most {} operators", relay_session::MAX_INVITED),
        )
        .with_field("operators"));
    }
    if invited.contains(&client_id) {
        return Err(ApiError::bad_request("client_cannot_operate", "the client is the source, not an operator")
            .with_field("operators"));
    }
    // Counted first: a refused creation costs no lookups.
    skycast_http::limits::take(&ctx, &ctx.config.limits.relay_sessions_per_user, &caller.id).await?;
    for user in &invited {
        check_user(&ctx, user, "operators").await?;
    }
    let (session, key) = RelaySession::create(&caller.id, &client_id, invited, &timefmt::now_rfc3339());
    ctx.stores.relay_sessions.create(&session).await?;
    tracing::info!(session_id = %session.id, "relay session created");
    let mut body = view(&ctx, session, &caller.id);
    body.stream_key = Some(key);
    Ok((StatusCode::CREATED, JsonResponse(body)).into_response())
}

/// The caller's sessions, newest first.
#[utoipa::path(get, path = "/sessions", tag = "sessions", security(("bearer" = [])), responses(
    (status = 200, body = SessionList),
    (status = 401, body = ErrorBody),
))]
pub async fn list(State(ctx): State<ApiContext>, caller: AuthUser) -> ApiResult<JsonResponse<SessionList>> {
    let items = ctx.stores.relay_sessions.by_creator(&caller.id, 50).await?;
    Ok(JsonResponse(SessionList { items: items.into_iter().map(|s| view(&ctx, s, &caller.id)).collect() }))
}

/// One session: its status, client, operators, times and what it relayed.
#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions", security(("bearer" = [])), responses(
    (status = 200, body = SessionView),
    (status = 401, body = ErrorBody),
    (status = 404, description = "no such session, or the caller may not see it", body = ErrorBody),
))]
pub async fn get_one(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    SessionId(id): SessionId,
) -> ApiResult<JsonResponse<SessionView>> {
    let s = visible(&ctx, &id, &caller.id).await?;
    Ok(JsonResponse(view(&ctx, s, &caller.id)))
}

/// Finish a session: its node closes every socket (1000, "session
/// finished") within seconds. Finishing a finished session is a success.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions", security(("bearer" = [])), responses(
    (status = 204),
    (status = 401, body = ErrorBody),
    (status = 404, description = "no such session, or not the caller's", body = ErrorBody),
))]
pub async fn finish(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    SessionId(id): SessionId,
) -> ApiResult<StatusCode> {
    if !ctx.stores.relay_sessions.finish_by_creator(&id, &caller.id, &timefmt::now_rfc3339()).await? {
        return Err(not_found());
    }
    tracing::info!(session_id = %id, "relay session finished by its creator");
    Ok(StatusCode::NO_CONTENT)
}

/// The session's operators: who connected, and who is invited.
#[utoipa::path(get, path = "/sessions/{id}/operators", tag = "sessions", security(("bearer" = [])), responses(
    (status = 200, body = OperatorList),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn operators(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    SessionId(id): SessionId,
) -> ApiResult<JsonResponse<OperatorList>> {
    let s = visible(&ctx, &id, &caller.id).await?;
    Ok(JsonResponse(OperatorList::new(&s.as_of(timefmt::unix_now()))))
}

/// Invite a user to operate the session (the creator only; again: no change).
#[utoipa::path(put, path = "/sessions/{id}/operators/{user_id}", tag = "sessions", security(("bearer" = [])), responses(
    (status = 204),
    (status = 400, description = "unknown_user, client_cannot_operate", body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, description = "too_many_operators: 100 invited already", body = ErrorBody),
))]
pub async fn invite(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    SessionId(id): SessionId,
    Path((_, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let s = visible(&ctx, &id, &caller.id).await?.as_of(timefmt::unix_now());
    if s.creator_id != caller.id {
        return Err(not_found());
    }
    if user_id == s.client_id {
        return Err(ApiError::bad_request("client_cannot_operate", "the client is the source, not an operator")
            .with_field("user_id"));
    }
    if s.status == RelayStatus::Finished {
        return Err(ApiError::conflict("session_finished", "the session is finished"));
    }
    check_user(&ctx, &user_id, "user_id").await?;
    match ctx.stores.relay_sessions.invite(&id, &caller.id, &user_id).await? {
        Invitation::Done => Ok(StatusCode::NO_CONTENT),
        Invitation::NotFound => Err(not_found()),
        Invitation::Finished => Err(ApiError::conflict("session_finished", "the session is finished")),
        Invitation::Full => Err(ApiError::conflict(
            "too_many_operators",
            format!("a session has at most {} invited operators", relay_session::MAX_INVITED),
        )),
    }
}

/// Take an invitation back: the operator's sockets on the session close
/// (4003) within seconds, and it cannot come back.
#[utoipa::path(delete, path = "/sessions/{id}/operators/{user_id}", tag = "sessions", security(("bearer" = [])), responses(
    (status = 204),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn uninvite(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    SessionId(id): SessionId,
    Path((_, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    match ctx.stores.relay_sessions.uninvite(&id, &caller.id, &user_id).await? {
        Invitation::Done => Ok(StatusCode::NO_CONTENT),
        _ => Err(not_found()),
    }
}
