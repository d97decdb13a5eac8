//! The native JSON API under `/v1`: typed results, one stable error body, Bearer or Basic
//! auth with the app's secret, and an OpenAPI 3.1 document generated from these handlers.

mod error;
mod factors;
mod handlers;
mod live;
mod types;

pub use error::{ErrorBody, V1Error};

use super::AppState;
use app::gateway::Gateway;
use axum::{
    extract::State,
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
        factors::enrol,
        factors::list,
        factors::fetch,
        factors::delete,
        handlers::provider_status,
        handlers::app_provider_status,
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
        factors::EnrolBody,
        factors::FactorView,
        factors::EnrolledView,
        factors::FactorList,
        error::ErrorBody,
        error::ErrorDetail,
    )),
    modifiers(&SecurityAddon, &SharedResponses),
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

/// The answers that the steps every operation shares can give, added to each operation
/// that takes them: authentication (`401`), a JSON body (`400` malformed, `415` not
/// JSON), a verification id in the path (`404` unknown, `422` not an id) and storage
/// (`503`). Each handler declares only what is its own.
struct SharedResponses;

impl utoipa::Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{path::ParameterIn, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post, &mut item.delete]
                .into_iter()
                .flatten()
            {
                let public = op.security.as_ref().is_some_and(|s| {
                    s.iter()
                        .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
                });
                let json_body = op
                    .request_body
                    .as_ref()
                    .is_some_and(|b| b.content.keys().all(|ct| ct == "application/json"));
                let id_in_path = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.name == "id" && matches!(p.parameter_in, ParameterIn::Path));
                // Only the JWKS answers from memory alone; it declares no error.
                let stored = op.responses.responses.keys().any(|s| s.starts_with('4'));
                let mut shared = Vec::new();
                if stored {
                    shared.push(("503", "Storage is unavailable; retry"));
                }
                if !public {
                    shared.push(("401", "Missing or wrong credentials"));
                }
                if json_body {
                    shared.push(("400", "The body is not JSON of the expected shape"));
                    shared.push(("415", "The body is not `application/json`"));
                }
                if id_in_path {
                    shared.push(("404", "No verification by this id for this app"));
                    shared.push(("422", "Not a verification id, or an invalid parameter"));
                }
                for (status, description) in shared {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

/// The document as this server serves it: `provider` names the providers it has, and the
/// `201` of a start links to what can be done next with its `id`, so that a client (or a
/// stateful test) carries it into the following calls. (The links are written here as JSON
/// because the library spells a link's `operationId` as `operation_id`.)
fn served_document(providers: Vec<&str>) -> serde_json::Value {
    use serde_json::json;
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    doc["components"]["schemas"]["CreateBody"]["properties"]["provider"]["enum"] = json!(providers);
    let next = ["fetch", "check", "resend", "cancel", "wait"].map(|operation| {
        let link = json!({"operationId": operation, "parameters": {"id": "$response.body#/id"}});
        (operation.to_owned(), link)
    });
    doc["paths"]["/v1/verifications"]["post"]["responses"]["201"]["links"] =
        serde_json::Value::Object(next.into_iter().collect());
    doc
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
        .route("/v1/factors", post(factors::enrol).get(factors::list))
        .route(
            "/v1/factors/{factor}",
            get(factors::fetch).delete(factors::delete),
        )
        .route(
            "/v1/providers/{provider}/status",
            post(handlers::provider_status),
        )
        .route(
            "/v1/apps/{app}/providers/{provider}/status",
            post(handlers::app_provider_status),
        )
        .route("/v1/inbound/{provider}", post(handlers::inbound))
        .route(
            "/v1/openapi.json",
            get(|State(gw): State<Gateway>| async move {
                Json(served_document(gw.providers().ids().collect()))
            }),
        )
        .route("/.well-known/jwks.json", get(handlers::jwks))
}
