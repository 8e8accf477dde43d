//! Authentication primitives: access tokens (JWT), passwords, refresh tokens.

pub mod jwt;
pub mod password;
pub mod refresh;

pub use jwt::{AccessClaims, JwtError, JwtKeys};
