//! The `otpgate` binary's commands, run as a user would run them.

mod support;

use std::process::Command;

fn otpgate(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_otpgate"))
        .args(args)
        .env("OTPGATE_DATA_DIR", data_dir)
        .env_remove("OTPGATE_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn app_create_prints_a_secret_once_that_then_authenticates() {
    let dir = tempfile::tempdir().unwrap();
    let out = otpgate(dir.path(), &["app", "create", "shop", "--name", "The Shop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("the secret is printed")
        .to_owned();
    assert_eq!(secret.len(), 43, "256 random bits, base64url");

    let again = otpgate(dir.path(), &["app", "create", "shop"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let db = std::fs::read(dir.path().join("otpgate.db")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "only a hash is stored"
    );

    let app = support::spawn_app_in(dir, "").await;
    let ok = app
        .client
        .get(app.url("/api/providers"))
        .basic_auth("shop", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = app
        .client
        .get(app.url("/api/providers"))
        .basic_auth("shop", Some("not-the-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

#[test]
fn app_create_takes_a_chosen_secret_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = otpgate(
        dir.path(),
        &["app", "create", "demo", "--secret", "demo-secret-123"],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("secret: demo-secret-123"));
    let short = otpgate(dir.path(), &["app", "create", "other", "--secret", "short"]);
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("--secret"));
    let bad = otpgate(dir.path(), &["app", "create", "bad name"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("namespace"));
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = otpgate(dir.path(), &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("otpgate.db").exists());
}

#[test]
fn stats_rebuild_recomputes_the_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let out = otpgate(dir.path(), &["stats", "rebuild"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("rebuilt 0 rollup rows from the first event"),
        "{said}"
    );
    let out = otpgate(dir.path(), &["stats", "rebuild", "--since", "2026-11-30"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("from 2026-11-30 00:00:00"), "{said}");
    let bad = otpgate(dir.path(), &["stats", "rebuild", "--since", "last week"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since"));
}

#[tokio::test]
async fn tenant_create_prints_a_one_time_password_that_signs_the_owner_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = otpgate(
        dir.path(),
        &[
            "tenant",
            "create",
            "--email",
            "Owner@Acme.example",
            "--name",
            "Acme",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("owner owner@acme.example"), "{stdout}");
    assert!(stdout.contains("/dashboard/sign-in"), "{stdout}");
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("the password is printed")
        .to_owned();
    let again = otpgate(
        dir.path(),
        &[
            "tenant",
            "create",
            "--email",
            "owner@acme.example",
            "--name",
            "Twice",
        ],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--email"));
    let bad = otpgate(
        dir.path(),
        &["tenant", "create", "--email", "nobody", "--name", "X"],
    );
    assert!(!bad.status.success());

    let app = support::spawn_app_in(dir, "").await;
    let res = app
        .client
        .post(app.url("/dashboard/sign-in"))
        .form(&[
            ("email", "owner@acme.example"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/dashboard");
}
