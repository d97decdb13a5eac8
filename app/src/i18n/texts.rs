//! Every word a hosted page shows, one field each. The words themselves are Fluent
//! files, one folder per language (`app/locales/<tag>/pages.ftl`), read by the server
//! (`words.rs`); the code page's island gets its language's words in its seed, so the
//! WASM carries the names of the fields and no language at all.

/// Declares [`Texts`] with one `&'static str` per listed field, and the constructor that
/// looks each one up by its name (the Fluent message id).
macro_rules! texts {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// Every text of the hosted pages, in one language. `{}` marks where a value goes
        /// ([`fill`](super::fill)).
        #[derive(Debug)]
        #[cfg_attr(feature = "ssr", derive(serde::Serialize))]
        pub struct Texts {
            $($(#[$doc])* pub $field: &'static str,)*
        }

        impl Texts {
            /// Every field, read through `lookup` by its name. The texts live as long as
            /// the process (a few kilobytes per language, made once).
            pub fn from_lookup(mut lookup: impl FnMut(&'static str) -> String) -> Self {
                Self {
                    $($field: Box::leak(lookup(stringify!($field)).into_boxed_str()),)*
                }
            }

            /// The names of every field: the message ids each language's file must have.
            #[cfg(feature = "ssr")]
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field),)*];
        }
    };
}

texts! {
    loading,
    page_title,
    check_phone,
    check_email,
    enter_code,
    verify_it_is_you,
    mobile_number,
    phone_hint,
    country,
    /// The picker's first choice: the number is written with its country code.
    country_in_number,
    email_address,
    email_hint,
    address,
    address_hint,
    send_code,
    enter_received,
    sent_to,
    code_label,
    verify,
    delivery_sent,
    delivery_delivered,
    delivery_failed,
    expires_in,
    send_new,
    send_new_in,
    qr_title,
    qr_help,
    qr_alt,
    send_label,
    to_label,
    open_messages,
    waiting,
    verified_title,
    verified_body,
    expired_title,
    locked_title,
    cancelled_title,
    closed_body,
    one_attempt_left,
    attempts_left,
    incorrect,
    malformed,
    unavailable,
    too_many,
    resent,
    sent,
    invalid_address,
    unavailable_title,
    unavailable_body,
    confirm_title,
    confirm_body,
    confirm,
    /// "Didn't get it?" and its offers, one per kind of fallback.
    didnt_get_it,
    via_email,
    via_sms,
    via_whatsapp,
    via_voice,
    via_qr,
    via_other,
    /// An authenticator-app (TOTP) verification, and its enrolment.
    totp_title,
    totp_help,
    totp_setup_title,
    totp_setup_help,
    totp_qr_alt,
    totp_key_label,
    /// A check from a browser that does not hold the verification's session binding.
    unbound,
    /// The fraud guard: a number of a country the app does not send to; a send refused
    /// (held as suspected pumping, or over the app's budget).
    country_refused,
    send_refused,
}
