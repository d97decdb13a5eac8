//! The hosted verification page: `/otp/{namespace}/{id}`.
//!
//! It asks for the address when the integrator did not give one, then for the code, and
//! shows the closed states. Every form posts to the same URL, so the page works before the
//! WASM arrives and without JavaScript (the server answers with a redirect back here and a
//! `result` in the query, or on to the app's `redirect_url`). Once hydrated, a code is
//! checked in place (the same post, answered as JSON), the page follows the verification
//! live, and the expiry and resend timers count down; the other forms stay ordinary posts.
//!
//! `state` is what the card starts from and says (both builds); `card` is the island and
//! its parts; `document` renders the whole page on the server (server-only); `browser` and
//! `json` are what the hydrated card does in the browser (WASM only).

#[cfg(feature = "hydrate")]
mod browser;
mod card;
#[cfg(feature = "ssr")]
mod document;
#[cfg(feature = "hydrate")]
mod json;
mod state;

#[cfg(feature = "ssr")]
pub use document::render_code_page;
