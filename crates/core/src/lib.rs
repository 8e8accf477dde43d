//! Skycast's core: domain types and rules, configuration, the resource
//! declaration, DynamoDB stores behind traits, and JWT signing.
//!
//! Nothing here knows about HTTP; the API functions adapt these types.

pub mod auth;
pub mod aws;
pub mod config;
pub mod events;
pub mod health;
pub mod ids;
pub mod limits;
pub mod page;
pub mod permissions;
pub mod playback;
pub mod presence;
pub mod quota;
pub mod recording;
pub mod relay_session;
pub mod resources;
pub mod store;
pub mod stream;
pub mod timefmt;
pub mod user;
pub mod validation;
pub mod video;
pub mod webhook;

pub use config::Config;
pub use validation::ValidationError;
