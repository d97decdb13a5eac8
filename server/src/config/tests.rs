//! Loading settings: otpgateway files, environment overrides, and every refusal.

use super::*;
use app::gateway::delivery::SmtpAuth;

const OTPGATEWAY_SAMPLE: &str = include_str!("../../tests/fixtures/otpgateway.config.toml");

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn an_unchanged_otpgateway_config_loads() {
    let s = Settings::from_toml(OTPGATEWAY_SAMPLE, no_env).unwrap();
    assert_eq!(s.address, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(s.root_url, "http://localhost:9000");
    assert_eq!(s.engine.default_ttl_secs, 300);
    assert_eq!(s.engine.default_max_attempts, 5);
    assert_eq!(s.engine.default_max_sends, 4);
    let names: Vec<_> = s.apps.iter().map(|a| a.namespace.as_str()).collect();
    assert_eq!(names, ["MyApp", "MyOtherApp"]);
    let smtp = s.smtp.as_ref().unwrap();
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.auth),
        ("localhost", 25, SmtpAuth::Cram)
    );
    assert_eq!(smtp.timeout, Duration::from_secs(5));
    assert!(s.ignored.iter().any(|i| i.starts_with("store")));
    assert!(
        s.http_providers.kaleyra.is_empty(),
        "disabled in the sample"
    );
    assert_eq!(s.environment, Environment::Production);
    assert!(!s.console);
}

#[test]
fn environment_variables_override_the_file() {
    let env = |k: &str| match k {
        "OTPGATE_ADDRESS" => Some("127.0.0.1:4000".to_owned()),
        "OTPGATE_ROOT_URL" => Some("https://otp.example.com/".to_owned()),
        "OTPGATE_DATA_DIR" => Some("/tmp/x".to_owned()),
        "OTPGATE_ENV" => Some("development".to_owned()),
        _ => None,
    };
    let s = Settings::from_toml(OTPGATEWAY_SAMPLE, env).unwrap();
    assert_eq!(s.address.port(), 4000);
    assert_eq!(s.root_url, "https://otp.example.com");
    assert_eq!(s.database_url, "sqlite:///tmp/x/otpgate.db");
    assert!(s.console);
}

#[test]
fn bad_values_name_their_key() {
    for (toml, key) in [
        ("[app]\naddress = \"nowhere\"", "app.address"),
        ("[app]\notp_ttl = \"5 fortnights\"", "app.otp_ttl"),
        ("[app]\notp_ttl = 999999", "app.otp_ttl"),
        ("[app]\notp_max_attempts = 0", "app.otp_max_attempts"),
        (
            "[auth.x]\nnamespace = \"bad ns\"\nsecret = \"longenough\"",
            "auth.x.namespace",
        ),
        (
            "[providers.smtp]\ntls_type = \"SSLv2\"\nfrom_email = \"a@b.c\"",
            "providers.smtp.tls_type",
        ),
        (
            "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\naccent_color = \"red;}\"",
            "auth.x.accent_color",
        ),
        (
            "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\nlogo_url = \"http://x.test/l.png\"",
            "auth.x.logo_url",
        ),
        (
            "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\nlogo_url = \"https://x.test/a\\\" onerror=\\\"x\"",
            "auth.x.logo_url",
        ),
        (
            "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\ncountry = \"XX\"",
            "auth.x.country",
        ),
        (
            "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\nttl = \"2d\"",
            "auth.x.ttl",
        ),
        (
            "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\nttl = 0",
            "`auth.x.ttl`: must be 1 to 86400 seconds",
        ),
        (
            "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\nchannels = [\"fax\"]",
            "auth.x.channels",
        ),
        (
            "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\ncode_alphabet = \"emoji\"",
            "auth.x.code_alphabet",
        ),
        (
            "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\ntest_addresses = { \"+15005550006\" = \"12\" }",
            "auth.x.test_addresses",
        ),
        ("[dashboard]\nretention_days = 40000", "dashboard.retention_days"),
    ] {
        let err = Settings::from_toml(toml, no_env).expect_err(toml);
        assert!(err.to_string().contains(key), "{err} should name {key}");
    }
}

#[test]
fn an_app_of_the_file_sets_its_own_defaults_and_test_addresses() {
    let toml = "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\nttl = \"2m\"\n\
        max_attempts = 3\ncode_length = 8\ncode_alphabet = \"alphanumeric\"\n\
        channels = [\"sms\", \"email\"]\nprefixes = [\"+91\"]\ntest_mode = true\n\
        test_addresses = { \"+15005550006\" = \"424242\" }\n";
    let settings = Settings::from_toml(toml, no_env).unwrap();
    let s = &settings.apps[0].settings;
    assert_eq!(
        (s.ttl_secs, s.max_attempts, s.code_length),
        (Some(120), Some(3), Some(8))
    );
    assert_eq!(
        s.code_alphabet,
        Some(app::gateway::code::Alphabet::Alphanumeric)
    );
    assert_eq!(s.prefixes, ["+91"]);
    assert!(s.test_mode);
    assert_eq!(s.test_code("+15005550006"), Some("424242"));
    assert_eq!(s.channels.len(), 2);
}

