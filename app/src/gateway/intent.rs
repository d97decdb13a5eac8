//! What a verification is for (verify-then-act): the action the integrator will take once
//! it is verified, a hash of that action's payload, and the browser session it is bound
//! to. Stored with the verification as JSON (empty when it has none); the token its
//! success earns names the action and the payload hash, and is refused by a confirmation
//! that says it is about anything else.

use serde::{Deserialize, Serialize};

/// The purpose of a verification. The binding is never stored as given: only a keyed
/// digest of it (`Gateway::binding_digest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<String>,
    /// Hex of the binding's keyed digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
}

impl Intent {
    /// The stored text: empty for a verification with no intent.
    pub fn to_column(&self) -> String {
        if *self == Self::default() {
            String::new()
        } else {
            serde_json::to_string(self).expect("strings serialise")
        }
    }

    /// What [`to_column`](Self::to_column) stored; `None` when it is not an intent.
    pub fn from_column(text: &str) -> Option<Self> {
        if text.is_empty() {
            return Some(Self::default());
        }
        serde_json::from_str(text).ok()
    }
}

/// An action: 1–64 of `a-z 0-9 _ . : -`, e.g. `set_password`.
pub fn valid_action(raw: &str) -> bool {
    (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
}

/// A payload hash: 1–128 of base64, base64url or hex characters (a SHA-256 in any of them).
pub fn valid_payload_hash(raw: &str) -> bool {
    (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b))
}

/// A session binding as given: 16–256 of a URL's unreserved characters (`A-Z a-z 0-9 . _
/// ~ -`): an opaque value such as a hash of the integrator's session id in hex or
/// base64url, which travels in a URL and a cookie as it is.
pub fn valid_binding(raw: &str) -> bool {
    (16..=256).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_intent_is_stored_as_nothing_and_each_part_round_trips() {
        assert_eq!(Intent::default().to_column(), "");
        assert_eq!(Intent::from_column(""), Some(Intent::default()));
        let intent = Intent {
            action: Some("set_password".into()),
            payload_hash: None,
            binding: Some("ab12".into()),
        };
        let text = intent.to_column();
        assert_eq!(text, r#"{"action":"set_password","binding":"ab12"}"#);
        assert_eq!(Intent::from_column(&text), Some(intent));
        assert_eq!(Intent::from_column("not json"), None);
    }

    #[test]
    fn actions_hashes_and_bindings_have_their_shapes() {
        for ok in [
            "login",
            "set_password",
            "change_email",
            "payment:approve",
            "v1.export",
        ] {
            assert!(valid_action(ok), "{ok}");
        }
        for bad in ["", "Login", "set password", "a/b", &"a".repeat(65)] {
            assert!(!valid_action(bad), "{bad}");
        }
        assert!(valid_payload_hash(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        ));
        assert!(valid_payload_hash(
            "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg"
        ));
        assert!(!valid_payload_hash("has space"));
        assert!(!valid_payload_hash(""));
        assert!(valid_binding("session-0123456789abcdef"));
        assert!(!valid_binding("short"));
        assert!(!valid_binding("sixteen chars or more"));
        assert!(!valid_binding("0123456789abcdef;x=1"));
    }
}
