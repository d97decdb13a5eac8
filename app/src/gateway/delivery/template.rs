//! Message templates: Jinja syntax through minijinja, with otpgateway's Go-template
//! variables (`{{ .OTP }}`) still understood.
//!
//! Variables: `To`, `Namespace`, `AppName`, `Channel`, `OTP`, `OTPURL`, `OTPLink` (the page
//! with the code in the link, for a one-click confirm), `OTPTTL`. HTML
//! bodies escape values; subjects, plain-text bodies and SMS do not. Templates are checked
//! when the configuration loads, so a broken one stops the start, not a delivery.
//!
//! A part that is only text and those variables (every built-in one, and most of an app's
//! own) is also kept as a [`Substitution`]: the outbox renders one per message, and
//! putting the values between the pieces of text costs a fraction of minijinja's render
//! (which first turns the values into its own, and runs the template's program). Anything
//! else in a part (a filter, a tag, a comment, whitespace control, another name) leaves it
//! to minijinja. Both give the same text: `substitution_renders_what_minijinja_renders`.

use minijinja::{AutoEscape, Environment, HtmlEscape};
use serde::Serialize;
use std::{collections::BTreeMap, fmt::Write, sync::Arc};

/// The values a template can use. `otp` is the plaintext code.
#[derive(Clone, Serialize)]
pub struct TemplateVars<'a> {
    #[serde(rename = "To")]
    pub to: &'a str,
    #[serde(rename = "Namespace")]
    pub namespace: &'a str,
    #[serde(rename = "AppName")]
    pub app_name: &'a str,
    #[serde(rename = "Channel")]
    pub channel: &'a str,
    #[serde(rename = "OTP")]
    pub otp: &'a str,
    #[serde(rename = "OTPURL")]
    pub otp_url: &'a str,
    /// The page with the code in its link: one click to a confirm button (e-mail).
    #[serde(rename = "OTPLink")]
    pub otp_link: &'a str,
    /// The verification's own TTL in words, e.g. `10 minutes`.
    #[serde(rename = "OTPTTL")]
    pub otp_ttl: &'a str,
}

/// A template that does not compile, named by its part.
#[derive(Debug, thiserror::Error)]
#[error("{part}: {message}")]
pub struct TemplateError {
    pub part: &'static str,
    pub message: String,
}

/// Rewrites otpgateway's `{{ .Name }}` to `{{ Name }}`; Jinja text passes unchanged.
pub fn from_go_syntax(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start + 2]);
        rest = &rest[start + 2..];
        let inner = rest.trim_start_matches([' ', '-']);
        let skipped = &rest[..rest.len() - inner.len()];
        out.push_str(skipped);
        rest = inner.strip_prefix('.').unwrap_or(inner);
    }
    out.push_str(rest);
    out
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_keep_trailing_newline(true);
    env
}

/// The parts of one template (`subject.txt`, `body.txt`, `body.html`), compiled.
fn compile(parts: Vec<(&'static str, String)>) -> Result<Compiled, TemplateError> {
    let mut env = environment();
    let mut substitutions = Vec::new();
    for (part, source) in parts {
        if let Some(plan) = Substitution::of(&source, part.ends_with(".html")) {
            substitutions.push((part, plan));
        }
        env.add_template_owned(part, source)
            .map_err(|e| TemplateError {
                part,
                message: e.to_string(),
            })?;
    }
    Ok(Compiled { env, substitutions })
}

/// One of the values a template can use, by the name it uses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Var {
    To,
    Namespace,
    AppName,
    Channel,
    Otp,
    OtpUrl,
    OtpLink,
    OtpTtl,
}

impl Var {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "To" => Var::To,
            "Namespace" => Var::Namespace,
            "AppName" => Var::AppName,
            "Channel" => Var::Channel,
            "OTP" => Var::Otp,
            "OTPURL" => Var::OtpUrl,
            "OTPLink" => Var::OtpLink,
            "OTPTTL" => Var::OtpTtl,
            _ => return None,
        })
    }

    fn of<'a>(self, vars: &TemplateVars<'a>) -> &'a str {
        match self {
            Var::To => vars.to,
            Var::Namespace => vars.namespace,
            Var::AppName => vars.app_name,
            Var::Channel => vars.channel,
            Var::Otp => vars.otp,
            Var::OtpUrl => vars.otp_url,
            Var::OtpLink => vars.otp_link,
            Var::OtpTtl => vars.otp_ttl,
        }
    }
}

