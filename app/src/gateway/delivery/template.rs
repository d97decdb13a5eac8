//! Message templates with otpgateway's Go-template variables (`{{ .OTP }}`).
//!
//! Only variable substitution is supported here; a full template engine arrives with the
//! per-app templates. SMS bodies and subjects are plain text; the HTML body escapes values.

use std::borrow::Cow;

/// The values a template can use. `otp` is the plaintext code.
#[derive(Clone)]
pub struct TemplateVars<'a> {
    pub to: &'a str,
    pub namespace: &'a str,
    pub app_name: &'a str,
    pub channel: &'a str,
    pub otp: &'a str,
    pub otp_url: &'a str,
    /// The verification's own TTL, in whole minutes, e.g. `10 minutes`.
    pub otp_ttl: &'a str,
}

impl TemplateVars<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "To" => self.to,
            "Namespace" => self.namespace,
            "AppName" => self.app_name,
            "Channel" | "ChannelName" => self.channel,
            "OTP" => self.otp,
            "OTPURL" => self.otp_url,
            "OTPTTL" => self.otp_ttl,
            _ => return None,
        })
    }
}

/// Replaces each `{{ .Name }}` (spaces optional) with its value; unknown names are left out.
pub fn render(template: &str, vars: &TemplateVars<'_>, escape: fn(&str) -> Cow<'_, str>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = rest[start + 2..start + len].trim();
        if let Some(value) = inner.strip_prefix('.').and_then(|n| vars.get(n.trim())) {
            out.push_str(&escape(value));
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn plain(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A provider's subject and bodies.
#[derive(Debug, Clone)]
pub struct MessageTemplate {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// Rendered subject, text and optional HTML.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

impl MessageTemplate {
    pub const DEFAULT_SUBJECT: &'static str = "{{ .OTP }} is your {{ .AppName }} code";

    /// The built-in e-mail: a short plain-text part and an HTML card.
    pub fn default_email() -> Self {
        Self {
            subject: Self::DEFAULT_SUBJECT.into(),
            text: include_str!("templates/email.txt").into(),
            html: Some(include_str!("templates/email.html").into()),
        }
    }

    /// The built-in text message for SMS-like channels.
    pub fn default_sms() -> Self {
        Self {
            subject: Self::DEFAULT_SUBJECT.into(),
            text:
                "{{ .OTP }} is your {{ .AppName }} verification code. It expires in {{ .OTPTTL }}."
                    .into(),
            html: None,
        }
    }

    pub fn render(&self, vars: &TemplateVars<'_>) -> Rendered {
        Rendered {
            subject: render(&self.subject, vars, plain),
            text: render(&self.text, vars, plain),
            html: self.html.as_deref().map(|h| render(h, vars, html_escape)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> TemplateVars<'static> {
        TemplateVars {
            to: "john@example.com",
            namespace: "demo",
            app_name: "Demo <Shop>",
            channel: "E-mail",
            otp: "123456",
            otp_url: "http://127.0.0.1:3000/otp/demo/x",
            otp_ttl: "10 minutes",
        }
    }

    #[test]
    fn go_template_variables_are_substituted() {
        let out = render(
            "{{ .Namespace }}: {{.Channel}} code {{ .OTP }} ({{ .OTPTTL }})",
            &vars(),
            plain,
        );
        assert_eq!(out, "demo: E-mail code 123456 (10 minutes)");
    }

    #[test]
    fn unknown_variables_vanish_and_unclosed_braces_stay() {
        assert_eq!(render("a{{ .Nope }}b", &vars(), plain), "ab");
        assert_eq!(render("a {{ .OTP", &vars(), plain), "a {{ .OTP");
    }

    #[test]
    fn html_bodies_escape_values_and_subjects_do_not() {
        let t = MessageTemplate::default_email();
        let r = t.render(&vars());
        assert!(r.subject.contains("Demo <Shop>"));
        let html = r.html.unwrap();
        assert!(html.contains("Demo &lt;Shop&gt;"));
        assert!(html.contains("123456"));
        assert!(r.text.contains("123456"));
    }
}
