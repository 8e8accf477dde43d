//! The local stack: the embedded AWS emulator, the bootstrap of every
//! declared resource, the JWT key for development, and all HTTP functions
//! merged on one port. `make dev` runs it; the tests reuse its pieces.

pub mod api;
pub mod bootstrap;
pub mod cdn;
pub mod emulator;
pub mod keys;
pub mod sdk;
pub mod services;
pub mod web;