#[derive(Debug)]
enum Piece {
    Text(Box<str>),
    Var(Var),
}

/// A part that is only text and `{{ Name }}` of the known variables, rendered by putting
/// the values in (HTML-escaped in an HTML part with minijinja's own escape).
#[derive(Debug)]
struct Substitution {
    pieces: Vec<Piece>,
    html: bool,
}

impl Substitution {
    /// `None` when `source` holds anything but text and known variables, or when its
    /// text could read as more template syntax.
    fn of(source: &str, html: bool) -> Option<Self> {
        let mut pieces = Vec::new();
        let mut rest = source;
        loop {
            let (text, tail) = match rest.find("{{") {
                Some(start) => (&rest[..start], Some(&rest[start + 2..])),
                None => (rest, None),
            };
            if text.contains("{%") || text.contains("{#") {
                return None;
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(text.into()));
            }
            let Some(tail) = tail else { break };
            let end = tail.find("}}")?;
            let name = tail[..end].trim_matches(' ');
            pieces.push(Piece::Var(Var::named(name)?));
            rest = &tail[end + 2..];
        }
        Some(Self { pieces, html })
    }

    fn render(&self, vars: &TemplateVars<'_>) -> String {
        let mut out = String::with_capacity(
            self.pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(text) => text.len(),
                    Piece::Var(var) => var.of(vars).len(),
                })
                .sum(),
        );
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                // minijinja's own escape, as its auto-escape writes it.
                Piece::Var(var) if self.html => {
                    let _ = write!(out, "{}", HtmlEscape(var.of(vars)));
                }
                Piece::Var(var) => out.push_str(var.of(vars)),
            }
        }
        out
    }
}

/// The compiled parts, and those that render by substitution.
#[derive(Debug)]
struct Compiled {
    env: Environment<'static>,
    substitutions: Vec<(&'static str, Substitution)>,
}

/// A subject, a plain-text body and, for e-mail, an HTML body, compiled once
/// (`subject.txt`, `body.txt`, `body.html`) and rendered without parsing again.
#[derive(Debug, Clone)]
pub struct MessageTemplate {
    compiled: Arc<Compiled>,
}

/// Rendered subject, text and optional HTML.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

impl MessageTemplate {
    /// Compiles the parts (Jinja or otpgateway's Go syntax).
    pub fn new(subject: &str, text: &str, html: Option<&str>) -> Result<Self, TemplateError> {
        let (subject, text) = (from_go_syntax(subject), from_go_syntax(text));
        let html = html.map(from_go_syntax);
        let mut parts = vec![("subject.txt", subject), ("body.txt", text)];
        parts.extend(html.map(|html| ("body.html", html)));
        Ok(Self {
            compiled: Arc::new(compile(parts)?),
        })
    }

    /// The source of `part` (after the Go-syntax rewrite), if the template has it.
    fn source(&self, part: &str) -> Option<String> {
        let template = self.compiled.env.get_template(part).ok()?;
        Some(template.source().to_owned())
    }

