//! Parser fuzzing on stable Rust: property tests send arbitrary bytes and structure-aware
//! inputs (known field names with values of every JSON type, control characters, header
//! injections, huge numbers) to every parser a client or a provider reaches, over real
//! HTTP: both APIs' bodies, query strings, the hosted form, inbound SMS and delivery
//! receipts (signed, so the parser behind the signature is reached too), dashboard cookies
//! and CSRF tokens; and the config file, templates and addresses directly.
//!
//! Every answer is below 500; every refusal carries a message; a request refused as
//! malformed (400, 413, 415, 422) changes nothing in the database. `PROPTEST_CASES` sets
//! the cases per parser (256 by default).

mod support;

use proptest::{prelude::*, test_runner::TestRunner};
use serde_json::{json, Value};
use support::{dashboard, sign, spawn_app, TestApp, NAMESPACE, SECRET};

const INBOUND_KEY: &str = "aW5ib3VuZC1zaWduaW5nLWtleS0wMTIzNDU2Nzg5";
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-auth-token";

/// Values that get past the first checks somewhere, and ones that have broken parsers.
const PLAUSIBLE: &[&str] = &[
    "console",
    "twilio",
    "inbound_sms",
    "email",
    "sms",
    "a@example.com",
    "+14155550100",
    "+1 500 555 0006",
    "4155550100",
    "123456",
    "000000",
    "0",
    "-1",
    "300",
    "86400",
    "18446744073709551616",
    "1e309",
    "true",
    "null",
    "",
    " ",
    "\0",
    "foo@x.test\r\nBcc: evil@x.test",
    "a\u{202e}b",
    "https://example.com/back",
    "javascript:alert(1)",
    "en",
    "de-DE",
    "%00",
    "{{.OTP}}",
    "{{ code }}",
    "fz-0001",
    "../../etc/passwd",
];

