//! Delivery channels and the addresses they reach, parsed once at the edge.

use std::fmt;

/// How a provider reaches a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    Whatsapp,
    Voice,
    /// Anything a webhook relay can reach (a bank account, a chat handle, ...).
    Other,
    /// An authenticator app (TOTP): nothing is sent; the address is a factor's id.
    Totp,
}

impl Channel {
    /// The channels a message is sent on (every one but [`Channel::Totp`]).
    pub const ALL: [Channel; 5] = [
        Channel::Email,
        Channel::Sms,
        Channel::Whatsapp,
        Channel::Voice,
        Channel::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Voice => "voice",
            Channel::Other => "other",
            Channel::Totp => "totp",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "email" => Channel::Email,
            "sms" => Channel::Sms,
            "whatsapp" => Channel::Whatsapp,
            "voice" => Channel::Voice,
            "other" => Channel::Other,
            "totp" => Channel::Totp,
            _ => return None,
        })
    }

    /// Whether addresses on this channel are phone numbers.
    pub fn is_phone(self) -> bool {
        matches!(self, Channel::Sms | Channel::Whatsapp | Channel::Voice)
    }

    /// A human name for messages and pages.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Email => "E-mail",
            Channel::Sms => "SMS",
            Channel::Whatsapp => "WhatsApp",
            Channel::Voice => "Phone call",
            Channel::Other => "Message",
            Channel::Totp => "Authenticator app",
        }
    }
}

/// Why an address was refused. The message is safe to show to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the address is empty")]
    Empty,
    #[error("the address is longer than {0} bytes")]
    TooLong(usize),
    #[error("the address contains control characters")]
    ControlCharacter,
    #[error("not a valid e-mail address")]
    Email,
    #[error("not a valid phone number; check the country and the number, e.g. +14155550100")]
    Phone,
    #[error("numbers of this country are not accepted here")]
    Region,
    #[error("not a factor id")]
    Factor,
}

