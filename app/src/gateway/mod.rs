//! The gateway's domain. Server-only; knows nothing of HTTP or Leptos.
//!
//! Two layers. The lower one takes narrow inputs and never imports the engine: values
//! (`address`, `code`, `secret`, `clock`, `limits`), storage (`store`), delivery
//! (`delivery`, `outbox`) and the event fan-out (`live::hub`). Above it, the [`Gateway`]
//! handle (`handle.rs`) and one module per use case, each an `impl Gateway` block:
//! `verify/` (create, check, resend, switch, cancel, read), `apps`, `pages`, `tokens`,
//! `inbound`, `receipts`, `live::subscribe` and `tenants` (the dashboard's accounts,
//! sessions, apps and audit log). Errors of the lower layer convert into
//! [`EngineError`] with `From`.

pub mod address;
pub mod clock;
pub mod code;
pub mod delivery;
pub mod error;
pub mod fraud;
pub mod intent;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod outbox;
pub mod qr;
pub mod secret;
pub mod store;
pub mod totp;

pub mod apps;
pub mod factors;
pub mod guard;
pub mod handle;
pub mod inbound;
pub mod pages;
pub mod providers;
pub mod receipts;
pub mod retention;
pub mod revisions;
pub mod settings;
pub mod tenants;
pub mod tokens;
pub mod verify;

pub use error::EngineError;
pub use handle::Gateway;
pub use pages::Read;
pub use settings::{AppPages, DeclaredApp, EngineSettings, RouteRule};
pub use verify::{CheckMode, CreateRequest, Created, CustomCode, Target};