    /// This template with `part` replaced by `source`.
    fn with(self, part: &'static str, source: &str) -> Result<Self, TemplateError> {
        let mut parts: Vec<(&'static str, String)> = ["subject.txt", "body.txt", "body.html"]
            .into_iter()
            .filter(|p| *p != part)
            .filter_map(|p| self.source(p).map(|s| (p, s)))
            .collect();
        parts.push((part, from_go_syntax(source)));
        Ok(Self {
            compiled: Arc::new(compile(parts)?),
        })
    }

    pub fn with_subject(self, subject: &str) -> Result<Self, TemplateError> {
        self.with("subject.txt", subject)
    }

    pub fn with_text(self, text: &str) -> Result<Self, TemplateError> {
        self.with("body.txt", text)
    }

    pub fn with_html(self, html: &str) -> Result<Self, TemplateError> {
        self.with("body.html", html)
    }

    pub fn render(&self, vars: &TemplateVars<'_>) -> Rendered {
        Rendered {
            subject: self.render_part("subject.txt", vars).trim().to_owned(),
            text: self.render_part("body.txt", vars),
            html: self
                .compiled
                .env
                .get_template("body.html")
                .is_ok()
                .then(|| self.render_part("body.html", vars)),
        }
    }

    fn render_part(&self, part: &'static str, vars: &TemplateVars<'_>) -> String {
        let substitution = self.compiled.substitutions.iter().find(|(p, _)| *p == part);
        match substitution {
            Some((_, plan)) => plan.render(vars),
            None => self.render_by_minijinja(part, vars),
        }
    }

    fn render_by_minijinja(&self, part: &'static str, vars: &TemplateVars<'_>) -> String {
        match self
            .compiled
            .env
            .get_template(part)
            .and_then(|t| t.render(vars))
        {
            Ok(text) => text,
            // Checked at load; a failure here is a bug, logged without the values.
            Err(e) => {
                tracing::error!(part, error = %e.kind(), "template failed to render");
                String::new()
            }
        }
    }
}

/// Built-in wording per language: (tag, subject, SMS text, e-mail text).
const BUILT_IN: &[(&str, &str, &str, &str)] = &[
    (
        "en",
        "{{ OTP }} is your {{ AppName }} code",
        "{{ OTP }} is your {{ AppName }} verification code. It expires in {{ OTPTTL }}.",
        include_str!("templates/email.txt"),
    ),
    (
        "de",
        "{{ OTP }} ist Ihr Code für {{ AppName }}",
        "{{ OTP }} ist Ihr Bestätigungscode für {{ AppName }}.",
        "Ihr Bestätigungscode für {{ AppName }}:\n\n    {{ OTP }}\n\nÖffnen Sie {{ OTPURL }}, um ihn einzugeben.\n",
    ),
    (
        "es",
        "{{ OTP }} es tu código de {{ AppName }}",
        "{{ OTP }} es tu código de verificación de {{ AppName }}.",
        "Tu código de verificación de {{ AppName }}:\n\n    {{ OTP }}\n\nAbre {{ OTPURL }} para introducirlo.\n",
    ),
    (
        "fr",
        "{{ OTP }} est votre code {{ AppName }}",
        "{{ OTP }} est votre code de vérification {{ AppName }}.",
        "Votre code de vérification {{ AppName }} :\n\n    {{ OTP }}\n\nOuvrez {{ OTPURL }} pour le saisir.\n",
    ),
    (
        "hi",
        "{{ OTP }} आपका {{ AppName }} कोड है",
        "{{ OTP }} आपका {{ AppName }} सत्यापन कोड है।",
        "आपका {{ AppName }} सत्यापन कोड:\n\n    {{ OTP }}\n\nइसे दर्ज करने के लिए {{ OTPURL }} खोलें।\n",
    ),
    (
        "ar",
        "{{ OTP }} هو رمز {{ AppName }} الخاص بك",
        "{{ OTP }} هو رمز التحقق الخاص بك من {{ AppName }}.",
        "رمز التحقق الخاص بك من {{ AppName }}:\n\n    {{ OTP }}\n\nافتح {{ OTPURL }} لإدخاله.\n",
    ),
];

/// A provider's templates: one per language, a default, and the WebOTP line for SMS.
#[derive(Debug, Clone)]
pub struct TemplateSet {
    default: MessageTemplate,
    by_locale: BTreeMap<String, MessageTemplate>,
    /// Appends `@<host> #<code>` as the last line (WebOTP), for SMS.
    webotp_host: Option<String>,
}

impl TemplateSet {
    pub fn new(default: MessageTemplate) -> Self {
        Self {
            default,
            by_locale: BTreeMap::new(),
            webotp_host: None,
        }
    }

    /// The built-in e-mail: a short plain-text part and an HTML card, in every built-in
    /// language (the HTML card is English).
    pub fn default_email() -> Self {
        Self::built_in(|subject, _, text| {
            MessageTemplate::new(subject, text, Some(include_str!("templates/email.html")))
        })
    }

