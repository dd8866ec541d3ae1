//! A real nginx for the tests that put Spindle behind a proxy: started from a site
//! configuration of the test's own, in the test's directory, and stopped when the guard drops.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

/// A running nginx; stopped (SIGTERM, then waited for) when dropped.
pub struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// A port free now, below the ephemeral range (32768–60999 here), so that no socket bound to
/// port 0 meanwhile (the app's own listener, a client) can take it before nginx binds it.
pub fn free_port() -> Result<u16> {
    use rand::Rng as _;
    let mut rng = rand::rng();
    for _ in 0..200 {
        let port = rng.random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port in 20000..32000")
}

/// Starts nginx with `site` (what goes in its `http` block) under `work`, and waits until
/// `health` answers 200 through `probe`.
pub async fn start(
    work: &Path,
    site: &str,
    health: &str,
    probe: &reqwest::Client,
) -> Result<Nginx> {
    let temp = work.join("nginx");
    std::fs::create_dir_all(&temp)?;
    std::fs::set_permissions(&temp, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    std::fs::write(work.join("site.conf"), site)?;
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {t}/nginx.pid;\nerror_log {t}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n\
         fastcgi_temp_path {t}/fastcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n\
         include {site};\n}}\n",
        t = temp.display(),
        site = work.join("site.conf").display()
    );
    let main_path = work.join("nginx.conf");
    std::fs::write(&main_path, main)?;
    let nginx = Nginx(
        Command::new("nginx")
            .arg("-c")
            .arg(&main_path)
            .arg("-p")
            .arg(&temp)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("nginx (scripts/peers.sh installs it)")?,
    );
    for _ in 0..100 {
        if probe
            .get(health)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return Ok(nginx);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "nginx did not answer: {}",
        std::fs::read_to_string(temp.join("error.log")).unwrap_or_default()
    )
}