/// A validated destination for one channel.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Address(String);

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.masked())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Address {
    pub const MAX_BYTES: usize = 254;

    /// Parses `raw` for `channel`. E-mail addresses are checked by lettre's parser; phone
    /// numbers are normalised to `+` and 8–15 digits (E.164).
    pub fn parse(channel: Channel, raw: &str) -> Result<Self, AddressError> {
        let raw = raw.trim_matches(' ');
        if raw.is_empty() {
            return Err(AddressError::Empty);
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(AddressError::TooLong(Self::MAX_BYTES));
        }
        if raw.chars().any(char::is_control) {
            return Err(AddressError::ControlCharacter);
        }
        match channel {
            Channel::Email => raw
                .parse::<lettre::Address>()
                .map(|a| Self(a.to_string()))
                .map_err(|_| AddressError::Email),
            Channel::Sms | Channel::Whatsapp | Channel::Voice => parse_phone(raw).map(Self),
            Channel::Other => Ok(Self(raw.to_owned())),
            Channel::Totp if crate::gateway::totp::is_factor_id(raw) => Ok(Self(raw.to_owned())),
            Channel::Totp => Err(AddressError::Factor),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with its middle hidden, for pages and logs.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Hides most of an address: `john@example.com` → `jo**@example.com`,
/// `+14155550100` → `+1*******100`.
pub fn mask(raw: &str) -> String {
    let (local, domain) = match raw.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (raw, None),
    };
    let chars: Vec<char> = local.chars().collect();
    let (head, tail) = match (domain, chars.len()) {
        (_, 0..=2) => (chars.len().min(1), 0),
        (Some(_), n) => (2.min(n), 0),
        (None, n) if n <= 6 => (1, 1),
        (None, _) => (2, 3),
    };
    let hidden = chars.len() - head - tail;
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', hidden));
    out.extend(&chars[chars.len() - tail..]);
    if let Some(d) = domain {
        out.push('@');
        out.push_str(d);
    }
    out
}

/// An address as [`mask`] shows it, to find the addresses behind it: `chars` characters,
/// starting with `head` and ending with `tail` (the domain included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub chars: usize,
    pub head: String,
    pub tail: String,
}

impl Masked {
    /// `shown` when it is something [`mask`] writes (`jo**@example.com`, `+1*******100`),
    /// else None.
    pub fn parse(shown: &str) -> Option<Self> {
        let first = shown.find('*')?;
        let last = shown.rfind('*')?;
        // The addresses it stands for mask to it again.
        if mask(&shown.replace('*', "x")) != shown {
            return None;
        }
        Some(Self {
            chars: shown.chars().count(),
            head: shown[..first].to_owned(),
            tail: shown[last + 1..].to_owned(),
        })
    }

    /// The SQL `LIKE` pattern of the addresses behind it: the head and tail as they are
    /// (`%`, `_` and `!` escaped with `!`), one `_` per hidden character.
    pub fn like_pattern(&self) -> String {
        let escape = |part: &str| {
            part.chars().fold(String::new(), |mut out, c| {
                if matches!(c, '%' | '_' | '!') {
                    out.push('!');
                }
                out.push(c);
                out
            })
        };
        let hidden = self.chars - self.head.chars().count() - self.tail.chars().count();
        format!(
            "{}{}{}",
            escape(&self.head),
            "_".repeat(hidden),
            escape(&self.tail)
        )
    }
}

/// An international number (`+…` or `00…`), checked against its country's numbering plan
/// (libphonenumber's metadata) and written in E.164.
fn parse_phone(raw: &str) -> Result<String, AddressError> {
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = compact
        .strip_prefix('+')
        .or_else(|| compact.strip_prefix("00"))
        .ok_or(AddressError::Phone)?;
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::Phone);
    }
    let number = phonenumber::parse(None, format!("+{digits}")).map_err(|_| AddressError::Phone)?;
    if !number.is_valid() {
        return Err(AddressError::Phone);
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// A number typed on a page next to a country picker: a national number (`030 1234567`)
/// is read in `region` (an ISO 3166 code such as `DE`) and given its country code; an
/// international one, or one without a known region, is left as typed.
pub fn with_region(raw: &str, region: Option<&str>) -> String {
    let trimmed = raw.trim();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let region = region.and_then(|r| r.parse::<phonenumber::country::Id>().ok());
    match region {
        Some(region) if !international && trimmed.len() <= Address::MAX_BYTES => {
            phonenumber::parse(Some(region), trimmed)
                .map(|n| n.format().mode(phonenumber::Mode::E164).to_string())
                .unwrap_or_else(|_| trimmed.to_owned())
        }
        _ => trimmed.to_owned(),
    }
}

/// A country people can pick for their phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiallingCode {
    /// ISO 3166 alpha-2, e.g. `DE`.
    pub region: String,
    /// The country calling code, e.g. 49.
    pub code: u16,
}

