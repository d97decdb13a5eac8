//! The native JSON API under `/v1`: typed results, one stable error body, Bearer or Basic
//! auth with the app's secret, and an OpenAPI 3.1 document generated from these handlers.

mod error;
mod handlers;
mod live;
mod types;

pub use error::{ErrorBody, V1Error};

use super::AppState;
use axum::{
    routing::{get, post},
    Json, Router,
};
use utoipa::OpenApi;

/// The OpenAPI document of the native API.
#[derive(OpenApi)]
#[openapi(
    info(title = "otpgate", description = "Self-hosted OTP verification gateway: native JSON API."),
    paths(
        handlers::create,
        handlers::fetch,
        handlers::check,
        handlers::resend,
        handlers::cancel,
        handlers::wait,
        handlers::confirm_token,
        handlers::jwks,
        handlers::provider_status,
        handlers::inbound,
        live::sse,
    ),
    components(schemas(
        types::CreateBody,
        types::VerificationView,
        types::CheckBody,
        types::CheckView,
        types::ConfirmBody,
        types::ConfirmView,
        error::ErrorBody,
        error::ErrorDetail,
    )),
    modifiers(&SecurityAddon),
    security(("bearer" = []), ("basic" = []))
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer <namespace>:<secret>`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// The `/v1` routes (live updates included) and the JWKS.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(live::router())
        .route("/v1/verifications", post(handlers::create))
        .route("/v1/verifications/{id}", get(handlers::fetch))
        .route("/v1/verifications/{id}/check", post(handlers::check))
        .route("/v1/verifications/{id}/resend", post(handlers::resend))
        .route("/v1/verifications/{id}/cancel", post(handlers::cancel))
        .route("/v1/verifications/{id}/wait", get(handlers::wait))
        .route("/v1/tokens/confirm", post(handlers::confirm_token))
        .route(
            "/v1/providers/{provider}/status",
            post(handlers::provider_status),
        )
        .route("/v1/inbound/{provider}", post(handlers::inbound))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(ApiDoc::openapi()) }),
        )
        .route("/.well-known/jwks.json", get(handlers::jwks))
}