fn config() -> String {
    format!(
        "[limits]\ncaller_limits = false\n\n[inbound]\nnumber = \"+1 500 555 0006\"\nsigning_secret = \"whsec_{INBOUND_KEY}\"\n\n[providers.twilio]\ntype = \"twilio\"\naccount_sid = \"{TWILIO_SID}\"\nauth_token = \"{TWILIO_TOKEN}\"\nfrom = \"+15005550006\"\n"
    )
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(PLAUSIBLE).prop_map(str::to_owned),
        2 => "\\PC{0,40}",
        2 => "[\\x00-\\x7f]{0,60}",
        1 => "[0-9]{0,20}",
        1 => "[a-zA-Z0-9+/=_-]{0,300}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,12}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A valid object, then up to three changes: a field dropped, a field's value replaced by
/// any JSON at all, a field added. Unchanged, it is a request the parser accepts.
fn object(base: Value) -> impl Strategy<Value = Value> {
    let keys: Vec<String> = base.as_object().unwrap().keys().cloned().collect();
    let key = prop_oneof![
        3 => prop::sample::select(keys),
        1 => "[a-z_]{1,12}",
    ];
    prop::collection::vec((any::<bool>(), key, json_value()), 0..4).prop_map(move |changes| {
        let mut v = base.clone();
        let fields = v.as_object_mut().unwrap();
        for (drop, key, value) in changes {
            if drop {
                fields.remove(&key);
            } else {
                fields.insert(key, value);
            }
        }
        v
    })
}

/// Valid form fields, then up to three changes: a field dropped, replaced, or repeated
/// (or one of any name added) with any text.
fn form(
    base: &'static [(&'static str, &'static str)],
) -> impl Strategy<Value = Vec<(String, String)>> {
    let keys: Vec<&str> = base.iter().map(|(k, _)| *k).collect();
    let key = prop_oneof![
        3 => prop::sample::select(keys).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ];
    prop::collection::vec((0..3u8, key, text()), 0..4).prop_map(move |changes| {
        let mut fields: Vec<(String, String)> = base
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (change, key, value) in changes {
            if change < 2 {
                fields.retain(|(k, _)| *k != key);
            }
            if change > 0 {
                fields.push((key, value));
            }
        }
        fields
    })
}

fn urlencoded(fields: &[(String, String)]) -> Vec<u8> {
    serde_urlencoded::to_string(fields).unwrap().into_bytes()
}

/// A body as a parser may receive it: structured and well encoded, or any bytes at all.
fn body(
    structured: BoxedStrategy<(Option<&'static str>, Vec<u8>)>,
) -> impl Strategy<Value = (Option<&'static str>, Vec<u8>)> {
    prop_oneof![
        4 => structured,
        1 => (
            prop::sample::select(vec![
                None,
                Some("application/json"),
                Some("application/x-www-form-urlencoded"),
                Some("multipart/form-data; boundary=x"),
                Some("text/plain"),
            ]),
            prop::collection::vec(any::<u8>(), 0..400),
        ),
    ]
}

fn json_body(base: Value) -> BoxedStrategy<(Option<&'static str>, Vec<u8>)> {
    object(base)
        .prop_map(|v| (Some("application/json"), serde_json::to_vec(&v).unwrap()))
        .boxed()
}

fn form_body(
    base: &'static [(&'static str, &'static str)],
) -> BoxedStrategy<(Option<&'static str>, Vec<u8>)> {
    let as_json = Value::Object(
        base.iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    );
    prop_oneof![
        3 => form(base).prop_map(|f| (Some("application/x-www-form-urlencoded"), urlencoded(&f))),
        1 => json_body(as_json),
    ]
    .boxed()
}

/// The fuzzed server: one per test, a verification and a signed-in member to aim at.
struct Target {
    rt: tokio::runtime::Runtime,
    app: TestApp,
    id: String,
    /// A cancelled verification (a long-poll answers it at once).
    closed: String,
    cookie: String,
    csrf: String,
    /// The statuses answered in the current run, to show how deep the inputs got.
    seen: std::cell::RefCell<std::collections::BTreeMap<u16, usize>>,
}

impl Target {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (app, id, cookie, csrf) = rt.block_on(async {
            let app = spawn_app(&config()).await;
            let (status, created) = app
                .v1_post(
                    "/v1/verifications",
                    json!({"id": "fz-0001", "provider": "console", "to": "fz@example.com", "max_attempts": 10}),
                )
                .await;
            assert_eq!(status, 201, "{created}");
            let (status, _) = app
                .v1_post(
                    "/v1/verifications",
                    json!({"id": "fz-0002", "provider": "console", "to": "fz2@example.com"}),
                )
                .await;
            assert_eq!(status, 201);
            let (status, _) = app.v1_post("/v1/verifications/fz-0002/cancel", json!({})).await;
            assert_eq!(status, 200);
            let password = dashboard::tenant(&app, "Acme", dashboard::OWNER).await;
            let cookie = dashboard::sign_in(&app, dashboard::OWNER, &password).await;
            let (_, page) = dashboard::get(&app, "/dashboard", &cookie).await;
            let csrf = dashboard::csrf(&page);
            (app, "fz-0001".to_owned(), cookie, csrf)
        });
        Target {
            rt,
            app,
            id,
            closed: "fz-0002".to_owned(),
            cookie,
            csrf,
            seen: Default::default(),
        }
    }

    /// What a refused request must not change: the verifications with their attempts,
    /// sends and states, idempotency keys, apps, members' sessions and the audit log.
    fn snapshot(&self) -> String {
        self.rt
            .block_on(self.app.sql_strings(
                "SELECT (SELECT COUNT(*) FROM verification) || '/' || \
                 (SELECT COALESCE(SUM(attempts), 0) FROM verification) || '/' || \
                 (SELECT COALESCE(group_concat(status), '') FROM verification) || '/' || \
                 (SELECT COUNT(*) FROM idempotency_key) || '/' || \
                 (SELECT COUNT(*) FROM app) || '/' || \
                 (SELECT COUNT(*) FROM member_session) || '/' || \
                 (SELECT COUNT(*) FROM audit)",
            ))
            .remove(0)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, String) {
        self.rt.block_on(async {
            let mut req = self
                .app
                .client
                .request(method.parse().unwrap(), self.app.url(path))
                .body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            for (k, v) in headers {
                req = req.header(*k, v.as_str());
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap_or_default())
        })
    }

    /// Sends one request and judges the answer.
    fn judge(
        &self,
        what: &str,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        (content_type, body): (Option<&str>, Vec<u8>),
        a_real_attempt: bool,
    ) -> Result<u16, TestCaseError> {
        let before = self.snapshot();
        let (status, answer) = self.send(method, path, headers, content_type, body);
        *self.seen.borrow_mut().entry(status).or_default() += 1;
        prop_assert!(status < 500, "{what}: {status} {answer}");
        if (400..500).contains(&status) {
            prop_assert!(
                !answer.trim().is_empty(),
                "{what}: {status} without a message"
            );
        }
        if matches!(status, 400 | 413 | 415 | 422) && !a_real_attempt {
            prop_assert_eq!(
                before,
                self.snapshot(),
                "{} ({}) changed the database",
                what,
                status
            );
        }
        Ok(status)
    }

    fn run<S: Strategy>(
        &self,
        name: &str,
        strategy: S,
        case: impl Fn(S::Value) -> Result<(), TestCaseError>,
    ) {
        let cases = cases();
        let mut runner = TestRunner::new(ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        if let Err(e) = runner.run(&strategy, case) {
            panic!("{name}: {e}");
        }
        let seen = std::mem::take(&mut *self.seen.borrow_mut());
        eprintln!("{name}: {cases} cases passed, answers {seen:?}");
    }
}

/// Cases per parser: `PROPTEST_CASES`, or 256.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

fn bearer() -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {NAMESPACE}:{SECRET}"))]
}

fn basic() -> Vec<(&'static str, String)> {
    use base64::Engine;
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{NAMESPACE}:{SECRET}"));
    vec![("authorization", format!("Basic {pair}"))]
}

/// A guess the engine must count: a well-formed code for the demo app (six digits).
fn well_formed_code(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.as_bytes()
        .windows(6)
        .any(|w| w.iter().all(u8::is_ascii_digit))
}

#[test]
fn native_api_bodies() {
    let t = Target::new();
    t.run(
        "POST /v1/verifications",
        body(json_body(json!({
            "provider": "console", "to": "a@example.com", "ttl": 300, "max_attempts": 5,
            "max_sends": 3, "extra": {"order": 7}, "locale": "de", "state": "s",
        }))),
        |b| {
            t.judge("create", "POST", "/v1/verifications", &bearer(), b, false)
                .map(drop)
        },
    );
    let check = format!("/v1/verifications/{}/check", t.id);
    t.run(
        "POST /v1/verifications/{id}/check",
        body(json_body(json!({"code": "000000"}))),
        |b| {
            let real = well_formed_code(&b.1);
            t.judge("check", "POST", &check, &bearer(), b, real)
                .map(drop)
        },
    );
    t.run(
        "POST /v1/tokens/confirm",
        body(json_body(
            json!({"token": "eyJhbGciOiJFZERTQSJ9.e30.c2ln", "expected_address": "a@example.com"}),
        )),
        |b| {
            t.judge("confirm", "POST", "/v1/tokens/confirm", &bearer(), b, false)
                .map(drop)
        },
    );
    // The app's credentials themselves: any Authorization header at all.
    t.run("Authorization", text(), |auth| {
        let mut headers = vec![];
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&auth) {
            headers.push(("authorization", v.to_str().unwrap_or_default().to_owned()));
        }
        let status = t.judge(
            "auth",
            "GET",
            &format!("/v1/verifications/{}", t.id),
            &headers,
            (None, vec![]),
            false,
        )?;
        prop_assert!(
            status == 401 || auth.contains(SECRET),
            "{auth:?} got {status}"
        );
        Ok(())
    });
}

