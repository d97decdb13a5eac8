//! JSON read field by field with the browser's own parser: serde in the WASM would about
//! double its size.

use super::state::CardSeed;
use crate::{
    i18n::{Lang, Texts},
    model::{
        CountryOption, EnrolmentView, FallbackOption, InboundView, LiveEvent, PageView, Status,
    },
};
use wasm_bindgen::{JsCast, JsValue};

pub struct Json(pub JsValue);

impl Json {
    pub fn parse(text: &str) -> Option<Self> {
        js_sys::JSON::parse(text)
            .ok()
            .filter(JsValue::is_object)
            .map(Json)
    }

    pub fn get(&self, key: &str) -> Option<Json> {
        js_sys::Reflect::get(&self.0, &JsValue::from_str(key))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
            .map(Json)
    }

    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key)?.0.as_string()
    }

    pub fn string(&self, key: &str) -> String {
        self.str(key).unwrap_or_default()
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.get(key)?.0.as_f64()
    }

    pub fn uint(&self, key: &str) -> u32 {
        self.number(key).unwrap_or(0.0) as u32
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key).and_then(|v| v.0.as_bool()).unwrap_or(false)
    }

    fn list<T>(&self, key: &str, item: impl Fn(&Json) -> T) -> Vec<T> {
        self.get(key)
            .and_then(|v| v.0.dyn_into::<js_sys::Array>().ok())
            .map(|a| a.iter().map(|v| item(&Json(v))).collect())
            .unwrap_or_default()
    }
}

/// `#otp-seed`'s `{"view": PageView, "result", "confirm", "texts"}`.
pub fn card_seed() -> Option<CardSeed> {
    let text = leptos::prelude::document()
        .get_element_by_id("otp-seed")?
        .get_attribute("data-seed")?;
    let seed = Json::parse(&text)?;
    let v = seed.get("view")?;
    let view = PageView {
        namespace: v.string("namespace"),
        id: v.string("id"),
        app_name: v.string("app_name"),
        channel: v.string("channel"),
        masked_address: v.string("masked_address"),
        status: Status::parse(&v.string("status"))?,
        attempts_left: v.uint("attempts_left"),
        expires_in_secs: v.number("expires_in_secs").unwrap_or(0.0) as u64,
        code_length: v.uint("code_length"),
        numeric_code: v.flag("numeric_code"),
        needs_address: v.flag("needs_address"),
        address_kind: v.string("address_kind"),
        resend_in_secs: v.number("resend_in_secs").map(|s| s as u64),
        live_token: v.string("live_token"),
        inbound: v.get("inbound").map(|i| InboundView {
            number: i.string("number"),
            code: i.string("code"),
            sms_link: i.string("sms_link"),
            qr_svg: i.string("qr_svg"),
        }),
        enrolment: v.get("enrolment").map(|e| EnrolmentView {
            uri: e.string("uri"),
            secret: e.string("secret"),
            qr_svg: e.string("qr_svg"),
        }),
        embed_origin: v.str("embed_origin"),
        lang: Lang::from_tag(&v.string("lang")).unwrap_or_default(),
        locale: v.string("locale"),
        app_locale: v.string("app_locale"),
        logo_url: v.str("logo_url"),
        accent_color: v.str("accent_color"),
        countries: v.list("countries", |c| CountryOption {
            region: c.string("region"),
            code: c.uint("code") as u16,
        }),
        country: v.str("country"),
        fallbacks: v.list("fallbacks", |f| FallbackOption {
            provider: f.string("provider"),
            kind: f.string("kind"),
        }),
    };
    let words = seed.get("texts")?;
    // Made once per page load; the card keeps them for its whole life.
    let texts = Box::leak(Box::new(Texts::from_lookup(|name| words.string(name))));
    Some(CardSeed {
        view,
        result: seed.str("result"),
        confirm: seed.str("confirm"),
        texts,
    })
}

/// One live event as the server sends it (`{"type": "attempt", "attempts_left": 2}`).
pub fn live_event(e: &Json) -> Option<LiveEvent> {
    Some(match e.str("type")?.as_str() {
        "subscribed" => LiveEvent::Subscribed {
            status: Status::parse(&e.string("status"))?,
            attempts_left: e.uint("attempts_left"),
            expires_in_secs: e.number("expires_in_secs").unwrap_or(0.0) as u64,
        },
        "delivery" => LiveEvent::Delivery {
            state: e.string("state"),
        },
        "attempt" => LiveEvent::Attempt {
            attempts_left: e.uint("attempts_left"),
        },
        "locked" => LiveEvent::Locked,
        "verified" => LiveEvent::Verified {
            verification_token: e.string("verification_token"),
            redirect: e.str("redirect"),
        },
        "expired" => LiveEvent::Expired,
        "cancelled" => LiveEvent::Cancelled,
        _ => return None,
    })
}
