//! The hosted pages.

mod code;
mod inbox;

pub use code::CodePage;
pub use inbox::DevInbox;

use leptos::prelude::*;
use leptos_meta::Html;

/// The centred card every hosted page sits in.
#[component]
pub fn Card(children: Children) -> impl IntoView {
    view! {
        <main class="mx-auto flex min-h-screen max-w-md items-center px-4 py-12">
            <div class="w-full rounded-2xl bg-white p-8 shadow-sm ring-1 ring-zinc-200">
                {children()}
            </div>
        </main>
    }
}

#[component]
pub fn Home() -> impl IntoView {
    view! {
        <Html {..} lang="en" dir="ltr"/>
        <Card>
            <h1 class="text-xl font-semibold">"otpgate"</h1>
            <p class="mt-2 text-sm text-zinc-600">
                "This server verifies e-mail addresses and phone numbers for the apps that use it."
            </p>
        </Card>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Html {..} lang="en" dir="ltr"/>
        <Card>
            <h1 class="text-xl font-semibold">"Page not found"</h1>
            <p class="mt-2 text-sm text-zinc-600">"Check the link you followed."</p>
        </Card>
    }
}