#[test]
fn verifications_are_kept_ninety_days_unless_told() {
    let kept = |toml: &str| {
        Settings::from_toml(toml, no_env)
            .unwrap()
            .engine
            .retention_days
    };
    assert_eq!(kept(""), 90);
    assert_eq!(kept("[dashboard]\nretention_days = 30"), 30);
    assert_eq!(
        kept("[dashboard]\nretention_days = 0"),
        0,
        "0 keeps everything"
    );
}

#[test]
fn durations_accept_otpgateway_forms() {
    assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
    assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("300"), Some(Duration::from_secs(300)));
    assert_eq!(parse_duration("5d"), None);
}

#[test]
fn debug_output_hides_secrets() {
    let s = Settings::from_toml(OTPGATEWAY_SAMPLE, |k| {
        (k == "OTPGATE_DATABASE_URL").then(|| "postgres://user:hunter2@db/otp".to_owned())
    })
    .unwrap();
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("hunter2"));
    assert!(!dbg.contains("mySecretToken"));
    assert!(!dbg.contains("smtp-password"));
}

#[test]
fn the_fraud_guard_section_loads_with_its_defaults() {
    let toml = "[guard]\ncountries = [\"in\", \"US\"]\nblocked_countries = [\"JM\"]\n\
                daily_budget = \"25\"\n\n[guard.prices.sms]\n\"*\" = 0.05\nIN = \"0.0045\"\n\n\
                [guard.pumping]\nwindow = \"15m\"\nmin_conversion = 30\n\n\
                [auth.shop]\nnamespace = \"shop\"\nsecret = \"shop-secret-123\"\n\
                blocked_countries = [\"NG\"]\nmonthly_budget = 300\n";
    let s = Settings::from_toml(toml, no_env).unwrap();
    let g = &s.engine.guard;
    assert_eq!(g.geo.allowed, ["IN", "US"]);
    assert_eq!(g.geo.blocked, ["JM"]);
    assert_eq!(g.budgets.daily.map(|m| m.0), Some(25_000_000));
    let prices: Vec<_> = g
        .prices
        .iter()
        .map(|p| (p.country.as_str(), p.price.0))
        .collect();
    assert_eq!(prices, [("*", 50_000), ("IN", 4_500)]);
    assert_eq!(g.pumping.window_ms, 900_000);
    assert_eq!(g.pumping.min_conversion_pct, 30);
    assert_eq!(g.pumping.settle_ms, 60_000, "unset: the default");
    let shop = &s.apps[0].settings.guard;
    assert_eq!(shop.countries.blocked, ["NG"]);
    assert_eq!(shop.budgets.monthly.map(|m| m.0), Some(300_000_000));
}

#[test]
fn the_fraud_guard_refuses_what_is_not_a_country_or_an_amount() {
    for (toml, key) in [
        ("[guard]\nblocked_countries = [\"+91\"]\n", "guard.countries"),
        ("[guard]\ncountries = [\"India\"]\n", "guard.countries"),
        ("[guard]\ndaily_budget = \"-3\"\n", "guard.daily_budget"),
        ("[guard.prices.sms]\nIN = \"0.0000001\"\n", "guard.prices.sms.IN"),
        ("[guard.prices.sms]\nXX = \"0.01\"\n", "guard.prices"),
        ("[guard.pumping]\nmin_conversion = 101\n", "guard.pumping.min_conversion"),
        ("[guard.pumping]\nsettle = \"20m\"\n", "guard.pumping.settle"),
        (
            "[auth.shop]\nnamespace = \"shop\"\nsecret = \"shop-secret-123\"\ncountries = [\"Nigeria\"]\n",
            "auth.shop.countries",
        ),
    ] {
        let err = Settings::from_toml(toml, no_env).expect_err(toml).to_string();
        assert!(err.contains(key), "{toml}: {err}");
    }
}

#[test]
fn the_readmes_fraud_guard_example_loads() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme
        .find("## Fraud guard")
        .expect("the README has a Fraud guard section")..];
    let start = section.find("```toml\n").expect("with a config example") + 8;
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let s = Settings::from_toml(example, no_env).unwrap();
    assert_eq!(s.engine.guard.geo.blocked, ["KP"]);
    assert_eq!(s.engine.guard.prices.len(), 3);
    assert_eq!(
        s.engine.guard.pumping,
        app::gateway::fraud::tally::PumpingSettings::default(),
        "the example shows the defaults"
    );
}
