//! What the hydrated card does in the browser: follow the verification live (SSE, else
//! polling), report to an embedding site, and ask this server for JSON. WASM only.

use super::json;
use crate::model::{LiveEvent, Status};
use leptos::prelude::*;

/// Follows the verification over Server-Sent Events; when the stream fails, polls the page
/// state every few seconds instead.
pub(super) fn follow(
    namespace: &str,
    id: &str,
    token: &str,
    apply: impl Fn(LiveEvent) + Copy + 'static,
    status: RwSignal<Status>,
) {
    use wasm_bindgen::{closure::Closure, JsCast};
    let url = format!("/v1/verifications/{id}/events?token={token}");
    let Ok(source) = web_sys::EventSource::new(&url) else {
        poll(namespace.to_owned(), id.to_owned(), status);
        return;
    };
    let on_event =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Some(event) = e
                .data()
                .as_string()
                .and_then(|d| json::Json::parse(&d))
                .and_then(|j| json::live_event(&j))
            {
                apply(event);
            }
        });
    for name in [
        "subscribed",
        "delivery",
        "attempt",
        "locked",
        "verified",
        "expired",
        "cancelled",
    ] {
        let _ = source.add_event_listener_with_callback(name, on_event.as_ref().unchecked_ref());
    }
    on_event.forget();
    let (namespace, id) = (namespace.to_owned(), id.to_owned());
    let failed_source = source.clone();
    let on_error = Closure::<dyn Fn()>::new(move || {
        // The server ends the stream after a final event; anything else is a failure.
        failed_source.close();
        if status.get_untracked() == Status::Pending {
            poll(namespace.clone(), id.clone(), status);
        }
    });
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
}

/// Polls whether the verification was verified, every three seconds while it is open.
fn poll(namespace: String, id: String, status: RwSignal<Status>) {
    let handle = std::rc::Rc::new(std::cell::Cell::new(None::<IntervalHandle>));
    let own = handle.clone();
    let started = set_interval_with_handle(
        move || {
            if status.get_untracked() != Status::Pending {
                if let Some(h) = own.take() {
                    h.clear();
                }
                return;
            }
            let url = format!("/otp/{namespace}/{id}/status");
            leptos::task::spawn_local(async move {
                // `{"status": "success", "data": {"closed": bool}}`: closed means verified.
                let closed = fetch_json(&url, None)
                    .await
                    .and_then(|r| r.get("data"))
                    .is_some_and(|d| d.flag("closed"));
                if closed {
                    status.set(Status::Verified);
                }
            });
        },
        std::time::Duration::from_secs(3),
    );
    handle.set(started.ok());
}

pub(super) fn post_to_parent(origin: &str, namespace: &str, id: &str) {
    let message = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&message, &"namespace".into(), &namespace.into());
    let _ = js_sys::Reflect::set(&message, &"id".into(), &id.into());
    if let Ok(Some(parent)) = window().parent() {
        let _ = parent.post_message(&message, origin);
    }
}

/// A GET (or, with `form`, a form POST) to this server that answers JSON.
pub(super) async fn fetch_json(url: &str, form: Option<&[(&str, &str)]>) -> Option<json::Json> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().ok()?;
    headers.set("accept", "application/json").ok()?;
    init.set_headers(&headers);
    if let Some(form) = form {
        let body = web_sys::UrlSearchParams::new().ok()?;
        for (name, value) in form {
            body.append(name, value);
        }
        init.set_method("POST");
        init.set_body(&body);
    }
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str_and_init(url, &init))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    if !response.ok() {
        return None;
    }
    let value = JsFuture::from(response.json().ok()?).await.ok()?;
    value.is_object().then_some(json::Json(value))
}
