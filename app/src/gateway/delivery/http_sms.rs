//! A generic HTTP SMS gateway, described entirely in configuration: method, URL, query
//! parameters, a form or JSON body, headers, and what counts as success.
//!
//! Values are small templates with `to` (E.164, `+` included), `to_digits` (without the
//! `+`), `body`, `subject`, `otp`, `namespace`, `id` and `password`, so the common
//! `GET {endpoint}?username=…&password=…&phone={{ to }}&message={{ body }}` with an
//! `X-API-Key` header is a few lines of TOML.

use super::{net::NetPolicy, DeliveryError, OutgoingMessage, Provider, Sent, TemplateSet};
use crate::gateway::address::Channel;
use async_trait::async_trait;
use minijinja::Environment;
use serde::Serialize;
use std::time::Duration;

/// How the request carries its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpSmsBody {
    None,
    /// `application/x-www-form-urlencoded` pairs.
    Form(Vec<(String, String)>),
    /// A JSON object of string values.
    Json(Vec<(String, String)>),
}

/// A configured gateway. `Debug` hides header values and fields (they hold keys).
#[derive(Clone)]
pub struct HttpSmsSettings {
    pub id: String,
    pub channel: Channel,
    pub method: reqwest::Method,
    pub url: String,
    pub query: Vec<(String, String)>,
    pub body: HttpSmsBody,
    pub headers: Vec<(String, String)>,
    /// A secret the fields, headers and URL may use as `{{ password }}`.
    pub password: String,
    /// Statuses that mean accepted; empty means any 2xx.
    pub success_status: Vec<u16>,
    /// Text the answer must contain to count as accepted (gateways that answer 200 with
    /// an error in the body).
    pub success_contains: Option<String>,
    /// A JSON pointer (`/data/id`) to the message id in the answer.
    pub message_id_pointer: Option<String>,
    pub timeout: Duration,
    pub max_conns: usize,
    pub templates: TemplateSet,
    pub net: NetPolicy,
}

crate::debug_showing!(HttpSmsSettings { id, method, url });

/// The values a field template can use.
#[derive(Serialize)]
struct FieldVars<'a> {
    to: &'a str,
    to_digits: &'a str,
    body: &'a str,
    subject: &'a str,
    otp: &'a str,
    namespace: &'a str,
    id: &'a str,
    password: &'a str,
}

pub struct HttpSmsProvider {
    settings: HttpSmsSettings,
    client: reqwest::Client,
}

/// Checks that every field template compiles; names the first that does not.
fn check_fields<'a>(
    fields: impl IntoIterator<Item = &'a (String, String)>,
) -> Result<(), DeliveryError> {
    let env = Environment::new();
    for (name, value) in fields {
        env.template_from_str(value).map_err(|e| {
            DeliveryError::Rejected(format!("field {name:?} is not a valid template: {e}"))
        })?;
    }
    Ok(())
}

impl HttpSmsProvider {
    pub fn new(settings: HttpSmsSettings) -> Result<Self, DeliveryError> {
        let body_fields = match &settings.body {
            HttpSmsBody::None => &[][..],
            HttpSmsBody::Form(f) | HttpSmsBody::Json(f) => &f[..],
        };
        check_fields(
            settings
                .query
                .iter()
                .chain(body_fields)
                .chain(&settings.headers),
        )?;
        check_fields(&[("url".to_owned(), settings.url.clone())])?;
        let client = settings.net.client(settings.timeout, settings.max_conns)?;
        Ok(Self { settings, client })
    }
}

fn render_fields(
    env: &Environment<'_>,
    fields: &[(String, String)],
    vars: &FieldVars<'_>,
) -> Result<Vec<(String, String)>, DeliveryError> {
    fields
        .iter()
        .map(|(name, template)| {
            env.render_str(template, vars)
                .map(|value| (name.clone(), value))
                .map_err(|e| DeliveryError::Rejected(format!("field {name:?}: {}", e.kind())))
        })
        .collect()
}

#[async_trait]
impl Provider for HttpSmsProvider {
    super::settings_accessors!();

    async fn send(&self, message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        let s = &self.settings;
        let env = Environment::new();
        let to = message.to.as_str();
        let vars = FieldVars {
            to,
            to_digits: to.trim_start_matches('+'),
            body: &message.text,
            subject: &message.subject,
            otp: message.meta.code.expose(),
            namespace: &message.meta.namespace,
            id: &message.meta.id,
            password: &s.password,
        };
        let url = env
            .render_str(&s.url, &vars)
            .map_err(|e| DeliveryError::Rejected(format!("url: {}", e.kind())))?;
        s.net.check_url(&url)?;
        let mut request = self
            .client
            .request(s.method.clone(), &url)
            .query(&render_fields(&env, &s.query, &vars)?);
        for (name, value) in render_fields(&env, &s.headers, &vars)? {
            request = request.header(name, value);
        }
        request = match &s.body {
            HttpSmsBody::None => request,
            HttpSmsBody::Form(fields) => request.form(&render_fields(&env, fields, &vars)?),
            HttpSmsBody::Json(fields) => {
                let object: serde_json::Map<String, serde_json::Value> =
                    render_fields(&env, fields, &vars)?
                        .into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v)))
                        .collect();
                request.json(&object)
            }
        };
        let response = request.send().await.map_err(super::transport_error)?;
        let status = response.status();
        let accepted = if s.success_status.is_empty() {
            super::status_outcome(&s.id, &response)
        } else if s.success_status.contains(&status.as_u16()) {
            Ok(())
        } else {
            super::status_outcome(&s.id, &response).and(Err(DeliveryError::Rejected(format!(
                "{} answered {status}",
                s.id
            ))))
        };
        accepted?;
        let text = response.text().await.unwrap_or_default();
        if let Some(needle) = &s.success_contains {
            if !text.contains(needle.as_str()) {
                return Err(DeliveryError::Rejected(format!(
                    "{} answered without {needle:?}",
                    s.id
                )));
            }
        }
        let message_id = s.message_id_pointer.as_deref().and_then(|pointer| {
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            match json.pointer(pointer)? {
                serde_json::Value::String(id) => Some(id.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        });
        Ok(Sent { message_id })
    }
}
