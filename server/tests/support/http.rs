//! An HTTP server on loopback standing in for a provider: it records every request
//! exactly (method, path, query, headers, body) and answers from a script, so tests can
//! assert what otpgate sent and make the provider fail, throttle or hang.

use axum::{body::Bytes, extract::State, http::HeaderMap, Router};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::mpsc;

/// One request as the provider saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Captured {
    /// Decoded `name=value` pairs of the query string.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.query).unwrap()
    }

    /// Decoded pairs of a form body.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap()
    }

    /// The one value of a query or form field.
    pub fn field(pairs: &[(String, String)], name: &str) -> String {
        let found: Vec<&String> = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect();
        assert_eq!(found.len(), 1, "exactly one {name:?} in {pairs:?}");
        found[0].clone()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    }
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A status with a body (JSON when it starts with `{`).
    Status(u16, String),
    /// Never answers (until the client gives up).
    Hang,
    /// 429 with `Retry-After: <seconds>`.
    Throttle(u64),
}

struct Shared {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    tx: mpsc::UnboundedSender<Captured>,
}

pub struct HttpCapture {
    pub port: u16,
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Captured>,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let _ = shared.tx.send(Captured {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
        body,
    });
    let reply = shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| shared.default.lock().unwrap().clone());
    match reply {
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            axum::http::StatusCode::OK.into_response()
        }
        Reply::Throttle(secs) => (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", secs.to_string())],
            "slow down",
        )
            .into_response(),
        Reply::Status(code, body) => {
            let status = axum::http::StatusCode::from_u16(code).unwrap();
            let ct = if body.starts_with('{') {
                "application/json"
            } else {
                "text/plain"
            };
            (status, [("content-type", ct)], body).into_response()
        }
    }
}

impl HttpCapture {
    /// Starts on a free loopback port, answering `default` once the script runs out.
    pub async fn start(default: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, default)
    }

    fn serve(listener: tokio::net::TcpListener, default: Reply) -> Self {
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
            tx,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { port, shared, rx }
    }

    /// Answers the next requests with `replies`, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    /// Changes the answer used once the script runs out.
    pub fn set_default(&self, reply: Reply) {
        *self.shared.default.lock().unwrap() = reply;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next request, waiting up to 10 s.
    pub async fn next(&mut self) -> Captured {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("the provider was not called within 10 s")
            .unwrap()
    }

    /// Requests that arrive within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Captured> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(c)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            got.push(c);
        }
        got
    }
}
