//! The `spindle` binary as a child process: the CLI, and a server that can be stopped
//! gracefully (SIGTERM) or killed (SIGKILL) and started again on the same port and data.
#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::{Backend, PART};

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
        // The server's log, kept across restarts (read by the tests that check what it says).
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_spindle"))
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("SPINDLE_CONFIG")
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
        };
        let client = super::http();
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

/// The spindle binary on `backend`, with a librarian and an admin made by the CLI.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    pub config: spindle::config::Config,
    pub librarian: String,
    pub admin: String,
}

impl Deployment {
    pub async fn new(backend: Backend, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = spindle::config::Config::default();
        super::configure(&mut config, backend, &dir.path().join("data")).await?;
        let mut env = super::child_env(&config);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let o = spindle(dir.path(), &env, &["member", "add", "A", "--name", "A"]);
        anyhow::ensure!(o.status.success(), "{}", text(&o));
        let token = |args: &[&str]| {
            let o = spindle(dir.path(), &env, args);
            anyhow::ensure!(o.status.success(), "{}", text(&o));
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let librarian = token(&["token", "create", "--role", "librarian", "--member", "A"])?;
        let admin = token(&["token", "create", "--role", "admin"])?;
        Ok(Self {
            dir,
            env,
            config,
            librarian,
            admin,
        })
    }

    pub async fn start(&self, port: Option<u16>) -> anyhow::Result<Server> {
        match port {
            Some(p) => Server::start_on(self.dir.path(), &self.env, p).await,
            None => Server::start(self.dir.path(), &self.env).await,
        }
    }

    /// Uploads and registers `data` as a disc of A; returns its id.
    pub async fn disc(&self, base: &str, data: &[u8]) -> anyhow::Result<i64> {
        self.disc_with(base, data, json!({})).await
    }

    /// The same, with more of the registration (`{"barcode": …}`).
    pub async fn disc_with(&self, base: &str, data: &[u8], extra: Value) -> anyhow::Result<i64> {
        let bases = [base.to_string()];
        let (id, _) = super::upload_disc(
            &super::http(),
            &self.librarian,
            &bases,
            data,
            2 * PART as usize,
            "disc.iso",
            extra,
        )
        .await?;
        Ok(id)
    }

    /// Usage events stored for `disc`, read from the database directly.
    pub async fn events_for(&self, disc: i64) -> anyhow::Result<usize> {
        let db = spindle::db::Db::connect(&self.config.database_url(), 1, Duration::from_secs(5))
            .await?;
        let n = spindle::db::usage::events_between(&db, 0, i64::MAX)
            .await?
            .iter()
            .filter(|e| e.disc_id == Some(disc))
            .count();
        db.close().await;
        Ok(n)
    }
}
