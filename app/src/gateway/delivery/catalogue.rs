//! The kinds of provider a tenant adds to an app in the dashboard, and how a stored one
//! is built: the same providers the config file declares (`twilio`, `http_sms`,
//! `kaleyra`, `smtp`, `webhook`, and `console`, which keeps messages in the app's dev
//! inbox), described as form fields. Secret fields are write-only: they are sealed in the
//! database and never shown again. Every URL and mail server a tenant names passes the
//! server's [`NetPolicy`].

use super::{
    net::NetPolicy, DeliveryError, HttpSmsBody, HttpSmsProvider, HttpSmsSettings, KaleyraProvider,
    KaleyraSettings, OutgoingMessage, Provider, Sent, SmtpAuth, SmtpProvider, SmtpSettings,
    TemplateSet, TlsMode, TwilioProvider, TwilioSettings, WebhookProvider, WebhookSettings,
};
use crate::gateway::address::Channel;
use async_trait::async_trait;
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// One field of a provider's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    /// Sealed at rest and never sent back to the browser.
    pub secret: bool,
    pub required: bool,
    /// The values allowed, the first the default; empty for free text.
    pub choices: &'static [&'static str],
    /// What an empty value means.
    pub default: &'static str,
    /// Several lines (`name = value` pairs).
    pub lines: bool,
}

/// A kind of provider and its form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub summary: &'static str,
    pub fields: &'static [FieldSpec],
}

impl KindSpec {
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn text(name: &'static str, label: &'static str, hint: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        label,
        hint,
        secret: false,
        required: false,
        choices: &[],
        default: "",
        lines: false,
    }
}

const fn required(field: FieldSpec) -> FieldSpec {
    FieldSpec {
        required: true,
        ..field
    }
}

const fn secret(field: FieldSpec) -> FieldSpec {
    FieldSpec {
        secret: true,
        ..field
    }
}

const fn choice(
    name: &'static str,
    label: &'static str,
    choices: &'static [&'static str],
) -> FieldSpec {
    FieldSpec {
        choices,
        ..text(name, label, "")
    }
}

const fn defaulting(field: FieldSpec, default: &'static str) -> FieldSpec {
    FieldSpec { default, ..field }
}

const fn lines(field: FieldSpec) -> FieldSpec {
    FieldSpec {
        lines: true,
        ..field
    }
}

const PHONE: &[&str] = &["sms", "whatsapp"];
const ANY: &[&str] = &["other", "email", "sms", "whatsapp", "voice"];

