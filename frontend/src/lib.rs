//! The WASM entry point: hydrates the islands of the server-rendered pages (the
//! interactive part of the code page), nothing else.

// The islands are exported by the `app` crate; naming it links them into this module.
use app as _;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
