//! A capturing SMTP server on loopback: speaks enough ESMTP for lettre (EHLO, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT) and hands every accepted message to the test.

use std::time::Duration;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::mpsc,
};

#[derive(Debug, Clone)]
pub struct CapturedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section with dot-stuffing undone, CRLF line ends.
    pub data: String,
    /// Whether the message came after STARTTLS.
    pub tls: bool,
}

pub struct SmtpCapture {
    pub port: u16,
    rx: mpsc::UnboundedReceiver<CapturedMail>,
}

impl SmtpCapture {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts on `port` (0 for any), e.g. one a provider was already pointed at.
    pub async fn start_on(port: u16) -> Self {
        Self::listen(port, None).await
    }

    /// Starts a server that offers STARTTLS with a fresh self-signed certificate.
    pub async fn start_with_starttls() -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(
            rustls_pki_types::PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()),
        );
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(
            std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        Self::listen(
            0,
            Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))),
        )
        .await
    }

    async fn listen(port: u16, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, tx.clone(), tls.clone()));
            }
        });
        Self { port, rx }
    }

    /// The next captured message, waiting up to 10 s.
    pub async fn next(&mut self) -> CapturedMail {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("no e-mail within 10 s")
            .expect("capture server stopped")
    }

    /// The `[providers.smtp]` section pointing at this server.
    pub fn config(&self) -> String {
        config_for(self.port)
    }
}

/// The `[providers.smtp]` section for a server on `port`.
pub fn config_for(port: u16) -> String {
    format!(
            "[providers.smtp]\nenabled = true\nfrom_email = \"otpgate <otp@example.test>\"\nhost = \"127.0.0.1\"\nport = {}\nauth_protocol = \"none\"\ntls_type = \"none\"\ntimeout = \"5s\"\n",
            port
        )
}

/// What a plain-text conversation ended with.
enum Ended {
    Closed,
    /// The client asked for STARTTLS and was told to go ahead.
    StartTls,
}

async fn session(
    socket: tokio::net::TcpStream,
    tx: mpsc::UnboundedSender<CapturedMail>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut lines = BufReader::new(socket);
    let _ = lines
        .get_mut()
        .write_all(b"220 capture.test ESMTP\r\n")
        .await;
    let ended = converse(&mut lines, &tx, tls.is_some(), false).await;
    if let (Ended::StartTls, Some(acceptor)) = (ended, tls) {
        let Ok(stream) = acceptor.accept(lines.into_inner()).await else {
            return;
        };
        let mut lines = BufReader::new(stream);
        converse(&mut lines, &tx, false, true).await;
    }
}

async fn converse<S>(
    lines: &mut BufReader<S>,
    tx: &mpsc::UnboundedSender<CapturedMail>,
    offer_tls: bool,
    over_tls: bool,
) -> Ended
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return Ended::Closed;
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            if offer_tls {
                "250-capture.test\r\n250-STARTTLS\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"
            } else {
                "250-capture.test\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"
            }
        } else if upper == "STARTTLS" && offer_tls {
            let _ = lines.get_mut().write_all(b"220 go ahead\r\n").await;
            return Ended::StartTls;
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            "250 OK\r\n"
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            "250 OK\r\n"
        } else if let Some(rest) = upper.strip_prefix("MAIL FROM:") {
            from = cmd[cmd.len() - rest.len()..]
                .trim()
                .trim_matches(['<', '>'])
                .to_owned();
            "250 OK\r\n"
        } else if let Some(rest) = upper.strip_prefix("RCPT TO:") {
            to.push(
                cmd[cmd.len() - rest.len()..]
                    .trim()
                    .trim_matches(['<', '>'])
                    .to_owned(),
            );
            "250 OK\r\n"
        } else if upper == "DATA" {
            let _ = lines
                .get_mut()
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return Ended::Closed;
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let _ = tx.send(CapturedMail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
                tls: over_tls,
            });
            "250 2.0.0 Ok: queued as CAPTURE1\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = lines.get_mut().write_all(b"221 bye\r\n").await;
            return Ended::Closed;
        } else {
            "502 command not implemented\r\n"
        };
        if lines.get_mut().write_all(answer.as_bytes()).await.is_err() {
            return Ended::Closed;
        }
        let _ = lines.get_mut().flush().await;
    }
}

/// The decoded body of the first part with this content type (quoted-printable, base64 or
/// 7bit), from a MIME message.
pub fn mime_part(data: &str, content_type: &str) -> Option<String> {
    let start = data
        .to_ascii_lowercase()
        .find(&format!("content-type: {content_type}"))?;
    let part = &data[start..];
    let header_end = part.find("\r\n\r\n")?;
    let headers = part[..header_end].to_ascii_lowercase();
    let body_all = &part[header_end + 4..];
    let body = body_all.split("\r\n--").next().unwrap_or(body_all);
    Some(
        if headers.contains("content-transfer-encoding: quoted-printable") {
            decode_qp(body)
        } else if headers.contains("content-transfer-encoding: base64") {
            use base64::Engine;
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .ok()?,
            )
            .ok()?
        } else {
            body.to_owned()
        },
    )
}

fn decode_qp(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
