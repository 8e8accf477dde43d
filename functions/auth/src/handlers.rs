use axum::{
    Json as JsonResponse,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use skycast_core::{
    auth::password,
    ids,
    store::CreateUser,
    timefmt,
    user::{self, User, UserView},
};
use skycast_http::{ApiContext, ApiError, auth::AuthUser, client::ClientAddr, error::ApiResult, extract::Json, limits};
use utoipa::ToSchema;

use crate::{
    cookie::{self, RefreshTokenIn},
    tokens,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–32 of a-z, 0-9, '_' and '-'; case-insensitive.
    pub username: String,
    pub email: String,
    /// 10–256 characters.
    pub password: String,
    /// `body` (default) or `cookie` (the web app: an HttpOnly cookie).
    #[serde(default)]
    pub refresh_token_in: Option<RefreshTokenIn>,
}

/// Log in with the username or the email address, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: String,
    /// `body` (default) or `cookie` (the web app: an HttpOnly cookie).
    #[serde(default)]
    pub refresh_token_in: Option<RefreshTokenIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The token to spend; without it, the `skycast_refresh` cookie's.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Where the new one goes: `body`, or `cookie`; by default where the
    /// presented one came from.
    #[serde(default)]
    pub refresh_token_in: Option<RefreshTokenIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// The login to end; without it, the `skycast_refresh` cookie's.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub user: UserView,
    /// A JWT (EdDSA); send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Opaque; single use: each refresh returns a new one. Absent when it
    /// went into the `skycast_refresh` cookie (`refresh_token_in: cookie`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// A new pair as the client asked for it: the refresh token in the body, or
/// in the cookie and not in the body. Never cached (RFC 6749 §5.1).
fn respond(status: StatusCode, issued: tokens::Issued, to: RefreshTokenIn, request: &HeaderMap) -> Response {
    let mut body = issued.response;
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if to == RefreshTokenIn::Cookie {
        let token = body.refresh_token.take().unwrap_or_default();
        let max_age = issued.refresh_expires_at - timefmt::unix_now();
        if let Some(c) = cookie::set(request, &token, max_age) {
            headers.insert(header::SET_COOKIE, c);
        }
    }
    (status, headers, JsonResponse(body)).into_response()
}

/// Runs a password hash or check off the async executor: it is CPU-bound.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|_| ApiError::internal())
}

/// Create an account and log in.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = TokenResponse),
    (status = 400, description = "a field is invalid (named in `field`)", body = skycast_http::ErrorBody),
    (status = 409, description = "username_taken or email_taken", body = skycast_http::ErrorBody),
    (status = 429, description = "too many registrations from this address; see Retry-After", body = skycast_http::ErrorBody),
))]
pub async fn register(
    State(ctx): State<ApiContext>,
    ClientAddr(addr): ClientAddr,
    request: HeaderMap,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<Response> {
    // Every attempt counts, a refused name too: otherwise names could be
    // probed for (409) without limit.
    limits::take(&ctx, &ctx.config.limits.registrations_per_address, &addr).await?;
    let username = user::normalize_username(&req.username)?;
    let email = user::normalize_email(&req.email)?;
    user::check_password(&req.password)?;
    let pw = req.password;
    let password_hash = blocking(move || password::hash(&pw)).await?.map_err(|e| {
        tracing::error!(error = %e, "hashing failed");
        ApiError::internal()
    })?;
    let user = User { id: ids::new_id(), username, email, password_hash, created_at: timefmt::now_rfc3339() };
    match ctx.stores.users.create(&user).await? {
        CreateUser::Created => {}
        CreateUser::Taken(field) => {
            let code = if field == "email" { "email_taken" } else { "username_taken" };
            return Err(ApiError::conflict(code, format!("that {field} is already registered")).with_field(field));
        }
    }
    tracing::info!(user_id = %user.id, "user registered");
    let issued = tokens::issue_for_login(&ctx, &user).await?;
    Ok(respond(StatusCode::CREATED, issued, req.refresh_token_in.unwrap_or_default(), &request))
}

/// Log in with username or email and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 400, body = skycast_http::ErrorBody),
    (status = 401, description = "unknown user or wrong password (indistinguishable)", body = skycast_http::ErrorBody),
    (status = 429, description = "too many failed logins from this address or for this account; see Retry-After", body = skycast_http::ErrorBody),
))]
pub async fn login(
    State(ctx): State<ApiContext>,
    ClientAddr(addr): ClientAddr,
    request: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let (found, named) = match (&req.username, &req.email) {
        (Some(u), None) => match user::normalize_username(u) {
            Ok(u) => (ctx.stores.users.find_by_username(&u).await?, format!("name:{u}")),
            Err(_) => (None, format!("name:{}", u.to_lowercase())),
        },
        (None, Some(e)) => match user::normalize_email(e) {
            Ok(e) => (ctx.stores.users.find_by_email(&e).await?, format!("email:{e}")),
            Err(_) => (None, format!("email:{}", e.to_lowercase())),
        },
        _ => {
            return Err(
                ApiError::bad_request("validation_failed", "give either username or email").with_field("username")
            );
        }
    };
    // Failed logins are limited per address, per account and address, and
    // per account (an account by its id, so its name and email share one
    // budget; an unknown one by the name given, so both look alike). Each
    // attempt is counted before the password is checked, so a guesser over a
    // limit learns nothing more and parallel guesses cannot slip past; a
    // login that succeeds takes its count back.
    let account = found.as_ref().map_or(named, |u| format!("user:{}", u.id));
    let account_addr = format!("{account}@{addr}");
    let l = &ctx.config.limits;
    let budgets = [
        (&l.login_failures_per_address, addr.as_str()),
        (&l.login_failures_per_account_address, account_addr.as_str()),
        (&l.login_failures_per_account, account.as_str()),
    ];
    for (i, (rate, subject)) in budgets.iter().enumerate() {
        if let Err(limited) = limits::take(&ctx, rate, subject).await {
            // Only the budget that refused keeps this attempt.
            for (rate, subject) in &budgets[..i] {
                limits::give_back(&ctx, rate, subject).await?;
            }
            return Err(limited);
        }
    }
    let pw = req.password;
    // Unknown users cost a hash check too, so timing does not tell which
    // usernames exist.
    let user = blocking(move || match found {
        Some(u) if password::verify(&pw, &u.password_hash) => Some(u),
        Some(_) => None,
        None => {
            password::verify_against_dummy(&pw);
            None
        }
    })
    .await?;
    let Some(user) = user else {
        return Err(ApiError::unauthorized("invalid username, email or password").with_code("invalid_credentials"));
    };
    for (rate, subject) in &budgets {
        limits::give_back(&ctx, rate, subject).await?;
    }
    let issued = tokens::issue_for_login(&ctx, &user).await?;
    Ok(respond(StatusCode::OK, issued, req.refresh_token_in.unwrap_or_default(), &request))
}