#[test]
fn otpgateway_api_bodies() {
    let t = Target::new();
    t.run(
        "PUT /api/otp",
        body(form_body(&[
            ("to", "a@example.com"),
            ("provider", "console"),
            ("channel_description", "e-mail"),
            ("address_description", "your address"),
            ("ttl", "300"),
            ("max_attempts", "5"),
            ("extra", "{\"k\": 1}"),
        ])),
        |b| {
            t.judge("create", "PUT", "/api/otp", &basic(), b, false)
                .map(drop)
        },
    );
    let check = format!("/api/otp/{}", t.id);
    t.run(
        "POST /api/otp/{id}",
        body(form_body(&[("otp", "000000"), ("skip_delete", "true")])),
        |b| {
            let real = well_formed_code(&b.1);
            t.judge("check", "POST", &check, &basic(), b, real)
                .map(drop)
        },
    );
    let status = format!("/api/otp/{}/status", t.id);
    t.run(
        "POST /api/otp/{id}/status",
        body(form_body(&[("skip_delete", "true")])),
        |b| {
            t.judge("status", "POST", &status, &basic(), b, false)
                .map(drop)
        },
    );
}

#[test]
fn query_strings_and_the_hosted_form() {
    let t = Target::new();
    let page = format!("/otp/{NAMESPACE}/{}", t.id);
    t.run(
        "GET /otp/{namespace}/{id}?…",
        form(&[
            ("lang", "de"),
            ("origin", "https://example.com"),
            ("result", "sent"),
            ("code", "123456"),
        ]),
        |q| {
            let path = format!("{page}?{}", String::from_utf8(urlencoded(&q)).unwrap());
            t.judge("page", "GET", &path, &[], (None, vec![]), false)
                .map(drop)
        },
    );
    // A wait answers at once for a closed verification, whatever timeout it asks for.
    let wait = format!("/v1/verifications/{}/wait", t.closed);
    t.run(
        "GET /v1/verifications/{id}/wait?…",
        form(&[("timeout", "5")]),
        |q| {
            let path = format!("{wait}?{}", String::from_utf8(urlencoded(&q)).unwrap());
            t.judge("wait", "GET", &path, &bearer(), (None, vec![]), false)
                .map(drop)
        },
    );
    t.run(
        "POST /otp/{namespace}/{id}",
        body(form_body(&[
            ("action", "check"),
            ("otp", "000000"),
            ("address", "a@example.com"),
            ("country", "US"),
            ("provider", "console"),
        ])),
        |b| {
            let real = well_formed_code(&b.1);
            t.judge("hosted form", "POST", &page, &[], b, real)
                .map(drop)
        },
    );
}