/// Every country in the numbering-plan metadata, by region code. Built once: every phone
/// page that asks for an address lists them.
pub fn dialling_codes() -> &'static [DiallingCode] {
    static CODES: std::sync::LazyLock<Vec<DiallingCode>> = std::sync::LazyLock::new(|| {
        let mut all: Vec<DiallingCode> = phonenumber::metadata::DATABASE
            .iter()
            .filter(|m| m.id().len() == 2 && m.id().bytes().all(|b| b.is_ascii_uppercase()))
            .map(|m| DiallingCode {
                region: m.id().to_owned(),
                code: m.country_code(),
            })
            .collect();
        all.sort_by(|a, b| a.region.cmp(&b.region));
        all
    });
    &CODES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mail_addresses_are_parsed_by_lettre() {
        let a = Address::parse(Channel::Email, "john@example.com").unwrap();
        assert_eq!(a.as_str(), "john@example.com");
        for bad in ["john", "john@", "@example.com", "a b@example.com"] {
            assert_eq!(
                Address::parse(Channel::Email, bad),
                Err(AddressError::Email)
            );
        }
    }

    #[test]
    fn header_injection_and_oversized_addresses_are_refused() {
        assert_eq!(
            Address::parse(Channel::Email, "foo@x.test\r\nBcc: evil@x.test"),
            Err(AddressError::ControlCharacter)
        );
        assert_eq!(
            Address::parse(Channel::Other, "a\0b"),
            Err(AddressError::ControlCharacter)
        );
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            Address::parse(Channel::Email, &long),
            Err(AddressError::TooLong(254))
        );
        assert_eq!(Address::parse(Channel::Sms, "  "), Err(AddressError::Empty));
    }

    #[test]
    fn phone_numbers_are_normalised_to_e164() {
        for (raw, want) in [
            ("+1 (415) 555-0100", "+14155550100"),
            ("0049 30 1234567", "+49301234567"),
            ("+91.98765.43210", "+919876543210"),
        ] {
            assert_eq!(Address::parse(Channel::Sms, raw).unwrap().as_str(), want);
        }
        for bad in [
            "4155550100",
            "+1",
            "+0123456789",
            "+1415555010a",
            "+1234567890123456",
        ] {
            assert_eq!(
                Address::parse(Channel::Sms, bad),
                Err(AddressError::Phone),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_outside_their_countrys_numbering_plan_are_refused() {
        // Right length, but no such numbers in Germany / the US (area code 099).
        for bad in ["+49 1", "+1 099 555 0100", "+44 0000 000000"] {
            assert_eq!(
                Address::parse(Channel::Sms, bad),
                Err(AddressError::Phone),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_national_number_takes_the_picked_country() {
        assert_eq!(with_region("030 1234567", Some("DE")), "+49301234567");
        assert_eq!(with_region("(415) 555-0100", Some("US")), "+14155550100");
        assert_eq!(with_region("098765 43210", Some("IN")), "+919876543210");
        // Written internationally, the picker does not matter.
        assert_eq!(
            with_region("+44 20 7946 0958", Some("DE")),
            "+44 20 7946 0958"
        );
        // No or an unknown country: as typed (and then refused if not international).
        assert_eq!(with_region("030 1234567", None), "030 1234567");
        assert_eq!(with_region("030 1234567", Some("XX")), "030 1234567");
    }

    #[test]
    fn the_picker_lists_countries_with_their_codes() {
        let codes = dialling_codes();
        assert!(codes.len() > 200, "{}", codes.len());
        assert!(codes.contains(&DiallingCode {
            region: "DE".into(),
            code: 49
        }));
        assert!(codes.contains(&DiallingCode {
            region: "IN".into(),
            code: 91
        }));
        assert!(codes.windows(2).all(|w| w[0].region < w[1].region));
    }

    #[test]
    fn masked_addresses_read_back() {
        for address in [
            "john@example.com",
            "+14155550100",
            "ab@x.io",
            "+4915112345678",
        ] {
            let shown = mask(address);
            let m = Masked::parse(&shown).unwrap();
            assert_eq!(m.chars, address.chars().count(), "{shown}");
            assert!(
                address.starts_with(&m.head) && address.ends_with(&m.tail),
                "{shown}"
            );
        }
        assert_eq!(
            Masked::parse("jo**@example.com"),
            Some(Masked {
                chars: 16,
                head: "jo".into(),
                tail: "@example.com".into()
            })
        );
        assert_eq!(
            Masked::parse("jo**@example.com").unwrap().like_pattern(),
            "jo__@example.com"
        );
        assert_eq!(
            Masked::parse("a_***@x%y.io").unwrap().like_pattern(),
            "a!____@x!%y.io"
        );
        // Not what the history shows: no star, a head or tail of the wrong size, stars
        // apart.
        for shown in [
            "john@example.com",
            "j***@example.com",
            "+1******0100",
            "+1**5****100",
        ] {
            assert_eq!(Masked::parse(shown), None, "{shown}");
        }
    }

    #[test]
    fn masking_hides_the_middle_of_an_address() {
        assert_eq!(mask("john@example.com"), "jo**@example.com");
        assert_eq!(mask("j@example.com"), "j@example.com");
        assert_eq!(mask("+14155550100"), "+1*******100");
        assert_eq!(mask("abcdef"), "a****f");
        let a = Address::parse(Channel::Email, "john@example.com").unwrap();
        assert!(!format!("{a:?}").contains("john"));
    }
}