/// Every kind a tenant may add, in the order the dashboard offers them.
pub const KINDS: &[KindSpec] = &[
    KindSpec {
        name: "twilio",
        label: "Twilio",
        summary: "SMS or WhatsApp through Twilio's Messages API.",
        fields: &[
            choice("channel", "Channel", PHONE),
            required(text("account_sid", "Account SID", "Starts with AC.")),
            required(secret(text("auth_token", "Auth token", ""))),
            text("from", "From", "A number in E.164 form, such as +15005550006."),
            text(
                "messaging_service_sid",
                "Messaging service SID",
                "Instead of From: starts with MG.",
            ),
            defaulting(
                text("base_url", "API base URL", ""),
                "https://api.twilio.com",
            ),
        ],
    },
    KindSpec {
        name: "http_sms",
        label: "HTTP SMS gateway",
        summary: "Any gateway reached with one HTTP request.",
        fields: &[
            choice("channel", "Channel", &["sms", "whatsapp", "voice", "other"]),
            choice("method", "Method", &["POST", "GET", "PUT"]),
            required(text(
                "url",
                "URL",
                "May use {{ to }}, {{ to_digits }}, {{ body }} and {{ otp }}.",
            )),
            choice("body", "Body", &["form", "json", "none"]),
            lines(text(
                "fields",
                "Fields",
                "One per line, name = value: sent as the body, or as the query when the body is none. Values may use {{ to }}, {{ to_digits }}, {{ body }}, {{ otp }} and {{ password }}.",
            )),
            secret(text("password", "Password or key", "Fields and headers use it as {{ password }}.")),
            lines(text(
                "headers",
                "Headers",
                "One per line, Name: value, such as X-API-Key: {{ password }}.",
            )),
            text(
                "success_contains",
                "Success text",
                "Text the answer must contain to count as accepted.",
            ),
            text(
                "message_id_pointer",
                "Message id pointer",
                "A JSON pointer to the message id in the answer, such as /data/id.",
            ),
        ],
    },
    KindSpec {
        name: "kaleyra",
        label: "Kaleyra",
        summary: "SMS or WhatsApp through Kaleyra.",
        fields: &[
            choice("channel", "Channel", PHONE),
            required(text("sid", "Account SID", "")),
            required(secret(text("api_key", "API key", ""))),
            required(text("sender", "Sender", "The sender id or WhatsApp number.")),
            text("sms_entity_id", "DLT entity id", "India's DLT registration."),
            text("sms_template_id", "DLT template id", ""),
            text("template_name", "WhatsApp template", ""),
            text(
                "default_phone_code",
                "Default country code",
                "Such as 91 for numbers given without one.",
            ),
            defaulting(
                text("base_url", "API base URL", ""),
                "https://api.kaleyra.io",
            ),
        ],
    },
    KindSpec {
        name: "smtp",
        label: "SMTP (e-mail)",
        summary: "E-mail through your mail server.",
        fields: &[
            required(text("host", "Server", "Such as smtp.example.com.")),
            defaulting(text("port", "Port", ""), "587"),
            choice("tls", "Security", &["starttls", "tls", "none"]),
            text("username", "User name", "Empty: no login."),
            secret(text("password", "Password", "")),
            required(text(
                "from",
                "From",
                "Such as Acme <no-reply@acme.example>.",
            )),
        ],
    },
    KindSpec {
        name: "webhook",
        label: "Webhook",
        summary: "Posts each message, code included, to your own service.",
        fields: &[
            choice("channel", "Channel", ANY),
            required(text("url", "URL", "")),
            text("username", "User name", "For HTTP basic authentication."),
            secret(text("password", "Password", "")),
        ],
    },
    KindSpec {
        name: "console",
        label: "Dev inbox",
        summary: "Keeps messages in this app's dev inbox; nothing leaves the server.",
        fields: &[choice("channel", "Channel", ANY)],
    },
];

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|k| k.name == name)
}

/// Why a provider's fields do not make a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// What every stored provider is built with: the server's network policy, its templates
/// per channel (`[templates.<channel>]`, the built-in ones otherwise) and its public URL
/// (where providers post delivery receipts).
#[derive(Debug, Clone, Default)]
pub struct ProviderKit {
    pub net: NetPolicy,
    pub templates: BTreeMap<String, TemplateSet>,
    pub root_url: String,
}

impl ProviderKit {
    fn templates(&self, channel: Channel) -> TemplateSet {
        match self.templates.get(channel.as_str()) {
            Some(set) => set.clone(),
            None if channel == Channel::Email => TemplateSet::default_email(),
            None => TemplateSet::default_sms(),
        }
    }
}

/// How long one send of a stored provider may take, and how many connections it keeps.
const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNS: usize = 4;

/// A stored provider's values, plain and secret, as the builder reads them.
struct Values<'a> {
    kind: &'static KindSpec,
    fields: &'a BTreeMap<String, String>,
    secrets: &'a BTreeMap<String, String>,
}

impl<'a> Values<'a> {
    /// The field's value, its default when empty.
    fn get(&self, name: &'static str) -> &'a str {
        let spec = self.kind.field(name);
        let given = if spec.is_some_and(|f| f.secret) {
            self.secrets.get(name)
        } else {
            self.fields.get(name)
        };
        match given.map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(v) => v,
            None => spec.map_or("", |f| f.choices.first().copied().unwrap_or(f.default)),
        }
    }

