//! What the verification card starts from (the page state and the last form's outcome)
//! and the words it derives from them; shared by the server's document and the island.

use crate::{
    i18n::{fill, Texts},
    model::{PageView, Status},
};

/// A message under a form, from the last action.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Notice {
    Incorrect,
    Malformed,
    Unavailable,
    TooManyRequests,
    Resent,
    Sent,
    InvalidAddress,
    /// The verification is bound to another browser session.
    Unbound,
    /// The fraud guard refused the number's country, or the send.
    CountryRefused,
    SendRefused,
}

impl Notice {
    pub(super) fn from_query(result: Option<&str>) -> Option<Self> {
        Some(match result? {
            "incorrect" => Notice::Incorrect,
            "malformed" => Notice::Malformed,
            "unavailable" => Notice::Unavailable,
            "limited" => Notice::TooManyRequests,
            "resent" => Notice::Resent,
            "sent" => Notice::Sent,
            "invalid_address" => Notice::InvalidAddress,
            "unbound" => Notice::Unbound,
            "country" => Notice::CountryRefused,
            "refused" => Notice::SendRefused,
            _ => return None,
        })
    }
}

/// The page's own URL for its forms: `/otp/{namespace}/{id}?lang=…[&origin=…]`.
pub(super) fn form_target(view: &PageView) -> String {
    let mut target = format!(
        "/otp/{}/{}?lang={}",
        view.namespace,
        view.id,
        view.lang.tag()
    );
    if let Some(origin) = &view.embed_origin {
        target.push_str("&origin=");
        for byte in origin.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                target.push(char::from(byte));
            } else {
                target.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    target
}

/// `m:ss` for a countdown.
pub(super) fn clock(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// What the verification card starts from: the page state, the outcome of the last form
/// post (`?result=`) and the code of an e-mail link (`?code=`).
#[derive(Clone)]
pub(super) struct CardSeed {
    pub(super) view: PageView,
    pub(super) result: Option<String>,
    pub(super) confirm: Option<String>,
    /// The page's words, in its language.
    pub(super) texts: &'static Texts,
}

pub(super) fn notice_text(notice: Option<Notice>, attempts_left: u32, t: &Texts) -> String {
    let left = match attempts_left {
        1 => t.one_attempt_left.to_owned(),
        n => fill(t.attempts_left, &[&n.to_string()]),
    };
    match notice {
        None => capitalised(&left),
        Some(Notice::Incorrect) => fill(t.incorrect, &[&left]),
        Some(Notice::Malformed) => t.malformed.to_owned(),
        Some(Notice::Unavailable) => t.unavailable.to_owned(),
        Some(Notice::TooManyRequests) => t.too_many.to_owned(),
        Some(Notice::Resent) => fill(t.resent, &[&left]),
        Some(Notice::Sent) => fill(t.sent, &[&left]),
        Some(Notice::InvalidAddress) => t.invalid_address.to_owned(),
        Some(Notice::Unbound) => t.unbound.to_owned(),
        Some(Notice::CountryRefused) => t.country_refused.to_owned(),
        Some(Notice::SendRefused) => t.send_refused.to_owned(),
    }
}

/// The first letter upper-cased ("noch 2 Versuche" → "Noch 2 Versuche").
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn closed_title(status: Status, t: &Texts) -> &'static str {
    match status {
        Status::Expired => t.expired_title,
        Status::Locked => t.locked_title,
        Status::Cancelled => t.cancelled_title,
        Status::Pending | Status::Verified => "",
    }
}