    /// The built-in short text message for SMS-like channels.
    pub fn default_sms() -> Self {
        Self::built_in(|subject, sms, _| MessageTemplate::new(subject, sms, None))
    }

    fn built_in(make: impl Fn(&str, &str, &str) -> Result<MessageTemplate, TemplateError>) -> Self {
        let mut set = None::<Self>;
        for (tag, subject, sms, email) in BUILT_IN {
            let t = make(subject, sms, email).expect("built-in templates compile");
            match &mut set {
                None => set = Some(Self::new(t)),
                Some(s) => {
                    s.by_locale.insert((*tag).to_owned(), t);
                }
            }
        }
        set.expect("English is built in")
    }

    /// Replaces the default (used when no language matches) and drops the built-in
    /// translations, which would no longer say the same thing.
    pub fn replace_default(&mut self, template: MessageTemplate) {
        self.default = template;
        self.by_locale.clear();
    }

    pub fn default_template(&self) -> &MessageTemplate {
        &self.default
    }

    pub fn set_locale(&mut self, tag: &str, template: MessageTemplate) {
        self.by_locale.insert(tag.to_ascii_lowercase(), template);
    }

    pub fn set_webotp_host(&mut self, host: Option<String>) {
        self.webotp_host = host;
    }

    /// The template for `locale`: an exact tag, then its language, then the default.
    pub fn for_locale(&self, locale: &str) -> &MessageTemplate {
        let tag = locale.to_ascii_lowercase();
        let language = tag.split(['-', '_']).next().unwrap_or_default();
        self.by_locale
            .get(&tag)
            .or_else(|| self.by_locale.get(language))
            .unwrap_or(&self.default)
    }

    /// Renders for `locale`, adding the WebOTP line when enabled.
    pub fn render(&self, locale: &str, vars: &TemplateVars<'_>) -> Rendered {
        self.render_with(None, locale, vars)
    }

    /// Renders `own` (an app's template) when given, else the template for `locale`;
    /// the WebOTP line is added either way.
    pub fn render_with(
        &self,
        own: Option<&MessageTemplate>,
        locale: &str,
        vars: &TemplateVars<'_>,
    ) -> Rendered {
        let mut rendered = own.unwrap_or_else(|| self.for_locale(locale)).render(vars);
        if let Some(host) = &self.webotp_host {
            let text = rendered.text.trim_end().to_owned();
            rendered.text = format!("{text}\n\n@{host} #{}", vars.otp);
        }
        rendered
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
            otp_link: "http://127.0.0.1:3000/otp/demo/x?code=123456",
            otp_ttl: "10 minutes",
        }
    }

    #[test]
    fn go_template_variables_are_rewritten() {
        assert_eq!(
            from_go_syntax("{{ .Namespace }}: {{.Channel}} {{- .OTP }} {{ OTPTTL }}"),
            "{{ Namespace }}: {{Channel}} {{- OTP }} {{ OTPTTL }}"
        );
        let t = MessageTemplate::new(
            "x",
            "{{ .Namespace }}: {{.Channel}} code {{ .OTP }} ({{ .OTPTTL }})",
            None,
        )
        .unwrap();
        assert_eq!(
            t.render(&vars()).text,
            "demo: E-mail code 123456 (10 minutes)"
        );
    }

    #[test]
    fn unknown_variables_vanish_and_broken_templates_are_refused() {
        let t = MessageTemplate::new("s", "a{{ Nope }}b", None).unwrap();
        assert_eq!(t.render(&vars()).text, "ab");
        let err = MessageTemplate::new("s", "a {{ OTP", None).unwrap_err();
        assert_eq!(err.part, "body.txt");
        assert!(MessageTemplate::new("s", "t", Some("{% if %}")).is_err());
    }