#[test]
fn provider_webhooks_signed_and_not() {
    let t = Target::new();
    let next = std::cell::Cell::new(0u64);
    t.run(
        "POST /v1/inbound/generic (signed)",
        object(
            json!({"id": "m1", "from": "+14155550100", "to": "+15005550006", "body": "ABCD2345"}),
        ),
        |v| {
            let payload = serde_json::to_vec(&v).unwrap();
            let id = format!("msg_{}", next.replace(next.get() + 1));
            let ts = t.app.gateway.now_ms() / 1000;
            let headers = vec![
                ("webhook-id", id.clone()),
                ("webhook-timestamp", ts.to_string()),
                (
                    "webhook-signature",
                    sign::standard_webhook(INBOUND_KEY, &id, ts, &payload),
                ),
            ];
            t.judge(
                "inbound generic",
                "POST",
                "/v1/inbound/generic",
                &headers,
                (Some("application/json"), payload),
                false,
            )
            .map(drop)
        },
    );
    t.run(
        "POST /v1/inbound/generic (unsigned)",
        body(json_body(
            json!({"id": "m1", "from": "+14155550100", "to": "+15005550006", "body": "ABCD2345"}),
        )),
        |b| {
            let status = t.judge(
                "inbound unsigned",
                "POST",
                "/v1/inbound/generic",
                &[],
                b,
                false,
            )?;
            prop_assert!((400..500).contains(&status));
            Ok(())
        },
    );
    const TWILIO: &[(&str, &str)] = &[
        ("AccountSid", TWILIO_SID),
        ("Body", "ABCD2345"),
        ("From", "+14155550100"),
        ("To", "+15005550006"),
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("MessageStatus", "delivered"),
    ];
    for (path, what) in [
        ("/v1/inbound/twilio", "inbound twilio"),
        ("/v1/providers/twilio/status", "receipt twilio"),
    ] {
        let url = t.app.url(path);
        t.run(&format!("POST {path} (signed)"), form(TWILIO), |fields| {
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let headers = vec![(
                "x-twilio-signature",
                sign::twilio(TWILIO_TOKEN, &url, &pairs),
            )];
            let b = (
                Some("application/x-www-form-urlencoded"),
                urlencoded(&fields),
            );
            t.judge(what, "POST", path, &headers, b, false).map(drop)
        });
        t.run(
            &format!("POST {path} (forged)"),
            (form(TWILIO), text()),
            |(fields, sig)| {
                let headers: Vec<(&str, String)> = reqwest::header::HeaderValue::from_str(&sig)
                    .map(|_| vec![("x-twilio-signature", sig.clone())])
                    .unwrap_or_default();
                let b = (
                    Some("application/x-www-form-urlencoded"),
                    urlencoded(&fields),
                );
                let status = t.judge(what, "POST", path, &headers, b, false)?;
                prop_assert!((400..500).contains(&status), "a forged {what} got {status}");
                Ok(())
            },
        );
    }
}

