//! otpgate as a process of its own (the built binary), for tests that kill it, restart it,
//! or watch it refuse to start.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts the built binary and waits until it answers `/healthz`.
    pub async fn start(config: &Path, data_dir: &Path, database_url: &str) -> Self {
        match Self::start_or_exit(config, data_dir, database_url).await {
            Ok(server) => server,
            Err(stderr) => panic!("otpgate did not start: {stderr}"),
        }
    }

    /// As [`Server::start`]; if the process exits instead, what it wrote to stderr.
    pub async fn start_or_exit(
        config: &Path,
        data_dir: &Path,
        database_url: &str,
    ) -> Result<Self, String> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}");
        let server = Self {
            child: Command::new(env!("CARGO_BIN_EXE_otpgate"))
                .arg("--config")
                .arg(config)
                .arg("serve")
                .env("OTPGATE_ADDRESS", format!("127.0.0.1:{port}"))
                .env("OTPGATE_ROOT_URL", &base)
                .env("OTPGATE_DATA_DIR", data_dir)
                .env("OTPGATE_DATABASE_URL", database_url)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
            base,
        };
        let mut server = server;
        // Its warnings go to a thread, so a full pipe never stops it.
        let stderr = server.child.stderr.take().unwrap();
        let said = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(res) = client.get(format!("{}/healthz", server.base)).send().await {
                if res.status() == 200 {
                    return Ok(server);
                }
            }
            if server.child.try_wait().unwrap().is_some() {
                return Err(said.join().unwrap());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("otpgate neither started nor exited within 30 s");
    }

    /// SIGKILL: no shutdown, no release of leases.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM: a graceful stop; waits for the process to exit.
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "a graceful stop exits cleanly: {exit:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