    #[test]
    fn html_bodies_escape_values_and_subjects_and_sms_do_not() {
        let r = TemplateSet::default_email().render("en", &vars());
        assert_eq!(r.subject, "123456 is your Demo <Shop> code");
        let html = r.html.unwrap();
        assert!(html.contains("Demo &lt;Shop&gt;"));
        assert!(!html.contains("Demo <Shop>"));
        assert!(html.contains("123456"));
        assert!(r.text.contains("Demo <Shop>"));
        let sms = TemplateSet::default_sms().render("en", &vars());
        assert!(sms
            .text
            .starts_with("123456 is your Demo <Shop> verification code."));
        assert!(sms.text.contains("10 minutes"));
    }

    #[test]
    fn languages_fall_back_from_region_to_language_to_default() {
        let set = TemplateSet::default_sms();
        assert!(set
            .render("de-AT", &vars())
            .text
            .contains("Bestätigungscode"));
        assert!(set.render("FR", &vars()).text.contains("vérification"));
        assert!(set.render("ar", &vars()).text.contains("رمز"));
        assert!(set
            .render("pt-BR", &vars())
            .text
            .contains("verification code"));
    }

    /// Every part a substitution renders, rendered by minijinja too, with values that
    /// need escaping: the same text. Parts with more than substitution are left to
    /// minijinja, and still render.
    #[test]
    fn substitution_renders_what_minijinja_renders() {
        let awkward = TemplateVars {
            to: "<a href='x'>\"o\" & /b</a>",
            namespace: "",
            app_name: "Ünïcødé 🦀 &amp; {{ OTP }}",
            channel: "{% if %}",
            otp: "A7K9Q2",
            otp_url: "http://127.0.0.1:3000/otp/demo/x?a=1&b=2",
            otp_link: "javascript:alert('x')",
            otp_ttl: "1 minute",
        };
        let mut templates = vec![MessageTemplate::new(
            "{{To}}{{ Namespace }}{{  AppName  }}",
            "{{ Channel }}{{ OTP }}}}{ {{ OTPURL }}{{OTPLink}}{{ OTPTTL }}\n\n",
            Some("<p>{{ To }}</p>{{ AppName }}{{ OTPLink }} }} {"),
        )
        .unwrap()];
        for set in [TemplateSet::default_email(), TemplateSet::default_sms()] {
            templates.push(set.default.clone());
            templates.extend(set.by_locale.values().cloned());
        }
        for t in &templates {
            for part in ["subject.txt", "body.txt", "body.html"] {
                if t.compiled.env.get_template(part).is_err() {
                    continue;
                }
                assert!(
                    t.compiled.substitutions.iter().any(|(p, _)| *p == part),
                    "{part} is substitution only"
                );
                for vars in [&vars(), &awkward] {
                    assert_eq!(
                        t.render_part(part, vars),
                        t.render_by_minijinja(part, vars),
                        "{part}"
                    );
                }
            }
        }
        let html = templates[0].render(&awkward).html.unwrap();
        assert!(
            html.starts_with(
                "<p>&lt;a href=&#x27;x&#x27;&gt;&quot;o&quot; &amp; &#x2f;b&lt;&#x2f;a&gt;</p>"
            ),
            "{html}"
        );
        for (source, rendered) in [
            ("{{ OTP|lower }}", "a7k9q2"),
            ("{{- OTP }} x", "A7K9Q2 x"),
            ("{# note #}{{ OTP }}", "A7K9Q2"),
            ("{% if OTP %}yes{% endif %}", "yes"),
            ("{{ Nope }}{{ OTP }}", "A7K9Q2"),
            ("{{\tOTP }}", "A7K9Q2"),
        ] {
            let t = MessageTemplate::new("s", source, None).unwrap();
            assert!(
                !t.compiled
                    .substitutions
                    .iter()
                    .any(|(p, _)| *p == "body.txt"),
                "{source} is left to minijinja"
            );
            assert_eq!(t.render(&awkward).text, rendered, "{source}");
        }
    }

    #[test]
    fn webotp_line_ends_the_sms() {
        let mut set = TemplateSet::default_sms();
        set.set_webotp_host(Some("otp.example.com".into()));
        let text = set.render("en", &vars()).text;
        assert!(text.ends_with("\n\n@otp.example.com #123456"), "{text}");
    }
}