/// Exchange a refresh token for a new pair. The presented token stops working;
/// presenting it again more than 10 s later revokes every token of that login.
/// The token comes from the body or, without one, the `skycast_refresh` cookie.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "missing, invalid, expired, spent or revoked refresh token (a failing cookie is cleared)", body = skycast_http::ErrorBody),
))]
pub async fn refresh(
    State(ctx): State<ApiContext>,
    request: HeaderMap,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<Response> {
    let (presented, from) = match req.refresh_token {
        Some(t) => (Some(t), RefreshTokenIn::Body),
        None => (cookie::read(&request), RefreshTokenIn::Cookie),
    };
    let to = req.refresh_token_in.unwrap_or(from);
    let Some(presented) = presented else {
        return Err(ApiError::unauthorized("no refresh token: give refresh_token, or send the skycast_refresh cookie")
            .with_code("invalid_refresh_token"));
    };
    match tokens::rotate(&ctx, &presented).await {
        Ok(issued) => Ok(respond(StatusCode::OK, issued, to, &request)),
        // A cookie that no longer works goes, so the browser stops sending it.
        Err(e) if from == RefreshTokenIn::Cookie => {
            let mut res = e.into_response();
            res.headers_mut().insert(header::SET_COOKIE, cookie::clear(&request));
            Ok(res)
        }
        Err(e) => Err(e),
    }
}

/// End the login the refresh token (from the body, or the cookie) belongs to.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = LogoutRequest, security(("bearer" = [])), responses(
    (status = 204, description = "logged out (also when the token was unknown); the cookie is cleared"),
    (status = 401, body = skycast_http::ErrorBody),
))]
pub async fn logout(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    request: HeaderMap,
    Json(req): Json<LogoutRequest>,
) -> ApiResult<Response> {
    if let Some(presented) = req.refresh_token.or_else(|| cookie::read(&request)) {
        tokens::revoke(&ctx, &caller.id, &presented).await?;
    }
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie::clear(&request))]).into_response())
}

/// The caller's account.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = UserView),
    (status = 401, body = skycast_http::ErrorBody),
))]
pub async fn me(State(ctx): State<ApiContext>, caller: AuthUser) -> ApiResult<JsonResponse<UserView>> {
    let user = ctx.stores.users.get(&caller.id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    Ok(JsonResponse(UserView::from(&user)))
}

/// The public keys that verify access tokens (JWKS, RFC 7517).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "JSON Web Key Set")))]
pub async fn jwks(State(ctx): State<ApiContext>) -> Response {
    ([(axum::http::header::CACHE_CONTROL, "public, max-age=300")], JsonResponse(ctx.jwt.jwks())).into_response()
}
