//! E-mail over SMTP with lettre: pooled connections, TLS, STARTTLS or plain, and a
//! multipart/alternative message with a text and an HTML part.

use super::{DeliveryError, OutgoingMessage, Provider, Sent, TemplateSet};
use crate::gateway::address::Channel;
use async_trait::async_trait;
use lettre::{
    message::{header::ContentType, Mailbox, MultiPart, SinglePart},
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::{Tls, TlsParameters},
        PoolConfig,
    },
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use std::time::Duration;

/// How the connection is secured (otpgateway's `tls_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Tls,
}

/// How the client logs in (otpgateway's `auth_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpAuth {
    None,
    Plain,
    Login,
    /// Asked for by otpgateway configs; lettre has no CRAM-MD5, so PLAIN or LOGIN is
    /// offered instead (only ever over TLS unless the operator chose `tls_type = "none"`).
    Cram,
}

/// Everything needed to reach an SMTP server. `Debug` hides the password.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The server's name (or address), which its TLS certificate must match.
    pub host: String,
    /// Where to connect instead of resolving `host` (a tenant's server, resolved and
    /// checked against the network policy just before).
    pub connect_to: Option<std::net::IpAddr>,
    pub port: u16,
    pub tls: TlsMode,
    pub tls_skip_verify: bool,
    pub auth: SmtpAuth,
    pub username: String,
    pub password: String,
    pub from: Mailbox,
    pub max_conns: u32,
    pub timeout: Duration,
    pub templates: TemplateSet,
}

crate::debug_showing!(SmtpSettings {
    host,
    port,
    tls,
    auth,
    username
});

/// The `smtp` provider.
pub struct SmtpProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: TemplateSet,
    timeout: Duration,
}

impl SmtpProvider {
    /// Builds the pooled transport; connections open lazily on the first send.
    pub fn new(settings: SmtpSettings) -> Result<Self, DeliveryError> {
        let bad = |e: lettre::transport::smtp::Error| DeliveryError::Rejected(e.to_string());
        let tls_params = || {
            TlsParameters::builder(settings.host.clone())
                .dangerous_accept_invalid_certs(settings.tls_skip_verify)
                .build()
                .map_err(bad)
        };
        let server = match settings.connect_to {
            Some(ip) => ip.to_string(),
            None => settings.host.clone(),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
            .port(settings.port)
            .timeout(Some(settings.timeout))
            .pool_config(PoolConfig::new().max_size(settings.max_conns.max(1)));
        builder = match settings.tls {
            TlsMode::None => builder.tls(Tls::None),
            TlsMode::StartTls => builder.tls(Tls::Required(tls_params()?)),
            TlsMode::Tls => builder.tls(Tls::Wrapper(tls_params()?)),
        };
        let mechanisms = match settings.auth {
            SmtpAuth::None => vec![],
            SmtpAuth::Plain => vec![Mechanism::Plain],
            SmtpAuth::Login => vec![Mechanism::Login],
            SmtpAuth::Cram => vec![Mechanism::Plain, Mechanism::Login],
        };
        if !mechanisms.is_empty() {
            builder = builder
                .credentials(Credentials::new(
                    settings.username.clone(),
                    settings.password.clone(),
                ))
                .authentication(mechanisms);
        }
        Ok(Self {
            transport: builder.build(),
            from: settings.from,
            templates: settings.templates,
            timeout: settings.timeout,
        })
    }
}

#[async_trait]
impl Provider for SmtpProvider {
    fn id(&self) -> &str {
        "smtp"
    }

    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn templates(&self) -> &TemplateSet {
        &self.templates
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        let to: lettre::Address = message
            .to
            .as_str()
            .parse()
            .map_err(|_| DeliveryError::Rejected("invalid recipient".into()))?;
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(message.text.clone());
        let body = match &message.html {
            Some(html) => MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
            None => MultiPart::mixed().singlepart(text),
        };
        let email = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(message.subject.clone())
            .multipart(body)
            .map_err(|e| DeliveryError::Rejected(e.to_string()))?;
        let response = self.transport.send(email).await.map_err(|e| {
            if e.is_permanent() {
                DeliveryError::Rejected(e.to_string())
            } else {
                DeliveryError::Unavailable(e.to_string())
            }
        })?;
        // Most servers answer "250 2.0.0 Ok: queued as <id>"; that id finds the message
        // in the server's logs.
        let message_id = response.message().find_map(|line| {
            line.split_once("queued as ")
                .map(|(_, id)| id.trim().to_owned())
                .filter(|id| !id.is_empty())
        });
        Ok(Sent { message_id })
    }
}