#[test]
fn dashboard_cookies_and_csrf_tokens() {
    let t = Target::new();
    t.run("Cookie", text(), |value| {
        let cookie = format!("otpgate_session={value}");
        let Ok(_) = reqwest::header::HeaderValue::from_str(&cookie) else {
            return Ok(());
        };
        let (status, _) = t.send(
            "GET",
            "/dashboard",
            &[("cookie", cookie.clone())],
            None,
            vec![],
        );
        prop_assert!(status == 303 || status == 400, "{cookie:?}: {status}");
        let b = (
            Some("application/x-www-form-urlencoded"),
            urlencoded(&[
                ("csrf".into(), t.csrf.clone()),
                ("namespace".into(), "fuzzed".into()),
            ]),
        );
        let status = t.judge(
            "cookie",
            "POST",
            "/dashboard/apps",
            &[("cookie", cookie)],
            b,
            false,
        )?;
        prop_assert!(status == 303 || (400..500).contains(&status), "{status}");
        Ok(())
    });
    t.run(
        "csrf",
        form(&[
            ("csrf", "not-the-token"),
            ("namespace", "fuzzed"),
            ("name", "Fuzzed"),
        ]),
        |mut fields| {
            fields.retain(|(k, v)| k != "csrf" || *v != t.csrf);
            let b = (
                Some("application/x-www-form-urlencoded"),
                urlencoded(&fields),
            );
            let status = t.judge(
                "csrf",
                "POST",
                "/dashboard/apps",
                &[("cookie", t.cookie.clone())],
                b,
                true,
            )?;
            prop_assert!(
                (400..500).contains(&status),
                "without its CSRF token a form got {status}"
            );
            Ok(())
        },
    );
    let apps = t.rt.block_on(
        t.app
            .sql_strings("SELECT namespace FROM app ORDER BY namespace"),
    );
    assert_eq!(apps, [NAMESPACE], "no fuzzed form made an app");
}

#[test]
fn config_files_templates_and_addresses() {
    use app::gateway::{
        address::{Address, Channel},
        delivery::{MessageTemplate, TemplateVars},
    };
    let cases = cases();
    let config = ProptestConfig {
        cases: cases * 4,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config.clone());
    // TOML of otpgate's own sections and keys, with values of any type.
    let section = prop::sample::select(vec![
        "app",
        "limits",
        "delivery",
        "inbound",
        "dashboard",
        "metrics",
        "auth.x",
        "providers.p",
        "templates.email",
        "webhooks.w",
        "store",
    ]);
    let key = prop::sample::select(vec![
        "address",
        "server_timeout",
        "root_url",
        "otp_ttl",
        "type",
        "namespace",
        "secret",
        "url",
        "from",
        "number",
        "signing_secret",
        "poll_interval",
        "token",
        "trusted_proxies",
        "max_body_size",
        "caller_limits",
        "retention_days",
        "subject",
        "text",
        "html",
    ]);
    let value = prop_oneof![
        text().prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        prop::collection::vec(text(), 0..3).prop_map(|v| format!("{v:?}")),
        "\\PC{0,30}",
    ];
    let toml = prop::collection::vec((section, prop::collection::vec((key, value), 0..5)), 0..4)
        .prop_map(|sections| {
            sections
                .into_iter()
                .map(|(s, kv)| {
                    let body: String = kv
                        .into_iter()
                        .map(|(k, v)| format!("{k} = {v}\n"))
                        .collect();
                    format!("[{s}]\n{body}")
                })
                .collect::<String>()
        });
    runner
        .run(&prop_oneof![toml, "\\PC{0,200}"], |text| {
            if let Err(e) = otpgate::config::Settings::from_toml(&text, |_| None) {
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(())
        })
        .unwrap();
    // Templates (otpgateway's Go syntax or Jinja), rendered when they compile.
    let mut runner = TestRunner::new(config.clone());
    let template = prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec![
                "{{.OTP}}",
                "{{ code }}",
                "{{",
                "}}",
                "{%",
                "%}",
                "{{ code | upper }}",
                "{{.To}}",
                "{{ link }}",
                "{% if x %}",
                "{% endif %}",
                "{{ a.b.c }}",
                "{#",
                "#}"
            ])
            .prop_map(str::to_owned),
            "\\PC{0,10}",
        ],
        0..10,
    )
    .prop_map(|parts| parts.concat());
    runner
        .run(&template, |source| {
            match MessageTemplate::new(&source, &source, Some(&source)) {
                Ok(compiled) => {
                    let rendered = compiled.render(&TemplateVars {
                        to: "a@example.com",
                        namespace: NAMESPACE,
                        app_name: "Demo",
                        channel: "email",
                        otp: "123456",
                        otp_url: "https://example.com/otp",
                        otp_link: "https://example.com/otp?code=123456",
                        otp_ttl: "10 minutes",
                    });
                    drop(rendered);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            Ok(())
        })
        .unwrap();
    // Addresses of every channel: accepted ones are short and free of line breaks and NUL.
    let mut runner = TestRunner::new(config);
    let channel = prop::sample::select(vec!["email", "sms", "whatsapp", "voice", "other"]);
    runner
        .run(&(channel, text()), |(channel, raw)| {
            let channel = Channel::parse(channel).unwrap();
            if let Ok(address) = Address::parse(channel, &raw) {
                let s = address.as_str();
                prop_assert!(
                    s.len() <= 254 && !s.contains(['\r', '\n', '\0']),
                    "{raw:?} → {s:?}"
                );
            }
            Ok(())
        })
        .unwrap();
}
