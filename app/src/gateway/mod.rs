//! The gateway's domain: codes, addresses, the verification engine, storage and delivery.
//! Server-only; knows nothing of HTTP or Leptos.

pub mod address;
mod auth;
pub mod clock;
pub mod code;
pub mod delivery;
pub mod engine;
pub mod error;
pub mod inbound;
pub mod limits;
pub mod live;
pub mod outbox;
pub mod secret;
pub mod store;
pub mod token;

pub use engine::{
    AppPages, CheckMode, CreateRequest, Created, DeclaredApp, EngineSettings, Gateway, Read,
    RouteRule,
};
pub use error::EngineError;
