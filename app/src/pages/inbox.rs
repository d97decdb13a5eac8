//! The development inbox: messages kept by the console provider, newest first.

use super::{Card, NotFound};
use crate::api::load_inbox;
use leptos::{either::Either, prelude::*};
use leptos_meta::{Html, Title};

#[component]
pub fn DevInbox() -> impl IntoView {
    let inbox = Resource::new(|| (), |_| load_inbox());
    view! {
        <Html {..} lang="en" dir="ltr"/>
        <Title text="Dev inbox · otpgate"/>
        <Suspense fallback=|| view! { <Card><p>"Loading…"</p></Card> }>
            {move || Suspend::new(async move {
                match inbox.await {
                    Ok(messages) => Either::Left(view! {
                        <main class="mx-auto max-w-3xl px-4 py-10">
                            <h1 class="text-2xl font-semibold">"Dev inbox"</h1>
                            <p class="mt-1 text-sm text-zinc-600">
                                "Messages sent through the console provider. Development only."
                            </p>
                            <ol class="mt-6 space-y-4">
                                {messages.into_iter().map(|m| view! {
                                    <li class="rounded-xl bg-white p-4 shadow-sm ring-1 ring-zinc-200" data-to=m.to.clone()>
                                        <p class="text-xs text-zinc-500">{format!("to {} via {}", m.to, m.provider)}</p>
                                        <h2 class="mt-1 font-medium">{m.subject}</h2>
                                        <pre class="mt-2 whitespace-pre-wrap font-sans text-sm">{m.body}</pre>
                                    </li>
                                }).collect_view()}
                            </ol>
                        </main>
                    }),
                    Err(_) => Either::Right(view! { <NotFound/> }),
                }
            })}
        </Suspense>
    }
}