    /// Every field checked against its form: required ones given, choices among theirs.
    fn check(&self) -> Result<(), FieldError> {
        for f in self.kind.fields {
            let value = self.get(f.name);
            if f.required && value.is_empty() {
                return Err(FieldError::new(f.name, "is required"));
            }
            if !f.choices.is_empty() && !f.choices.contains(&value) {
                return Err(FieldError::new(
                    f.name,
                    format!("must be one of {}", f.choices.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn channel(&self) -> Channel {
        Channel::parse(self.get("channel")).unwrap_or(Channel::Email)
    }

    /// An http(s) URL the network policy lets the server reach.
    fn url(&self, name: &'static str, net: NetPolicy) -> Result<String, FieldError> {
        let url = self.get(name);
        net.check_url(url).map_err(|e| {
            FieldError::new(name, e.into_reason().replace("the provider URL", "the URL"))
        })?;
        Ok(url.to_owned())
    }

    /// `name = value` (or `Name: value`) lines as pairs.
    fn pairs(
        &self,
        name: &'static str,
        separator: char,
    ) -> Result<Vec<(String, String)>, FieldError> {
        let mut out = Vec::new();
        for (n, line) in self.get(name).lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(separator) else {
                return Err(FieldError::new(
                    name,
                    format!("line {} has no {separator:?}", n + 1),
                ));
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(FieldError::new(name, format!("line {} has no name", n + 1)));
            }
            out.push((key.to_owned(), value.trim().to_owned()));
        }
        Ok(out)
    }
}

fn built(field: &'static str) -> impl Fn(DeliveryError) -> FieldError {
    move |e| FieldError::new(field, e.into_reason())
}

/// Builds the provider `id` of `kind` from its plain `fields` and `secrets`, asking for
/// delivery receipts at `receipts` where the kind has them; the first field that does not
/// fit otherwise.
pub fn build(
    id: &str,
    kind_name: &str,
    fields: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
    kit: &ProviderKit,
    receipts: Option<String>,
) -> Result<Arc<dyn Provider>, FieldError> {
    let kind = kind(kind_name).ok_or_else(|| FieldError::new("kind", "is not one we know"))?;
    let v = Values {
        kind,
        fields,
        secrets,
    };
    v.check()?;
    let id = id.to_owned();
    let net = kit.net;
    let channel = v.channel();
    let templates = kit.templates(channel);
    let provider: Arc<dyn Provider> = match kind.name {
        "twilio" => {
            let (from, service) = (v.get("from"), v.get("messaging_service_sid"));
            if from.is_empty() && service.is_empty() {
                return Err(FieldError::new(
                    "from",
                    "or a messaging service SID is required",
                ));
            }
            Arc::new(
                TwilioProvider::new(TwilioSettings {
                    id,
                    channel,
                    account_sid: v.get("account_sid").to_owned(),
                    auth_token: v.get("auth_token").to_owned(),
                    from: from.to_owned(),
                    messaging_service_sid: service.to_owned(),
                    base_url: v.url("base_url", net)?,
                    status_callback: receipts,
                    timeout: TIMEOUT,
                    max_conns: MAX_CONNS,
                    templates,
                    net,
                })
                .map_err(built("account_sid"))?,
            )
        }
        "http_sms" => {
            let method = match v.get("method") {
                "GET" => reqwest::Method::GET,
                "PUT" => reqwest::Method::PUT,
                _ => reqwest::Method::POST,
            };
            let pairs = v.pairs("fields", '=')?;
            let (query, body) = match v.get("body") {
                "json" => (Vec::new(), HttpSmsBody::Json(pairs)),
                "none" => (pairs, HttpSmsBody::None),
                _ => (Vec::new(), HttpSmsBody::Form(pairs)),
            };
            Arc::new(
                HttpSmsProvider::new(HttpSmsSettings {
                    id,
                    channel,
                    method,
                    url: v.url("url", net)?,
                    query,
                    body,
                    headers: v.pairs("headers", ':')?,
                    password: v.get("password").to_owned(),
                    success_status: Vec::new(),
                    success_contains: Some(v.get("success_contains").to_owned())
                        .filter(|s| !s.is_empty()),
                    message_id_pointer: Some(v.get("message_id_pointer").to_owned())
                        .filter(|s| !s.is_empty()),
                    timeout: TIMEOUT,
                    max_conns: MAX_CONNS,
                    templates,
                    net,
                })
                .map_err(built("fields"))?,
            )
        }
        "kaleyra" => Arc::new(
            KaleyraProvider::new(KaleyraSettings {
                id,
                channel,
                api_key: v.get("api_key").to_owned(),
                sid: v.get("sid").to_owned(),
                sender: v.get("sender").to_owned(),
                sms_entity_id: v.get("sms_entity_id").to_owned(),
                sms_template_id: v.get("sms_template_id").to_owned(),
                default_phone_code: v.get("default_phone_code").to_owned(),
                template_name: v.get("template_name").to_owned(),
                base_url: v.url("base_url", net)?,
                timeout: TIMEOUT,
                max_conns: MAX_CONNS,
                templates,
                net,
            })
            .map_err(built("sid"))?,
        ),
        "smtp" => Arc::new(GuardedSmtp::new(id, &v, templates, net)?),
        "webhook" => Arc::new(
            WebhookProvider::new(WebhookSettings {
                id,
                url: v.url("url", net)?,
                channel,
                username: v.get("username").to_owned(),
                password: v.get("password").to_owned(),
                signing_secret: None,
                max_address_len: 0,
                timeout: TIMEOUT,
                max_conns: MAX_CONNS,
                templates,
                net,
            })
            .map_err(built("url"))?,
        ),
        _ => Arc::new(InboxProvider {
            id,
            channel: Channel::parse(v.get("channel")).unwrap_or(Channel::Other),
            templates,
        }),
    };
    Ok(provider)
}

/// A tenant's mail server: resolved and checked against the network policy before every
/// send, then reached at the address checked (its certificate still checked by name).
struct GuardedSmtp {
    id: String,
    settings: SmtpSettings,
    net: NetPolicy,
}

impl GuardedSmtp {
    fn new(
        id: String,
        v: &Values<'_>,
        templates: TemplateSet,
        net: NetPolicy,
    ) -> Result<Self, FieldError> {
        let host = v.get("host");
        if host.contains(['/', ' ', '@']) {
            return Err(FieldError::new("host", "must be a server name or address"));
        }
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            if !net.allows(ip) {
                return Err(FieldError::new(
                    "host",
                    format!("{ip} is on a network this server may not reach"),
                ));
            }
        }
        let port = v
            .get("port")
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| FieldError::new("port", "must be a number from 1 to 65535"))?;
        let from = v.get("from").parse().map_err(|_| {
            FieldError::new(
                "from",
                "must be an address, such as Acme <no-reply@acme.example>",
            )
        })?;
        let username = v.get("username");
        let settings = SmtpSettings {
            host: host.trim_matches(['[', ']']).to_owned(),
            connect_to: None,
            port,
            tls: match v.get("tls") {
                "tls" => TlsMode::Tls,
                "none" => TlsMode::None,
                _ => TlsMode::StartTls,
            },
            tls_skip_verify: false,
            auth: if username.is_empty() {
                SmtpAuth::None
            } else {
                SmtpAuth::Plain
            },
            username: username.to_owned(),
            password: v.get("password").to_owned(),
            from,
            max_conns: 1,
            timeout: TIMEOUT,
            templates,
        };
        // Builds once now, so a setting lettre refuses is refused at save.
        SmtpProvider::new(settings.clone()).map_err(built("host"))?;
        Ok(Self { id, settings, net })
    }
}

#[async_trait]
impl Provider for GuardedSmtp {
    fn id(&self) -> &str {
        &self.id
    }

    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn templates(&self) -> &TemplateSet {
        &self.settings.templates
    }

    fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        let host = &self.settings.host;
        let found = tokio::net::lookup_host((host.as_str(), self.settings.port))
            .await
            .map_err(|e| DeliveryError::Unavailable(format!("{host} does not resolve: {e}")))?;
        let Some(allowed) = found.map(|a| a.ip()).find(|ip| self.net.allows(*ip)) else {
            return Err(DeliveryError::Rejected(format!(
                "{host} resolves only to addresses this server may not reach"
            )));
        };
        let settings = SmtpSettings {
            connect_to: Some(allowed),
            ..self.settings.clone()
        };
        SmtpProvider::new(settings)?.send(message).await
    }
}

/// The `console` kind: its messages are kept in the app's dev inbox (the engine routes
/// them there), so it never sends.
struct InboxProvider {
    id: String,
    channel: Channel,
    templates: TemplateSet,
}

#[async_trait]
impl Provider for InboxProvider {
    fn id(&self) -> &str {
        &self.id
    }

    fn channel(&self) -> Channel {
        self.channel
    }

    fn templates(&self) -> &TemplateSet {
        &self.templates
    }

    fn keeps_messages(&self) -> bool {
        true
    }

    async fn send(&self, _: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        Err(DeliveryError::Rejected(
            "a dev inbox provider keeps its messages; it does not send".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn kit() -> ProviderKit {
        ProviderKit::default()
    }

    fn refusal(kind: &str, fields: &[(&str, &str)], secrets: &[(&str, &str)]) -> FieldError {
        match build("p", kind, &map(fields), &map(secrets), &kit(), None) {
            Err(e) => e,
            Ok(_) => panic!("{kind} {fields:?} was accepted"),
        }
    }

    // A mail transport needs the runtime it serves in, as in the server.
    #[tokio::test]
    async fn every_kind_builds_from_its_required_fields() {
        let secrets = map(&[("auth_token", "t"), ("api_key", "k")]);
        for (kind, fields, channel) in [
            (
                "twilio",
                vec![("account_sid", "AC1"), ("from", "+15005550006")],
                Channel::Sms,
            ),
            (
                "http_sms",
                vec![("url", "https://sms.example/send")],
                Channel::Sms,
            ),
            (
                "kaleyra",
                vec![("sid", "S"), ("sender", "ACME"), ("channel", "whatsapp")],
                Channel::Whatsapp,
            ),
            (
                "smtp",
                vec![("host", "mail.example"), ("from", "a@example.com")],
                Channel::Email,
            ),
            (
                "webhook",
                vec![("url", "https://hooks.example/otp")],
                Channel::Other,
            ),
            ("console", vec![("channel", "email")], Channel::Email),
        ] {
            let p = build("mine", kind, &map(&fields), &secrets, &kit(), None)
                .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            assert_eq!((p.id(), p.channel()), ("mine", channel), "{kind}");
            assert_eq!(p.keeps_messages(), kind == "console");
        }
    }

    #[tokio::test]
    async fn missing_fields_bad_choices_and_closed_networks_are_named() {
        let e = refusal("twilio", &[("from", "+1")], &[("auth_token", "t")]);
        assert_eq!(e.field, "account_sid");
        let e = refusal("twilio", &[("account_sid", "AC")], &[("auth_token", "t")]);
        assert_eq!(e.field, "from");
        let e = refusal(
            "http_sms",
            &[("url", "https://x.example"), ("method", "DELETE")],
            &[],
        );
        assert_eq!(
            (e.field, e.reason.as_str()),
            ("method", "must be one of POST, GET, PUT")
        );
        let e = refusal("http_sms", &[("url", "http://169.254.169.254/latest")], &[]);
        assert_eq!(e.field, "url");
        assert!(e.reason.contains("may not reach"), "{}", e.reason);
        let e = refusal("webhook", &[("url", "http://127.0.0.1:9/")], &[]);
        assert_eq!(e.field, "url");
        let e = refusal("webhook", &[("url", "file:///etc/passwd")], &[]);
        assert_eq!(e.field, "url");
        let e = refusal(
            "twilio",
            &[
                ("account_sid", "AC"),
                ("from", "+1"),
                ("base_url", "http://10.0.0.1"),
            ],
            &[("auth_token", "t")],
        );
        assert_eq!(e.field, "base_url");
        let e = refusal(
            "smtp",
            &[("host", "127.0.0.1"), ("from", "a@b.example")],
            &[],
        );
        assert_eq!(e.field, "host");
        let e = refusal("smtp", &[("host", "mail.example"), ("from", "nobody")], &[]);
        assert_eq!(e.field, "from");
        let e = refusal(
            "http_sms",
            &[("url", "https://x.example"), ("fields", "to {{ to }}")],
            &[],
        );
        assert_eq!(
            (e.field, e.reason.as_str()),
            ("fields", "line 1 has no '='")
        );
        assert_eq!(refusal("fax", &[], &[]).field, "kind");
    }

    #[tokio::test]
    async fn a_mail_server_name_that_resolves_to_loopback_is_refused_when_sending() {
        let fields = map(&[
            ("host", "localhost"),
            ("port", "2525"),
            ("tls", "none"),
            ("from", "a@example.com"),
        ]);
        let p = build("mail", "smtp", &fields, &BTreeMap::new(), &kit(), None).unwrap();
        let message = OutgoingMessage {
            to: crate::gateway::address::Address::parse(Channel::Email, "b@example.com").unwrap(),
            subject: "s".into(),
            text: "t".into(),
            html: None,
            meta: crate::gateway::delivery::MessageMeta {
                namespace: "n".into(),
                id: "i".into(),
                provider: "mail".into(),
                code: crate::gateway::code::OtpCode::parse("123456", Default::default()).unwrap(),
                channel_description: String::new(),
                address_description: String::new(),
                extra: "{}".into(),
                attempts: 0,
                max_attempts: 5,
                sends: 1,
                max_sends: 5,
                ttl_secs: 60,
            },
        };
        match p.send(&message).await {
            Err(DeliveryError::Rejected(r)) => assert!(r.contains("may not reach"), "{r}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
