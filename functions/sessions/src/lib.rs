//! The sessions function: relay sessions' REST side (issue 14). A signed-in
//! user creates a session for a client (the source) and gets the client's
//! socket URL and stream key; the session's creator and the users they
//! invite operate it. The sockets themselves are the node's
//! (`ingest-node/src/relay.rs`), which records in the same table when the
//! session starts and finishes and what it relayed.

mod handlers;
mod view;

use axum::{
    Router,
    routing::{get, post, put},
};
use skycast_http::ApiContext;
use utoipa::OpenApi;

pub use handlers::CreateSessionRequest;
pub use view::{OperatorList, SessionList, SessionView};

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/sessions", post(handlers::create).get(handlers::list))
        .route("/sessions/{id}", get(handlers::get_one).delete(handlers::finish))
        .route("/sessions/{id}/operators", get(handlers::operators))
        .route("/sessions/{id}/operators/{user_id}", put(handlers::invite).delete(handlers::uninvite))
}

#[derive(OpenApi)]
#[openapi(
    paths(handlers::create, handlers::list, handlers::get_one, handlers::finish, handlers::operators, handlers::invite, handlers::uninvite),
    components(schemas(CreateSessionRequest, SessionView, SessionList, OperatorList, skycast_core::relay_session::RelayStatus)),
    tags((name = "sessions", description = "Relay sessions: a client streams to its operators over WebSocket"))
)]
pub struct SessionsDoc;
