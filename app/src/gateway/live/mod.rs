//! Live updates: the event timeline, fanned out to subscribers (WebSocket, SSE, the hosted
//! page) on every instance. `hub` reads events from the database and broadcasts them;
//! `subscribe` turns them into one verification's [`LiveEvent`](crate::model::LiveEvent)s.

pub mod hub;
pub mod subscribe;

pub use subscribe::Subscription;
