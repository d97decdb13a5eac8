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
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, tx.clone()));
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

async fn session(socket: tokio::net::TcpStream, tx: mpsc::UnboundedSender<CapturedMail>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let _ = write.write_all(b"220 capture.test ESMTP\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            "250-capture.test\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"
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
            let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
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
            });
            "250 OK queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 command not implemented\r\n"
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
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
