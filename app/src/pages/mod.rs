//! The hosted pages.

mod code;
#[cfg(feature = "ssr")]
pub mod dashboard;
mod inbox;

#[cfg(feature = "ssr")]
pub use code::render_code_page;
pub use inbox::DevInbox;

use leptos::prelude::*;
use leptos_meta::Html;

/// `:root{--accent:…;--accent-fg:…}` for a `#rrggbb` colour; `None` for anything else.
#[cfg(feature = "ssr")]
pub fn accent_rules(colour: &str) -> Option<String> {
    let hex = colour.strip_prefix('#').filter(|h| h.len() == 6)?;
    let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    let (r, g, b) = (channel(0)?, channel(2)?, channel(4)?);
    // WCAG relative luminance; white text when it contrasts better than black.
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let lum = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    let fg = if (1.05 / (lum + 0.05)) >= ((lum + 0.05) / 0.05) {
        "#ffffff"
    } else {
        "#000000"
    };
    Some(format!(":root{{--accent:#{hex};--accent-fg:{fg}}}"))
}

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
        <NotFoundCard/>
    }
}

#[component]
pub fn NotFoundCard() -> impl IntoView {
    view! {
        <Card>
            <h1 class="text-xl font-semibold">"Page not found"</h1>
            <p class="mt-2 text-sm text-zinc-600">"Check the link you followed."</p>
        </Card>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::accent_rules;

    #[test]
    fn a_dark_accent_gets_white_text_and_a_light_one_black() {
        assert_eq!(
            accent_rules("#0f766e").as_deref(),
            Some(":root{--accent:#0f766e;--accent-fg:#ffffff}")
        );
        assert_eq!(
            accent_rules("#fde047").as_deref(),
            Some(":root{--accent:#fde047;--accent-fg:#000000}")
        );
    }

    #[test]
    fn anything_but_six_hex_digits_is_no_style_at_all() {
        for bad in ["0f766e", "#0f766", "#0f766e;}", "#gggggg", "", "#0f766e0"] {
            assert_eq!(accent_rules(bad), None, "{bad}");
        }
    }
}
