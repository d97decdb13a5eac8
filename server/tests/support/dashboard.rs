//! Steps of the dashboard's tests: a tenant made as the command line makes it, signing in
//! over HTTP, pages and forms with the session cookie, an app made in the dashboard.

use super::{http::HttpCapture, TestApp};
use app::gateway::{store::Role, tenants::SessionToken};

pub const OWNER: &str = "owner@acme.example";

/// A tenant made as the command line makes it; its owner's one-time password.
pub async fn tenant(app: &TestApp, name: &str, email: &str) -> String {
    let made = app.gateway.create_tenant(name, email).await.unwrap();
    made.password.expose().to_owned()
}

/// Signs in over HTTP; the `Cookie` header value of the new session.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> String {
    let res = app
        .client
        .post(app.url("/dashboard/sign-in"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "signed in");
    assert_eq!(res.headers()["location"], "/dashboard");
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

pub async fn get(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let res = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

pub async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> (u16, String) {
    let res = app
        .client
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The CSRF token in a signed-in page's forms.
pub fn csrf(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with the CSRF token")
        + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The text of the element marked `data-role=role`.
pub fn role_text(html: &str, role: &str) -> String {
    let marker = format!(r#"data-role="{role}""#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{role} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

/// Makes an app in the dashboard as `cookie`'s member; its secret and the page's token.
pub async fn dashboard_app(app: &TestApp, cookie: &str, namespace: &str) -> (String, String) {
    let (_, html) = get(app, "/dashboard", cookie).await;
    let token = csrf(&html);
    let form = [
        ("csrf", token.as_str()),
        ("namespace", namespace),
        ("name", "Shop"),
    ];
    let (status, html) = post(app, "/dashboard/apps", cookie, &form).await;
    assert_eq!(status, 200, "{html}");
    (role_text(&html, "secret"), token)
}

/// Starts a verification with the native API as `namespace:secret`.
pub async fn start(
    app: &TestApp,
    namespace: &str,
    secret: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let res = app
        .client
        .post(app.url("/v1/verifications"))
        .header("authorization", format!("Bearer {namespace}:{secret}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// An `http_sms` provider `gateway` posting to `sms`.
pub fn sms_gateway(sms: &HttpCapture) -> String {
    format!(
        "[providers.gateway]\ntype = \"http_sms\"\nurl = \"{}\"\n[providers.gateway.json]\nto = \"{{{{ to }}}}\"\ntext = \"{{{{ body }}}}\"\n",
        sms.url("/send")
    )
}

/// `path` as `cookie`'s member sees it, read again every 20 ms (for up to 4 s) until
/// `done` holds.
pub async fn get_until(
    app: &TestApp,
    path: &str,
    cookie: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let mut page = String::new();
    for _ in 0..200 {
        page = get(app, path, cookie).await.1;
        if done(&page) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    page
}

/// The dev inbox of `shop` once it holds a message to `to`.
pub async fn inbox_holding(app: &TestApp, cookie: &str, to: &str) -> String {
    let marker = format!(r#"data-inbox-to="{to}""#);
    get_until(app, "/dashboard/apps/shop/inbox", cookie, |page| {
        page.contains(&marker)
    })
    .await
}

/// Adds `viewer@acme.example` as a viewer to the tenant of `owner_cookie`'s member and
/// signs them in: their `Cookie` header value.
pub async fn viewer_of(app: &TestApp, owner_cookie: &str) -> String {
    let token = SessionToken::from_cookie(owner_cookie.split_once('=').unwrap().1);
    let owner = app.gateway.session(&token).await.unwrap().unwrap();
    let (_, password) = app
        .gateway
        .add_member(&owner, "viewer@acme.example", Role::Viewer, "127.0.0.1")
        .await
        .unwrap();
    sign_in(app, "viewer@acme.example", password.expose()).await
}
