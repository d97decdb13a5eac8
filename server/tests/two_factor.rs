//! Two-factor sign-in to the dashboard, over real HTTP on SQLite and PostgreSQL: a member
//! enrols an authenticator app on the security page and gets ten recovery codes once;
//! from then on a password alone earns only a ticket for the second step, where a code
//! (each time step once) or a recovery code (each once) finishes the sign-in. An owner can
//! require it of the team: a member without one then enrols at the second step, and no
//! password alone signs anyone in.

mod support;

use support::{
    dashboard::{csrf, get, post, sign_in, tenant, OWNER},
    spawn_app_on,
    totp::{base32_decode, totp},
    Backend, TestApp,
};

/// The text of the element marked `data-role=role`.
fn role_text(html: &str, role: &str) -> String {
    let marker = format!(r#"data-role="{role}""#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {role} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

fn code_now(app: &TestApp, key: &str) -> String {
    totp(
        &base32_decode(key),
        "SHA1",
        6,
        30,
        app.gateway.now_ms() / 1000,
    )
}

fn recovery_codes(html: &str) -> Vec<String> {
    let at = html
        .find(r#"data-role="recovery-codes""#)
        .expect("recovery codes");
    let list = &html[at..at + html[at..].find("</ul>").unwrap()];
    list.split("<li>")
        .skip(1)
        .map(|li| li[..li.find('<').unwrap()].to_owned())
        .collect()
}

/// A password sign-in over HTTP: the answer's status, `Location` and `Set-Cookie` values.
async fn password(app: &TestApp, email: &str, password: &str) -> (u16, String, Vec<String>) {
    let res = app
        .client
        .post(app.url("/dashboard/sign-in"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let cookies = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    (res.status().as_u16(), location, cookies)
}

/// The second step's form with the ticket cookie: status, body, `Set-Cookie` values.
async fn second_step(app: &TestApp, ticket: &str, code: &str) -> (u16, String, Vec<String>) {
    let res = app
        .client
        .post(app.url("/dashboard/sign-in/code"))
        .header("cookie", ticket)
        .form(&[("code", code)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let cookies = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    (status, res.text().await.unwrap(), cookies)
}

/// A password sign-in that must stop at the second step: its ticket cookie.
async fn ticket_for(app: &TestApp, email: &str, pass: &str) -> String {
    let (status, location, cookies) = password(app, email, pass).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/dashboard/sign-in/code")
    );
    assert_eq!(cookies.len(), 1, "no session, only the ticket: {cookies:?}");
    assert!(cookies[0].starts_with("otpgate_second_step="));
    assert!(cookies[0].contains("HttpOnly"));
    cookies[0].split(';').next().unwrap().to_owned()
}

fn session_of(cookies: &[String]) -> String {
    cookies
        .iter()
        .find(|c| !c.starts_with("otpgate_second_step=") && !c.contains("Max-Age=0"))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn a_member_with_an_app_needs_its_code_or_a_recovery_code(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let pass = tenant(&app, "Acme", OWNER).await;
    let owner = sign_in(&app, OWNER, &pass).await;

    let (_, html) = get(&app, "/dashboard/security", &owner).await;
    assert_eq!(role_text(&html, "two-factor"), "Off.");
    let (status, html) = security(&app, &owner, "enrol", &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"data-role="totp-qr""#));
    let key = role_text(&html, "totp-key").replace(' ', "");
    let right = code_now(&app, &key);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    let (status, html) = security(&app, &owner, "confirm", &[("code", &wrong)]).await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("that code is not right"));
    let (status, html) = security(&app, &owner, "confirm", &[("code", &right)]).await;
    assert_eq!(status, 200, "{html}");
    let codes = recovery_codes(&html);
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert!(role_text(&html, "two-factor").starts_with("On. 10 recovery codes left"));
    // Shown once: the page does not show them again.
    let (_, html) = get(&app, "/dashboard/security", &owner).await;
    assert!(!html.contains(&codes[0]));

    // A password alone now earns a ticket, not a session.
    let ticket = ticket_for(&app, OWNER, &pass).await;
    let (status, html) = get(&app, "/dashboard/sign-in/code", &ticket).await;
    assert_eq!(status, 200);
    assert!(html.contains("Enter your code"));
    assert!(!html.contains(r#"data-role="totp-qr""#));
    // The step the enrolment used is spent.
    let (status, html, _) = second_step(&app, &ticket, &right).await;
    assert_eq!(status, 401, "{html}");
    assert!(html.contains("That code is not right."));
    app.clock.advance_ms(30_000);
    let (status, _, cookies) = second_step(&app, &ticket, &code_now(&app, &key)).await;
    assert_eq!(status, 303);
    let session = session_of(&cookies);
    let (status, _) = get(&app, "/dashboard", &session).await;
    assert_eq!(status, 200);

    // A recovery code works once, in any case and without its dash.
    let ticket = ticket_for(&app, OWNER, &pass).await;
    let typed = codes[3].to_uppercase().replace('-', "");
    let (status, _, cookies) = second_step(&app, &ticket, &typed).await;
    assert_eq!(status, 303);
    session_of(&cookies);
    let ticket = ticket_for(&app, OWNER, &pass).await;
    let (status, _, _) = second_step(&app, &ticket, &codes[3]).await;
    assert_eq!(status, 401, "a recovery code is spent once used");
    let (_, html) = get(&app, "/dashboard/security", &owner).await;
    assert!(role_text(&html, "two-factor").starts_with("On. 9 recovery codes left"));

    // A ticket expires, and a forged one is nobody's.
    app.clock.advance_ms(6 * 60 * 1000);
    let (status, _) = get(&app, "/dashboard/sign-in/code", &ticket).await;
    assert_eq!(status, 303, "an expired ticket starts again");
    let forged = "otpgate_second_step=1.99999999999999.AAAA";
    let (status, _) = get(&app, "/dashboard/sign-in/code", forged).await;
    assert_eq!(status, 303);

    // Past ten tries in 15 minutes (right ones count too), even a right code is refused.
    let ticket = ticket_for(&app, OWNER, &pass).await;
    for _ in 0..10 {
        second_step(&app, &ticket, "000000").await;
    }
    let (status, html, _) = second_step(&app, &ticket, &code_now(&app, &key)).await;
    assert_eq!(status, 429, "{html}");

    // Turned off, the password alone signs in again.
    let (status, _) = security(&app, &owner, "disable", &[]).await;
    assert_eq!(status, 303);
    let (status, location, _) = password(&app, OWNER, &pass).await;
    assert_eq!((status, location.as_str()), (303, "/dashboard"));
    let (_, audit) = get(&app, "/dashboard/audit", &owner).await;
    for action in [
        "two_factor_enabled",
        "second_step_failed",
        "two_factor_disabled",
    ] {
        assert!(audit.contains(action), "{action} is audited");
    }
}

/// A form of the security page (`/dashboard/security/{action}`) posted as `cookie`'s
/// member, with the page's CSRF token and `fields`.
async fn security(
    app: &TestApp,
    cookie: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let (_, html) = get(app, "/dashboard/security", cookie).await;
    let token = csrf(&html);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    post(app, &format!("/dashboard/security/{action}"), cookie, &form).await
}

/// Whether the security page offers `cookie`'s member the team's rule, and the status of
/// requiring it.
async fn require_it(app: &TestApp, cookie: &str) -> (bool, u16) {
    let (_, html) = get(app, "/dashboard/security", cookie).await;
    let offered = html.contains("/dashboard/security/require");
    let (status, _) = security(app, cookie, "require", &[("on", "true")]).await;
    (offered, status)
}

async fn an_owner_can_require_it_of_every_member(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let pass = tenant(&app, "Acme", OWNER).await;
    let owner = sign_in(&app, OWNER, &pass).await;
    let dev_pass = {
        let session = app
            .gateway
            .session(&app::gateway::tenants::SessionToken::from_cookie(
                owner.split_once('=').unwrap().1,
            ))
            .await
            .unwrap()
            .unwrap();
        let (_, pw) = app
            .gateway
            .add_member(
                &session,
                "dev2@acme.example",
                app::gateway::store::Role::Developer,
                "127.0.0.1",
            )
            .await
            .unwrap();
        pw.expose().to_owned()
    };
    let dev = sign_in(&app, "dev2@acme.example", &dev_pass).await;

    // Only an owner changes the rule.
    assert_eq!(require_it(&app, &dev).await, (false, 403));
    assert_eq!(require_it(&app, &owner).await, (true, 303));
    let (_, html) = get(&app, "/dashboard/security", &owner).await;
    assert_eq!(
        role_text(&html, "required"),
        "Every member needs an authenticator app to sign in."
    );

    // A password alone signs nobody in now: the member enrols at the second step.
    let ticket = ticket_for(&app, "dev2@acme.example", &dev_pass).await;
    let (status, html) = get(&app, "/dashboard/sign-in/code", &ticket).await;
    assert_eq!(status, 200);
    assert!(html.contains("Set up your authenticator app"));
    assert!(html.contains(r#"data-role="totp-qr""#));
    let key = role_text(&html, "totp-key").replace(' ', "");
    // Reloading shows the same key (the enrolment is kept until confirmed).
    let (_, again) = get(&app, "/dashboard/sign-in/code", &ticket).await;
    assert_eq!(role_text(&again, "totp-key").replace(' ', ""), key);
    let (status, html, cookies) = second_step(&app, &ticket, &code_now(&app, &key)).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(recovery_codes(&html).len(), 10);
    let session = session_of(&cookies);
    let (status, _) = get(&app, "/dashboard", &session).await;
    assert_eq!(status, 200, "signed in after enrolling");
    // The owner, who has none yet, enrols the same way.
    let ticket = ticket_for(&app, OWNER, &pass).await;
    let (_, html) = get(&app, "/dashboard/sign-in/code", &ticket).await;
    assert!(html.contains("Set up your authenticator app"));
}

on_both_backends!(
    a_member_with_an_app_needs_its_code_or_a_recovery_code,
    an_owner_can_require_it_of_every_member,
);
