//! OpenAPI pieces shared by the functions' documents.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// The API document as committed; `GET /openapi.json` serves it. A test
/// regenerates it from the code and fails when they differ.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");

/// Declares the `bearer` security scheme the protected operations name.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(crate::app::health, crate::app::ready, crate::app::openapi_json),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail, crate::app::Status)),
    modifiers(&BearerAuth),
    tags((name = "platform", description = "Health, readiness and this document"))
)]
pub struct PlatformDoc;
