//! Integration tests of the HTTP API against the embedded emulator.

mod auth;
mod http_behaviour;
mod lambda;
mod lifecycle;
mod limits;
mod openapi;
mod privacy;
mod recording;
mod secrets;
mod sessions;
mod streams;
mod videos;
mod webhooks;
