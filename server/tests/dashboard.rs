//! The tenant dashboard over real HTTP: signing in and out, sessions, CSRF, roles, tenant
//! isolation and the audit log, on SQLite and on PostgreSQL.

mod support;

use app::gateway::{store::Role, tenants::SessionToken};
use support::{
    dashboard::{
        csrf, dashboard_app, get, inbox_holding, post, role_text, sign_in, sms_gateway, start,
        tenant, viewer_of, OWNER,
    },
    http::{HttpCapture, Reply},
    spawn_app_on, Backend, TestApp,
};

async fn an_owner_signs_in_with_the_cli_password_and_signs_out(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;

    let res = app.client.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(
        (
            res.status().as_u16(),
            res.headers()["location"].to_str().unwrap()
        ),
        (303, "/dashboard/sign-in")
    );
    let form = app.get_text("/dashboard/sign-in").await;
    assert!(form.contains(r#"action="/dashboard/sign-in""#), "{form}");
    assert!(
        !form.contains("/pkg/otpgate.js") && !form.contains("<script"),
        "no island, no script: {form}"
    );

    let res = app
        .client
        .post(app.url("/dashboard/sign-in"))
        .form(&[("email", OWNER), ("password", "not-the-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("set-cookie").is_none());
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Wrong e-mail address or password."));

    let res = app
        .client
        .post(app.url("/dashboard/sign-in"))
        .form(&[
            ("email", " Owner@Acme.example "),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http root URL: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let again = sign_in(&app, OWNER, &password).await;
    assert_ne!(cookie, again, "a new session on every sign-in");

    let (status, html) = get(&app, "/dashboard", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(role_text(&html, "member"), format!("{OWNER} (owner)"));
    assert!(html.contains("Acme"));

    // Sign-out needs the session's token, then ends the session on the server.
    let (status, _) = post(&app, "/dashboard/sign-out", &cookie, &[("csrf", "forged")]).await;
    assert_eq!(status, 403);
    let token = csrf(&html);
    let (status, _) = post(&app, "/dashboard/sign-out", &cookie, &[("csrf", &token)]).await;
    assert_eq!(status, 303);
    let (status, _) = get(&app, "/dashboard", &cookie).await;
    assert_eq!(status, 303, "the old cookie signs nobody in");
    let (status, _) = get(&app, "/dashboard", &again).await;
    assert_eq!(status, 200, "only that session ended");

    let actions = app
        .sql_strings("SELECT action FROM audit ORDER BY audit_id")
        .await;
    assert_eq!(
        actions,
        [
            "tenant_created",
            "sign_in_failed",
            "signed_in",
            "signed_in",
            "signed_out"
        ]
    );
    let stored = app.sql_strings("SELECT password_hash FROM member").await;
    assert!(stored[0].starts_with("$argon2id$") && !stored[0].contains(&password));
}

async fn an_app_made_in_the_dashboard_shows_its_secret_once_and_it_works(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (_, html) = get(&app, "/dashboard", &cookie).await;
    assert!(html.contains("No apps yet."));
    let token = csrf(&html);
    let form = [
        ("csrf", token.as_str()),
        ("namespace", "shop"),
        ("name", "The Shop"),
    ];
    let (status, html) = post(&app, "/dashboard/apps", &cookie, &form).await;
    assert_eq!(status, 200, "{html}");
    let secret = role_text(&html, "secret");
    assert_eq!(secret.len(), 43);

    // The secret works with the API, and only its hash is stored.
    let res = app
        .client
        .post(app.url("/v1/verifications"))
        .header("authorization", format!("Bearer shop:{secret}"))
        .json(&serde_json::json!({"provider": "console", "to": "a@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let hashes = app
        .sql_strings(
            "SELECT secret_hash FROM app_secret JOIN app USING (app_id) WHERE namespace = 'shop'",
        )
        .await;
    assert_eq!(hashes.len(), 1);
    assert!(hashes[0].starts_with("$argon2id$") && !hashes[0].contains(&secret));

    // Listed, readable, never shown again; a taken namespace is refused with a reason.
    let (_, html) = get(&app, "/dashboard", &cookie).await;
    assert!(html.contains(r#"data-namespace="shop""#) && !html.contains(&secret));
    let (status, html) = get(&app, "/dashboard/apps/shop", &cookie).await;
    assert_eq!(
        (status, role_text(&html, "namespace")),
        (200, "shop".to_owned())
    );
    assert!(!html.contains(&secret));
    let (status, html) = post(&app, "/dashboard/apps", &cookie, &form).await;
    assert_eq!(status, 422);
    assert!(html.contains("The namespace is taken."), "{html}");

    let (status, html) = get(&app, "/dashboard/audit", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-action="app_created""#));
    assert!(
        html.contains(r#"&quot;namespace&quot;:&quot;shop&quot;"#)
            || html.contains(r#""namespace":"shop""#)
    );
    assert!(
        !html.contains(&secret),
        "the audit log never holds a secret"
    );
    // Filtered by action; an action it does not record shows everything.
    let (_, html) = get(&app, "/dashboard/audit?action=app_created", &cookie).await;
    assert!(html.contains(r#"data-action="app_created""#));
    assert!(!html.contains(r#"data-action="signed_in""#), "{html}");
    let (_, html) = get(&app, "/dashboard/audit?action=%27%20OR%201%3D1", &cookie).await;
    assert!(
        html.contains(r#"data-action="signed_in""#)
            && html.contains(r#"data-action="app_created""#)
    );
}

async fn a_form_without_the_token_or_from_another_site_changes_nothing(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (_, html) = get(&app, "/dashboard", &cookie).await;
    let token = csrf(&html);
    let good = [("csrf", token.as_str()), ("namespace", "x1"), ("name", "X")];
    let attempts = [
        (vec![("namespace", "x1"), ("name", "X")], None),
        (
            vec![("csrf", "forged"), ("namespace", "x1"), ("name", "X")],
            None,
        ),
        (good.to_vec(), Some(("sec-fetch-site", "cross-site"))),
        (good.to_vec(), Some(("origin", "https://evil.example"))),
        // Another port of this host is the same site, not the same origin.
        (good.to_vec(), Some(("sec-fetch-site", "same-site"))),
    ];
    for (form, header) in attempts {
        let mut req = app
            .client
            .post(app.url("/dashboard/apps"))
            .header("cookie", &cookie)
            .form(&form);
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "{form:?} {header:?}");
    }
    assert!(app.gateway.store().find_app("x1").await.unwrap().is_none());
    let same_site = app
        .client
        .post(app.url("/dashboard/apps"))
        .header("cookie", &cookie)
        // As Chromium sends it from a page with `Referrer-Policy: no-referrer`.
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", token.as_str()), ("namespace", "x1"), ("name", "X")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        same_site.status(),
        200,
        "the same form from this site is taken"
    );
}

async fn a_tenant_sees_only_its_own_apps(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let acme = tenant(&app, "Acme", OWNER).await;
    let other = tenant(&app, "Other", "someone@other.example").await;
    let acme_cookie = sign_in(&app, OWNER, &acme).await;
    let (_, html) = get(&app, "/dashboard", &acme_cookie).await;
    let token = csrf(&html);
    let form = [
        ("csrf", token.as_str()),
        ("namespace", "acme-shop"),
        ("name", "Shop"),
    ];
    assert_eq!(
        post(&app, "/dashboard/apps", &acme_cookie, &form).await.0,
        200
    );

    let other_cookie = sign_in(&app, "someone@other.example", &other).await;
    let (status, html) = get(&app, "/dashboard", &other_cookie).await;
    assert_eq!(status, 200);
    assert!(!html.contains("acme-shop"));
    // Another tenant's app and an app of the config file both look like nothing at all.
    for namespace in ["acme-shop", support::NAMESPACE] {
        let (status, html) =
            get(&app, &format!("/dashboard/apps/{namespace}"), &other_cookie).await;
        assert_eq!(status, 404, "{namespace}");
        assert!(!html.contains("Shop"));
    }
    let (_, audit) = get(&app, "/dashboard/audit", &other_cookie).await;
    assert!(!audit.contains("acme-shop") && !audit.contains(OWNER));
}

async fn a_viewer_reads_but_cannot_change(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let signed_in = app
        .gateway
        .sign_in(OWNER, &password, "127.0.0.1".parse().unwrap())
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    let owner = app
        .gateway
        .session(&signed_in.token)
        .await
        .unwrap()
        .unwrap();
    let (_, viewer_password) = app
        .gateway
        .add_member(&owner, "viewer@acme.example", Role::Viewer, "127.0.0.1")
        .await
        .unwrap();
    let cookie = sign_in(&app, "viewer@acme.example", viewer_password.expose()).await;
    let (status, html) = get(&app, "/dashboard", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains(r#"action="/dashboard/apps""#),
        "no create form for a viewer"
    );
    let token = csrf(&html);
    let form = [
        ("csrf", token.as_str()),
        ("namespace", "viewed"),
        ("name", "V"),
    ];
    let (status, _) = post(&app, "/dashboard/apps", &cookie, &form).await;
    assert_eq!(status, 403);
    assert!(app
        .gateway
        .store()
        .find_app("viewed")
        .await
        .unwrap()
        .is_none());
    let viewer = app
        .gateway
        .session(&SessionToken::from_cookie(
            cookie.split_once('=').unwrap().1,
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(app
        .gateway
        .add_member(&viewer, "x@acme.example", Role::Owner, "127.0.0.1")
        .await
        .is_err());
}

async fn sign_in_is_limited_per_account_and_sessions_expire_when_idle(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    for n in 1..=9 {
        let res = app
            .client
            .post(app.url("/dashboard/sign-in"))
            .form(&[("email", OWNER), ("password", "wrong-password")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "attempt {n}");
    }
    let res = app
        .client
        .post(app.url("/dashboard/sign-in"))
        .form(&[("email", OWNER), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "even the right password waits");
    let text = res.text().await.unwrap();
    assert!(
        text.contains("Too many sign-in attempts. Try again in"),
        "{text}"
    );

    // Idle for longer than the idle limit: the session is gone.
    assert_eq!(get(&app, "/dashboard", &cookie).await.0, 200);
    app.clock
        .advance_ms(app::gateway::tenants::sessions::IDLE_MS + 1);
    assert_eq!(get(&app, "/dashboard", &cookie).await.0, 303);
}

/// Whether `namespace:secret` authenticates against the API.
async fn works(app: &TestApp, namespace: &str, secret: &str) -> bool {
    let res = app
        .client
        .get(app.url("/api/providers"))
        .basic_auth(namespace, Some(secret))
        .send()
        .await
        .unwrap();
    match res.status().as_u16() {
        200 => true,
        401 => false,
        other => panic!("{other}"),
    }
}

async fn secrets_are_added_revoked_and_rotated_with_an_overlap(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (_, html) = get(&app, "/dashboard", &cookie).await;
    let token = csrf(&html);
    let form = [
        ("csrf", token.as_str()),
        ("namespace", "keys"),
        ("name", "Keys"),
    ];
    let (_, html) = post(&app, "/dashboard/apps", &cookie, &form).await;
    let first = role_text(&html, "secret");
    assert!(html.contains("never"), "not used yet");
    assert!(works(&app, "keys", &first).await);
    let (_, html) = get(&app, "/dashboard/apps/keys", &cookie).await;
    assert!(!html.contains("never"), "its use is noted: {html}");

    // A second secret, labelled, works beside the first.
    let (status, html) = post(
        &app,
        "/dashboard/apps/keys/secrets",
        &cookie,
        &[("csrf", &token), ("label", "ci runner")],
    )
    .await;
    assert_eq!(status, 200);
    let second = role_text(&html, "secret");
    assert!(html.contains("ci runner"));
    assert!(works(&app, "keys", &first).await && works(&app, "keys", &second).await);

    // Revoked: the very next request with it is refused.
    let ids = app
        .sql_strings("SELECT CAST(app_secret_id AS TEXT) FROM app_secret JOIN app USING (app_id) WHERE namespace = 'keys' ORDER BY app_secret_id")
        .await;
    let (first_id, second_id) = (&ids[0], &ids[1]);
    let revoke = format!("/dashboard/apps/keys/secrets/{second_id}/revoke");
    let (status, _) = post(&app, &revoke, &cookie, &[("csrf", &token)]).await;
    assert_eq!(status, 303);
    assert!(!works(&app, "keys", &second).await);
    let (status, _) = post(&app, &revoke, &cookie, &[("csrf", &token)]).await;
    assert_eq!(status, 404, "gone already");

    // Rotated with an hour of overlap: both work for the hour, then only the new one.
    let rotate = format!("/dashboard/apps/keys/secrets/{first_id}/rotate");
    let (status, html) = post(
        &app,
        &rotate,
        &cookie,
        &[("csrf", &token), ("overlap", "3600")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let rotated = role_text(&html, "secret");
    assert!(works(&app, "keys", &first).await && works(&app, "keys", &rotated).await);
    app.clock.advance_ms(3_600_001);
    assert!(!works(&app, "keys", &first).await, "the overlap is over");
    assert!(works(&app, "keys", &rotated).await);
    let (status, _) = post(
        &app,
        &rotate,
        &cookie,
        &[("csrf", &token), ("overlap", "99999999")],
    )
    .await;
    assert_eq!(status, 422);

    // Only hashes are stored; every change is in the audit log, no secret is.
    let stored = app.sql_strings("SELECT secret_hash FROM app_secret").await;
    for secret in [&first, &second, &rotated] {
        assert!(stored.iter().all(|h| !h.contains(secret.as_str())));
    }
    let details = app
        .sql_strings("SELECT action || ' ' || detail FROM audit")
        .await
        .join("\n");
    for action in ["secret_created", "secret_revoked", "secret_rotated"] {
        assert!(details.contains(action), "{details}");
    }
    for secret in [&first, &second, &rotated] {
        assert!(!details.contains(secret.as_str()));
    }

    // Another tenant cannot see or touch them.
    let other = tenant(&app, "Other", "someone@other.example").await;
    let other_cookie = sign_in(&app, "someone@other.example", &other).await;
    let (_, html) = get(&app, "/dashboard", &other_cookie).await;
    let other_token = csrf(&html);
    let (status, _) = get(&app, "/dashboard/apps/keys", &other_cookie).await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        &rotate,
        &other_cookie,
        &[("csrf", &other_token), ("overlap", "0")],
    )
    .await;
    assert_eq!(status, 404);
    assert!(works(&app, "keys", &rotated).await);
}

async fn an_owner_invites_a_member_who_joins_once_with_a_chosen_password(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (status, html) = get(&app, "/dashboard/members", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!(r#"data-member="{OWNER}""#)));
    let token = csrf(&html);
    let invite = |email: &'static str, role: &'static str| {
        let token = token.clone();
        let cookie = cookie.clone();
        let app = &app;
        async move {
            post(
                app,
                "/dashboard/members",
                &cookie,
                &[("csrf", &token), ("email", email), ("role", role)],
            )
            .await
        }
    };
    let (status, html) = invite("Dev@Acme.example", "developer").await;
    assert_eq!(status, 200, "{html}");
    let link = role_text(&html, "invite-link");
    let path = link
        .strip_prefix(&app.base)
        .expect("a link to this server")
        .to_owned();
    assert!(path.starts_with("/dashboard/invite/"));
    let lengths = app
        .sql_strings("SELECT CAST(length(token_hash) AS TEXT) FROM invite")
        .await;
    assert_eq!(lengths, ["32"], "only the token's SHA-256 is stored");

    // The link opens without a session; a short password is refused with the reason.
    let form = app.get_text(&path).await;
    assert!(form.contains("dev@acme.example"), "{form}");
    let short = app
        .client
        .post(app.url(&path))
        .form(&[("password", "too-short")])
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 422);
    assert!(short
        .text()
        .await
        .unwrap()
        .contains("The password must be at least 12 characters."));
    let joined = app
        .client
        .post(app.url(&path))
        .form(&[("password", "a long enough passphrase")])
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), 303);
    let dev_cookie = joined.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (_, html) = get(&app, "/dashboard", &dev_cookie).await;
    assert_eq!(role_text(&html, "member"), "dev@acme.example (developer)");
    assert!(
        !sign_in(&app, "dev@acme.example", "a long enough passphrase")
            .await
            .is_empty()
    );

    // Used once; only owners invite; an address that is a member already is refused.
    let again = app
        .client
        .post(app.url(&path))
        .form(&[("password", "another passphrase!")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert_eq!(
        app.client
            .get(app.url(&path))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let dev_token = csrf(&html);
    let (status, _) = post(
        &app,
        "/dashboard/members",
        &dev_cookie,
        &[
            ("csrf", &dev_token),
            ("email", "x@acme.example"),
            ("role", "owner"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    let (status, html) = invite("dev@acme.example", "viewer").await;
    assert_eq!(status, 422);
    assert!(
        html.contains("The email already belongs to a member."),
        "{html}"
    );

    // An invitation works for seven days only.
    let (_, html) = invite("late@acme.example", "viewer").await;
    let late = role_text(&html, "invite-link")
        .strip_prefix(&app.base)
        .unwrap()
        .to_owned();
    app.clock
        .advance_ms(app::gateway::tenants::invites::INVITE_MS + 1);
    assert_eq!(
        app.client
            .get(app.url(&late))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let actions = app.sql_strings("SELECT action FROM audit").await;
    for action in ["member_invited", "invite_accepted"] {
        assert!(actions.iter().any(|a| a == action), "{actions:?}");
    }
}

async fn an_app_is_renamed_and_deleted_only_with_its_namespace_repeated(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (_, html) = get(&app, "/dashboard", &cookie).await;
    let token = csrf(&html);
    let form = [
        ("csrf", token.as_str()),
        ("namespace", "gone"),
        ("name", "Old"),
    ];
    let (_, html) = post(&app, "/dashboard/apps", &cookie, &form).await;
    let secret = role_text(&html, "secret");
    let (status, _) = post(
        &app,
        "/dashboard/apps/gone/rename",
        &cookie,
        &[("csrf", &token), ("name", "New name")],
    )
    .await;
    assert_eq!(status, 303);
    let (_, html) = get(&app, "/dashboard", &cookie).await;
    assert!(html.contains("New name") && !html.contains(">Old<"));
    let (status, html) = post(
        &app,
        "/dashboard/apps/gone/rename",
        &cookie,
        &[("csrf", &token), ("name", "  ")],
    )
    .await;
    assert_eq!(status, 422, "{html}");

    // Another tenant cannot delete it; a wrong confirmation deletes nothing.
    let other = tenant(&app, "Other", "someone@other.example").await;
    let other_cookie = sign_in(&app, "someone@other.example", &other).await;
    let (_, other_html) = get(&app, "/dashboard", &other_cookie).await;
    let other_token = csrf(&other_html);
    let (status, _) = post(
        &app,
        "/dashboard/apps/gone/delete",
        &other_cookie,
        &[("csrf", &other_token), ("confirm", "gone")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, html) = post(
        &app,
        "/dashboard/apps/gone/delete",
        &cookie,
        &[("csrf", &token), ("confirm", "gon")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("The confirmation must repeat the app&#x27;s namespace.")
            || html.contains("The confirmation must repeat the app's namespace."),
        "{html}"
    );
    assert!(works(&app, "gone", &secret).await);

    let (status, _) = post(
        &app,
        "/dashboard/apps/gone/delete",
        &cookie,
        &[("csrf", &token), ("confirm", "gone")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(app
        .gateway
        .store()
        .find_app("gone")
        .await
        .unwrap()
        .is_none());
    assert!(
        !works(&app, "gone", &secret).await,
        "its secret stops at once"
    );
    assert_eq!(get(&app, "/dashboard/apps/gone", &cookie).await.0, 404);
    let actions = app.sql_strings("SELECT action FROM audit").await;
    for action in ["app_renamed", "app_deleted"] {
        assert!(actions.iter().any(|a| a == action), "{actions:?}");
    }
}

async fn app_settings_shape_the_apps_verifications(backend: Backend) {
    let sms = HttpCapture::start(Reply::Status(200, "{}".into())).await;
    let config = sms_gateway(&sms);
    let app = spawn_app_on(backend, &config).await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, token) = dashboard_app(&app, &cookie, "shop").await;
    let (_, html) = get(&app, "/dashboard/apps/shop", &cookie).await;
    assert!(html.contains(r#"action="/dashboard/apps/shop/settings""#));
    assert!(
        html.contains(r#"placeholder="600 (default)""#),
        "the server's default shown"
    );

    let settings = [
        ("csrf", token.as_str()),
        ("ttl_secs", "120"),
        ("max_attempts", "3"),
        ("max_sends", "2"),
        ("code_length", "8"),
        ("code_alphabet", "alphanumeric"),
        ("locale", "de"),
        ("accent_color", "#0A7F5C"),
        (
            "redirect_urls",
            "https://shop.example/done\nhttps://shop.example/again",
        ),
        ("embed_origins", "https://shop.example"),
    ];
    let (status, html) = post(&app, "/dashboard/apps/shop/settings", &cookie, &settings).await;
    assert_eq!(status, 303, "{html}");
    let (_, html) = get(&app, "/dashboard/apps/shop", &cookie).await;
    for shown in [
        r#"id="ttl_secs" name="ttl_secs" type="number" min="1" max="86400" value="120""#,
        r##"value="#0a7f5c""##,
        "https://shop.example/again</textarea>",
    ] {
        assert!(html.contains(shown), "{shown} in {html}");
    }

    // A verification without its own values takes the app's.
    let (status, body) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "console", "to": "a@example.com",
            "redirect_url": "https://shop.example/again"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["attempts_left"], 3);
    assert_eq!(body["sends_left"], 1);
    assert_eq!(
        body["expires_at"].as_i64().unwrap() - body["created_at"].as_i64().unwrap(),
        120
    );
    let message = app.console_message_for("a@example.com").await;
    let generated = |w: &&str| {
        w.len() == 8
            && w.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    assert!(
        message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| generated(&w)),
        "an 8-character code of capitals and digits in {message:?}"
    );
    let page = app
        .client
        .get(body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors https://shop.example"),
        "the app's embed origin may frame its page"
    );
    assert!(
        page.text().await.unwrap().contains(r#"lang="de""#),
        "the app's language"
    );

    // Only SMS to +91 numbers: other channels and countries are refused.
    let only = [
        ("csrf", token.as_str()),
        ("channel_sms", "on"),
        ("prefixes", "+91"),
    ];
    assert_eq!(
        post(&app, "/dashboard/apps/shop/settings", &cookie, &only)
            .await
            .0,
        303
    );
    let (status, body) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "console", "to": "b@example.com"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string()
            .contains("a channel this app does not allow"),
        "{body}"
    );
    let (status, body) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "gateway", "to": "+14155550100"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string()
            .contains("numbers of this country are not accepted here"),
        "{body}"
    );
    let (status, body) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "gateway", "to": "+919876543210"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["attempts_left"], 5, "back to the server's default");

    let actions = app
        .sql_strings("SELECT action FROM audit WHERE action = 'app_settings_changed'")
        .await;
    assert_eq!(actions.len(), 2);
    let details = app
        .sql_strings("SELECT detail FROM audit WHERE action = 'app_settings_changed'")
        .await;
    assert!(
        details
            .iter()
            .any(|d| d.contains("\"channels\"") && d.contains("\"prefixes\"")),
        "{details:?}"
    );
}

async fn refused_settings_change_nothing_and_say_why(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (_, token) = dashboard_app(&app, &cookie, "shop").await;
    let before = app
        .sql_strings("SELECT settings || redirect_urls FROM app WHERE namespace = 'shop'")
        .await;
    let cases: [(&str, &str, &str); 9] = [
        ("ttl_secs", "0", "The ttl secs must be 1 to 86400 seconds."),
        (
            "ttl_secs",
            "soon",
            "The ttl secs \"soon\" is not a whole number.",
        ),
        ("max_attempts", "11", "The max attempts must be 1 to 10."),
        (
            "code_length",
            "3",
            "The code length must be 4 to 16 characters.",
        ),
        (
            "prefixes",
            "91",
            "The prefixes \"91\": write a country code",
        ),
        (
            "accent_color",
            "red",
            "The accent color \"red\": write a colour as #rrggbb.",
        ),
        (
            "embed_origins",
            "https://shop.example/path",
            "is not an origin like https://shop.example",
        ),
        (
            "redirect_urls",
            "javascript:alert(1)",
            "is not an http(s) URL",
        ),
        (
            "fallbacks",
            "nowhere",
            "The fallbacks \"nowhere\" is not one of this app's providers.",
        ),
    ];
    for (field, value, says) in cases {
        let form = [("csrf", token.as_str()), ("max_sends", "2"), (field, value)];
        let (status, html) = post(&app, "/dashboard/apps/shop/settings", &cookie, &form).await;
        assert_eq!(status, 422, "{field}={value}");
        let text = html.replace("&quot;", "\"").replace("&#x27;", "'");
        assert!(text.contains(says), "{field}={value}: {says} in {html}");
        let kept = [format!(">{value}<"), format!(r#"value="{value}""#)];
        assert!(
            kept.iter().any(|k| html.contains(k.as_str())),
            "the form keeps what was typed: {field}={value}"
        );
    }
    let after = app
        .sql_strings("SELECT settings || redirect_urls FROM app WHERE namespace = 'shop'")
        .await;
    assert_eq!(before, after);
    assert!(app
        .sql_strings("SELECT action FROM audit WHERE action = 'app_settings_changed'")
        .await
        .is_empty());
}

async fn settings_are_changed_only_by_members_who_manage_the_app(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (_, token) = dashboard_app(&app, &cookie, "shop").await;
    let viewer = viewer_of(&app, &cookie).await;
    let (status, html) = get(&app, "/dashboard/apps/shop", &viewer).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"id="ttl_secs""#) && !html.contains("Save settings"),
        "shown, not editable"
    );
    let viewer_token = csrf(&html);
    let form = [("csrf", viewer_token.as_str()), ("ttl_secs", "60")];
    assert_eq!(
        post(&app, "/dashboard/apps/shop/settings", &viewer, &form)
            .await
            .0,
        403
    );
    let template = [
        ("csrf", viewer_token.as_str()),
        ("action", "save"),
        ("channel", "sms"),
        ("body", "{{ OTP }}"),
    ];
    let templates = "/dashboard/apps/shop/templates";
    assert_eq!(post(&app, templates, &viewer, &template).await.0, 403);
    let (_, html) = get(&app, templates, &viewer).await;
    assert!(
        html.contains("Preview") && !html.contains("Save template"),
        "a viewer previews, never saves"
    );

    let other = tenant(&app, "Other", "someone@other.example").await;
    let other_cookie = sign_in(&app, "someone@other.example", &other).await;
    let (_, other_html) = get(&app, "/dashboard", &other_cookie).await;
    let other_token = csrf(&other_html);
    for namespace in ["shop", support::NAMESPACE] {
        let path = format!("/dashboard/apps/{namespace}/settings");
        let form = [("csrf", other_token.as_str()), ("ttl_secs", "60")];
        assert_eq!(
            post(&app, &path, &other_cookie, &form).await.0,
            404,
            "{namespace}"
        );
    }
    let form = [("csrf", "forged"), ("ttl_secs", "60")];
    assert_eq!(
        post(&app, "/dashboard/apps/shop/settings", &cookie, &form)
            .await
            .0,
        403
    );
    let stored = app
        .sql_strings("SELECT settings FROM app WHERE namespace = 'shop'")
        .await;
    assert_eq!(stored, ["{}"]);
    let form = [("csrf", token.as_str()), ("ttl_secs", "60")];
    assert_eq!(
        post(&app, "/dashboard/apps/shop/settings", &cookie, &form)
            .await
            .0,
        303
    );
}

async fn an_app_of_the_config_file_is_shown_read_only_to_its_tenant(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let tenant_id: i64 = app
        .sql_strings("SELECT CAST(tenant_id AS TEXT) FROM tenant")
        .await[0]
        .parse()
        .unwrap();
    let declared = app::gateway::DeclaredApp {
        namespace: app::model::Namespace::parse("from-config").unwrap(),
        secret: app::gateway::secret::ApiSecret::parse("config-secret-123").unwrap(),
        name: Some("Config app".into()),
        echo_code: false,
        redirect_urls: vec!["https://config.example/done".into()],
        settings: app::gateway::settings::AppSettings {
            ttl_secs: Some(90),
            ..Default::default()
        },
        tenant: Some(tenant_id),
    };
    app.gateway.declare_app(&declared).await.unwrap();
    let unknown = app::gateway::DeclaredApp {
        tenant: Some(tenant_id + 100),
        ..declared.clone()
    };
    match app.gateway.declare_app(&unknown).await {
        Err(app::gateway::EngineError::InvalidInput { field, reason }) => {
            assert_eq!(field, "tenant");
            assert!(reason.contains("no tenant has id"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    let cookie = sign_in(&app, OWNER, &password).await;
    // A namespace a tenant made in the dashboard is not the file's to take.
    dashboard_app(&app, &cookie, "made-here").await;
    let taken = app::gateway::DeclaredApp {
        namespace: app::model::Namespace::parse("made-here").unwrap(),
        ..declared.clone()
    };
    match app.gateway.declare_app(&taken).await {
        Err(app::gateway::EngineError::InvalidInput { field, reason }) => {
            assert_eq!(field, "namespace");
            assert!(
                reason.contains("a tenant made in the dashboard"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let (_, html) = get(&app, "/dashboard", &cookie).await;
    assert!(html.contains("config file, read-only"), "{html}");
    let (status, html) = get(&app, "/dashboard/apps/from-config", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-role="declared""#));
    assert!(html.contains(r#"value="90""#) && html.contains("https://config.example/done"));
    assert!(
        !html.contains("Save settings") && !html.contains("Rename") && !html.contains("New secret"),
        "no forms: {html}"
    );
    let token = csrf(&html);
    for (path, form) in [
        (
            "/dashboard/apps/from-config/settings",
            vec![("csrf", token.as_str()), ("ttl_secs", "60")],
        ),
        (
            "/dashboard/apps/from-config/rename",
            vec![("csrf", token.as_str()), ("name", "Mine")],
        ),
        (
            "/dashboard/apps/from-config/secrets",
            vec![("csrf", token.as_str()), ("label", "extra")],
        ),
    ] {
        let (status, html) = post(&app, path, &cookie, &form).await;
        assert_eq!(status, 422, "{path}");
        assert!(
            html.contains("is declared in the config file, so it is changed there"),
            "{path}"
        );
    }
    let stored = app
        .gateway
        .store()
        .find_app("from-config")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.settings.ttl_secs),
        ("Config app", Some(90))
    );
}

/// The shop app's dev inbox page once it holds a message to `to` (the outbox works in
/// the background); the last page read when it never does.
async fn test_addresses_and_test_mode_keep_messages_in_the_dev_inbox(backend: Backend) {
    let mut sms = HttpCapture::start(Reply::Status(200, "{}".into())).await;
    let app = spawn_app_on(backend, &sms_gateway(&sms)).await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, token) = dashboard_app(&app, &cookie, "shop").await;
    let form = [
        ("csrf", token.as_str()),
        ("test_addresses", "+1 500 555 0006 424242"),
    ];
    let (status, html) = post(&app, "/dashboard/apps/shop/settings", &cookie, &form).await;
    assert_eq!(
        status, 422,
        "a phone number is written without spaces: {html}"
    );
    let form = [
        ("csrf", token.as_str()),
        (
            "test_addresses",
            "+15005550006 424242\nqa@shop.example 9999",
        ),
    ];
    assert_eq!(
        post(&app, "/dashboard/apps/shop/settings", &cookie, &form)
            .await
            .0,
        303
    );

    // A test number gets its fixed code, and its message stays on this machine.
    let (status, body) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "gateway", "to": "+15005550006"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let kept = inbox_holding(&app, &cookie, "+15005550006").await;
    assert!(kept.contains(r#"data-inbox-to="+15005550006""#), "{kept}");
    assert!(kept.contains("424242") && kept.contains(&id));
    let res = app
        .client
        .post(app.url(&format!("/v1/verifications/{id}/check")))
        .header("authorization", format!("Bearer shop:{secret}"))
        .json(&serde_json::json!({"code": "424242"}))
        .send()
        .await
        .unwrap();
    let checked: serde_json::Value = res.json().await.unwrap();
    assert_eq!(checked["verified"], true, "{checked}");
    assert!(
        sms.drain(std::time::Duration::from_millis(300))
            .await
            .is_empty(),
        "nothing was sent"
    );

    // Other numbers go out as usual.
    let (status, _) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "gateway", "to": "+919876543210"}),
    )
    .await;
    assert_eq!(status, 201);
    assert!(String::from_utf8_lossy(&sms.next().await.body).contains("+919876543210"));

    // Test mode keeps every message.
    let form = [("csrf", token.as_str()), ("test_mode", "on")];
    assert_eq!(
        post(&app, "/dashboard/apps/shop/settings", &cookie, &form)
            .await
            .0,
        303
    );
    let (status, _) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "gateway", "to": "+14155550100"}),
    )
    .await;
    assert_eq!(status, 201);
    let kept = inbox_holding(&app, &cookie, "+14155550100").await;
    assert!(
        kept.contains("Test mode is on") && kept.contains(r#"data-inbox-to="+14155550100""#),
        "{kept}"
    );
    assert!(
        sms.drain(std::time::Duration::from_millis(300))
            .await
            .is_empty(),
        "nothing was sent"
    );

    // Another tenant's member finds no inbox there.
    let other = tenant(&app, "Other", "someone@other.example").await;
    let other_cookie = sign_in(&app, "someone@other.example", &other).await;
    let (status, html) = get(&app, "/dashboard/apps/shop/inbox", &other_cookie).await;
    assert_eq!(status, 404);
    assert!(!html.contains("424242"));
}

async fn an_apps_templates_are_checked_previewed_and_used_for_its_messages(backend: Backend) {
    let mut sms = HttpCapture::start(Reply::Status(200, "{}".into())).await;
    let app = spawn_app_on(backend, &sms_gateway(&sms)).await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, token) = dashboard_app(&app, &cookie, "shop").await;
    let path = "/dashboard/apps/shop/templates";
    let (status, html) = get(&app, path, &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("Save template"));

    // A broken template is refused with its part, line and reason, and nothing is stored.
    let broken = [
        ("csrf", token.as_str()),
        ("action", "save"),
        ("channel", "sms"),
        ("body", "Your code:\n{{ OTP }\n"),
    ];
    let (status, html) = post(&app, path, &cookie, &broken).await;
    assert_eq!(status, 422, "{html}");
    let text = html.replace("&quot;", "\"");
    assert!(
        text.contains("The template does not compile: body.txt") && text.contains("body.txt:2"),
        "{html}"
    );
    assert!(
        html.contains("{{ OTP }\n</textarea>") || html.contains("{{ OTP }"),
        "the draft is kept"
    );
    assert!(app
        .sql_strings("SELECT body FROM app_template")
        .await
        .is_empty());

    // Preview renders with sample values and stores nothing.
    let draft = [
        ("csrf", token.as_str()),
        ("action", "preview"),
        ("channel", "sms"),
        (
            "body",
            "Code {{ OTP }} for {{ AppName }}, valid {{ .OTPTTL }}.",
        ),
    ];
    let (status, html) = post(&app, path, &cookie, &draft).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(
        role_text(&html, "preview-text"),
        "Code 123456 for Shop, valid 10 minutes."
    );
    // The live preview the templates page's script asks for: JSON, the same rendering.
    let live = "/dashboard/apps/shop/templates/preview";
    let res = app
        .client
        .post(app.url(live))
        .header("cookie", &cookie)
        .form(&draft)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(answer["text"], "Code 123456 for Shop, valid 10 minutes.");
    let res = app
        .client
        .post(app.url(live))
        .header("cookie", &cookie)
        .form(&broken)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let answer: serde_json::Value = res.json().await.unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains("body.txt:2"),
        "{answer}"
    );
    let res = app
        .client
        .post(app.url(live))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&draft)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "another site cannot use the preview");
    assert!(
        html.contains(r#"src="/static/dashboard.js""#),
        "the page loads its script"
    );
    assert!(app
        .sql_strings("SELECT body FROM app_template")
        .await
        .is_empty());

    let save = |channel: &'static str, locale: &'static str, body: &'static str| {
        [
            ("csrf", token.clone()),
            ("action", "save".into()),
            ("channel", channel.into()),
            ("locale", locale.into()),
            ("body", body.into()),
        ]
    };
    for form in [
        save("sms", "", "Code {{ OTP }} for {{ AppName }}."),
        save("sms", "de", "Ihr Code {{ OTP }}."),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, html) = post(&app, path, &cookie, &form).await;
        assert_eq!(status, 303, "{html}");
    }
    let (_, html) = get(&app, path, &cookie).await;
    assert!(html.contains(r#"data-template="sms/""#) && html.contains(r#"data-template="sms/de""#));

    // The outbox words the app's messages with them: the language's, else every language's.
    for (locale, expected) in [("de-AT", "Ihr Code "), ("fr", "Code ")] {
        let (status, body) = start(
            &app,
            "shop",
            &secret,
            serde_json::json!({"provider": "gateway", "to": "+919876543210", "locale": locale}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let sent = String::from_utf8_lossy(&sms.next().await.body).into_owned();
        assert!(sent.contains(expected), "{locale}: {sent}");
    }

    // Another tenant finds nothing; removing one brings the providers' wording back.
    let other = tenant(&app, "Other", "someone@other.example").await;
    let other_cookie = sign_in(&app, "someone@other.example", &other).await;
    assert_eq!(get(&app, path, &other_cookie).await.0, 404);
    let remove = [
        ("csrf", token.as_str()),
        ("channel", "sms"),
        ("locale", "de"),
    ];
    let (status, _) = post(
        &app,
        "/dashboard/apps/shop/templates/delete",
        &cookie,
        &remove,
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        app.sql_strings("SELECT locale FROM app_template").await,
        [""]
    );
    // The worker keeps compiled templates, and sees each change at once: the German one is
    // gone, and the one for every language, saved again, says something new.
    let form = save("sms", "", "New code {{ OTP }}.");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&app, path, &cookie, &form).await.0, 303);
    let (status, body) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "gateway", "to": "+919876543210", "locale": "de-AT"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let sent = String::from_utf8_lossy(&sms.next().await.body).into_owned();
    assert!(sent.contains("New code "), "{sent}");
    let actions = app.sql_strings("SELECT action FROM audit").await;
    for action in ["template_saved", "template_deleted"] {
        assert!(actions.iter().any(|a| a == action), "{actions:?}");
    }
}

async fn failover_routes_set_in_the_dashboard_carry_the_apps_messages(backend: Backend) {
    let sms = HttpCapture::start(Reply::Status(400, "no such route".into())).await;
    let app = spawn_app_on(backend, &sms_gateway(&sms)).await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, token) = dashboard_app(&app, &cookie, "shop").await;
    let path = "/dashboard/apps/shop/settings";
    for (routes, says) in [
        (
            "sms +91 nowhere",
            "The routes \"nowhere\" is not one of this app's providers.",
        ),
        (
            "fax gateway",
            "The routes \"fax\": a rule starts with email, sms",
        ),
        ("sms +91", "The routes sms: name at least one provider."),
    ] {
        let form = [("csrf", token.as_str()), ("routes", routes)];
        let (status, html) = post(&app, path, &cookie, &form).await;
        assert_eq!(status, 422, "{routes}");
        let text = html.replace("&quot;", "\"");
        assert!(text.contains(says), "{routes}: {says} in {html}");
    }
    let form = [
        ("csrf", token.as_str()),
        ("routes", "sms +91 gateway console"),
    ];
    assert_eq!(post(&app, path, &cookie, &form).await.0, 303);
    let (_, html) = get(&app, "/dashboard/apps/shop", &cookie).await;
    assert!(
        html.contains("sms +91 gateway console</textarea>"),
        "{html}"
    );

    // The gateway refuses the message; the route hands it to the next provider.
    let (status, body) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "gateway", "to": "+919876543210"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let message = app.console_message_for("+919876543210").await;
    assert!(message.contains("Shop"), "{message}");
}

async fn owners_change_roles_and_remove_members_but_keep_an_owner(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let owner = app
        .gateway
        .session(&SessionToken::from_cookie(
            cookie.split_once('=').unwrap().1,
        ))
        .await
        .unwrap()
        .unwrap();
    let dev_email = "dev@acme.example";
    let (dev, dev_password) = app
        .gateway
        .add_member(&owner, dev_email, Role::Developer, "127.0.0.1")
        .await
        .unwrap();
    let dev_cookie = sign_in(&app, dev_email, dev_password.expose()).await;
    let (_, html) = get(&app, "/dashboard/members", &cookie).await;
    let token = csrf(&html);
    let role_path = format!("/dashboard/members/{}/role", dev.member_id);
    let remove_path = format!("/dashboard/members/{}/remove", dev.member_id);

    // A developer manages apps, not members.
    let (_, dev_html) = get(&app, "/dashboard/members", &dev_cookie).await;
    let dev_token = csrf(&dev_html);
    assert!(!dev_html.contains("Change role"));
    let form = [("csrf", dev_token.as_str()), ("role", "owner")];
    assert_eq!(post(&app, &role_path, &dev_cookie, &form).await.0, 403);

    // The owner makes them a viewer: from the next request on, they only read.
    let form = [("csrf", token.as_str()), ("role", "viewer")];
    assert_eq!(post(&app, &role_path, &cookie, &form).await.0, 303);
    let (_, dev_html) = get(&app, "/dashboard", &dev_cookie).await;
    assert_eq!(
        role_text(&dev_html, "member"),
        format!("{dev_email} (viewer)")
    );
    let new_app = [
        ("csrf", dev_token.as_str()),
        ("namespace", "by-dev"),
        ("name", "D"),
    ];
    assert_eq!(
        post(&app, "/dashboard/apps", &dev_cookie, &new_app).await.0,
        403
    );

    // The only owner can neither step down nor remove themselves.
    let own_role = format!("/dashboard/members/{}/role", owner.member.member_id);
    let form = [("csrf", token.as_str()), ("role", "developer")];
    let (status, html) = post(&app, &own_role, &cookie, &form).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("The change would leave the team without an owner."),
        "{html}"
    );
    let own_remove = format!("/dashboard/members/{}/remove", owner.member.member_id);
    let (status, html) = post(&app, &own_remove, &cookie, &[("csrf", token.as_str())]).await;
    assert_eq!(status, 422);
    assert!(html.contains("another owner can remove you"), "{html}");

    // Another tenant's owner finds no such member.
    let other = tenant(&app, "Other", "someone@other.example").await;
    let other_cookie = sign_in(&app, "someone@other.example", &other).await;
    let (_, other_html) = get(&app, "/dashboard", &other_cookie).await;
    let other_token = csrf(&other_html);
    let form = [("csrf", other_token.as_str())];
    assert_eq!(post(&app, &remove_path, &other_cookie, &form).await.0, 404);

    // Removed: their session ends at once, and the log still names what they did.
    assert_eq!(
        post(&app, &remove_path, &cookie, &[("csrf", token.as_str())])
            .await
            .0,
        303
    );
    assert_eq!(get(&app, "/dashboard", &dev_cookie).await.0, 303);
    let (_, html) = get(&app, "/dashboard/members", &cookie).await;
    assert!(!html.contains(dev_email));
    let (_, html) = get(
        &app,
        &format!("/dashboard/audit?actor={dev_email}"),
        &cookie,
    )
    .await;
    assert!(html.contains(r#"data-action="signed_in""#), "{html}");
    assert!(
        !html.contains(r#"data-action="member_removed""#),
        "only the developer's lines"
    );
    let (_, html) = get(&app, &format!("/dashboard/audit?actor={OWNER}"), &cookie).await;
    for action in ["member_role_changed", "member_removed"] {
        assert!(
            html.contains(&format!(r#"data-action="{action}""#)),
            "{action}"
        );
    }
}

async fn self_sign_up_is_off_unless_the_operator_turns_it_on(backend: Backend) {
    let off = spawn_app_on(backend, "").await;
    assert_eq!(
        off.client
            .get(off.url("/dashboard/sign-up"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let res = off
        .client
        .post(off.url("/dashboard/sign-up"))
        .form(&[
            ("team", "Mine"),
            ("email", "me@mine.example"),
            ("password", "long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(off.sql_strings("SELECT name FROM tenant").await.is_empty());
    assert!(!off
        .get_text("/dashboard/sign-in")
        .await
        .contains("/dashboard/sign-up"));
    drop(off);

    let app = spawn_app_on(backend, "[dashboard]\nsignup = true\n").await;
    assert!(app
        .get_text("/dashboard/sign-in")
        .await
        .contains(r#"href="/dashboard/sign-up""#));
    let taken = tenant(&app, "Acme", OWNER).await;
    assert!(!taken.is_empty());
    let sign_up = |team: &str, email: &str, password: &str| {
        app.client
            .post(app.url("/dashboard/sign-up"))
            .form(&[("team", team), ("email", email), ("password", password)])
            .send()
    };
    for (email, password, says) in [
        (
            "me@mine.example",
            "short",
            "The password must be at least 12 characters.",
        ),
        (
            OWNER,
            "long enough password",
            "The email already belongs to a member.",
        ),
    ] {
        let res = sign_up("Mine", email, password).await.unwrap();
        assert_eq!(res.status(), 422);
        assert!(res.text().await.unwrap().contains(says), "{says}");
    }
    let cross = app
        .client
        .post(app.url("/dashboard/sign-up"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("team", "Mine"),
            ("email", "me@mine.example"),
            ("password", "long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);

    let res = sign_up("Mine", "me@mine.example", "long enough password")
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (status, html) = get(&app, "/dashboard", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(role_text(&html, "member"), "me@mine.example (owner)");
    assert!(html.contains("Mine"));
    let actions = app
        .sql_strings("SELECT action FROM audit WHERE actor = 'me@mine.example'")
        .await;
    assert!(actions.contains(&"signed_in".to_owned()), "{actions:?}");

    // Five tries an hour from one address (the refused ones count too), then a clear
    // refusal.
    for n in 0..2 {
        let email = format!("n{n}@mine.example");
        assert_eq!(
            sign_up("More", &email, "long enough password")
                .await
                .unwrap()
                .status(),
            303
        );
    }
    let res = sign_up("More", "n9@mine.example", "long enough password")
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Too many teams made from here."));
}

async fn the_audit_log_pages_back_through_older_lines(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let values: Vec<String> = (0..250)
        .map(|n| format!("(1, NULL, 'app_renamed', '{{\"n\":{n}}}', '127.0.0.1', {n}, '')"))
        .collect();
    app.sql(&format!(
        "INSERT INTO audit (tenant_id, member_id, action, detail, ip, created_at, actor) VALUES {}",
        values.join(", ")
    ))
    .await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let path = "/dashboard/audit?action=app_renamed";
    let (_, first) = get(&app, path, &cookie).await;
    assert_eq!(first.matches("data-audit=").count(), 200);
    let older = role_href(&first, "older");
    assert!(
        older.contains("action=app_renamed") && older.contains("before="),
        "{older}"
    );
    let (status, second) = get(&app, &older.replace("&amp;", "&"), &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(
        second.matches("data-audit=").count(),
        50,
        "the rest, with the same filter"
    );
    assert!(second.contains("&quot;n&quot;:0") || second.contains(r#""n":0"#));
    assert!(!second.contains(r#"data-role="older""#), "nothing older");
}

/// The `href` of the element marked `data-role=role`.
fn role_href(html: &str, role: &str) -> String {
    let marker = format!(r#"data-role="{role}""#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{role} in {html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag = &html[tag_start..at + html[at..].find('>').unwrap()];
    let href = tag.find(r#"href=""#).unwrap() + 6;
    tag[href..href + tag[href..].find('"').unwrap()].to_owned()
}

on_both_backends!(
    the_audit_log_pages_back_through_older_lines,
    self_sign_up_is_off_unless_the_operator_turns_it_on,
    owners_change_roles_and_remove_members_but_keep_an_owner,
    failover_routes_set_in_the_dashboard_carry_the_apps_messages,
    an_apps_templates_are_checked_previewed_and_used_for_its_messages,
    test_addresses_and_test_mode_keep_messages_in_the_dev_inbox,
    app_settings_shape_the_apps_verifications,
    refused_settings_change_nothing_and_say_why,
    settings_are_changed_only_by_members_who_manage_the_app,
    an_app_of_the_config_file_is_shown_read_only_to_its_tenant,
    an_owner_signs_in_with_the_cli_password_and_signs_out,
    an_app_made_in_the_dashboard_shows_its_secret_once_and_it_works,
    a_form_without_the_token_or_from_another_site_changes_nothing,
    a_tenant_sees_only_its_own_apps,
    a_viewer_reads_but_cannot_change,
    sign_in_is_limited_per_account_and_sessions_expire_when_idle,
    secrets_are_added_revoked_and_rotated_with_an_overlap,
    an_owner_invites_a_member_who_joins_once_with_a_chosen_password,
    an_app_is_renamed_and_deleted_only_with_its_namespace_repeated,
);
