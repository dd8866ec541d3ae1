//! The `spindle` binary as a child process: the CLI, and a server that can be stopped
//! gracefully (SIGTERM) or killed (SIGKILL) and started again on the same port and data.
#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};

/// Runs `spindle ARGS` in `dir` with `env` (and no ambient SPINDLE_CONFIG).
pub fn spindle(dir: &std::path::Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spindle"))
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("SPINDLE_CONFIG")
        .args(args)
        .output()
        .expect("running spindle")
}

/// stdout then stderr, for messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub struct Server {
    child: Child,
    pub base: String,
    pub port: u16,
}

impl Server {
    pub async fn start(dir: &std::path::Path, env: &[(String, String)]) -> Result<Self> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        Self::start_on(dir, env, port).await
    }

    pub async fn start_on(
        dir: &std::path::Path,
        env: &[(String, String)],
        port: u16,
    ) -> Result<Self> {
        let child = Command::new(env!("CARGO_BIN_EXE_spindle"))
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("SPINDLE_CONFIG")
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await
                && r.status() == 200
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("spindle did not become ready")
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill9(mut self) -> Result<()> {
        // Child::kill sends SIGKILL.
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits for the process to finish its graceful shutdown.
    pub fn terminate(mut self) -> Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status()?;
        anyhow::ensure!(status.success(), "kill -TERM {pid}");
        Ok(self.child.wait()?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
