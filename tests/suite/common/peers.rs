//! Private peers for the fault drills: a PostgreSQL cluster and a Garage node of the test's
//! own, on loopback, that the drill may stop, kill and start again without touching the
//! suite's shared peers. Both fail loudly if they cannot start.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A PostgreSQL cluster in a temporary folder (owned by `postgres` when the tests run as
/// root: initdb refuses root).
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    pub fn start() -> Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL is not installed (scripts/peers.sh installs it)")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())
            .context("no PostgreSQL initdb")?;
        let dir = tempfile::Builder::new()
            .prefix("spindle-drill-pg")
            .tempdir()?;
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()))?;
        }
        let pg = Self {
            dir,
            bin,
            port: free_port()?,
            as_postgres,
        };
        run(pg.command("initdb").arg("-D").arg(pg.data()).args([
            "-U",
            "spindle",
            "-A",
            "trust",
            "--no-sync",
        ]))?;
        pg.start_again()?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://spindle@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the cluster (again), on the same port, and waits until it accepts connections.
    pub fn start_again(&self) -> Result<()> {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-h 127.0.0.1 -p {} -k {} -c fsync=off",
                self.port,
                self.dir.path().display()
            ))
            .arg("start"))?;
        Ok(())
    }

    /// Stops the cluster: `fast` (clients disconnected, a clean shutdown) or `immediate` (as
    /// a crash: no checkpoint, recovery at the next start).
    pub fn stop(&self, mode: &str) -> Result<()> {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "stop"]))?;
        Ok(())
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A one-node Garage with a bucket and a key, in a temporary folder.
pub struct PrivateGarage {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub endpoint: String,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
}

impl PrivateGarage {
    pub fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("spindle-drill-garage")
            .tempdir()?;
        let (s3, rpc, admin) = (free_port()?, free_port()?, free_port()?);
        let secret = super::random_hex(32);
        std::fs::write(
            dir.path().join("garage.toml"),
            format!(
                r#"metadata_dir = "{d}/meta"
data_dir = "{d}/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
                d = dir.path().display()
            ),
        )?;
        let mut g = Self {
            dir,
            child: None,
            endpoint: format!("http://127.0.0.1:{s3}"),
            bucket: "drill".into(),
            key_id: String::new(),
            secret: String::new(),
        };
        g.start_again()?;
        let mut id = String::new();
        for _ in 0..100 {
            if let Ok(out) = run(g.cli().args(["node", "id", "-q"])) {
                id = out.trim().split('@').next().unwrap_or_default().to_string();
                if !id.is_empty() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        ensure!(!id.is_empty(), "Garage did not start");
        // `node id` reads a local file; the RPC the next commands need may open later.
        for _ in 0..100 {
            if run(g.cli().arg("status")).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        run(g
            .cli()
            .args(["layout", "assign", "-z", "dc1", "-c", "1G", &id]))?;
        run(g.cli().args(["layout", "apply", "--version", "1"]))?;
        run(g.cli().args(["bucket", "create", "drill"]))?;
        let key = run(g.cli().args(["key", "create", "drill-key"]))?;
        let field = |name: &str| {
            key.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
                .with_context(|| format!("no {name} in {key}"))
        };
        g.key_id = field("Key ID:")?;
        g.secret = field("Secret key:")?;
        run(g.cli().args([
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            "drill",
            "--key",
            "drill-key",
        ]))?;
        Ok(g)
    }

    fn cli(&self) -> Command {
        let mut c = Command::new("garage");
        c.arg("-c").arg(self.dir.path().join("garage.toml"));
        c
    }

    /// Starts the node (again) on its data, and waits for its S3 port.
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("Garage is running");
        }
        let log = std::fs::File::create(self.dir.path().join("server.log"))?;
        self.child = Some(
            self.cli()
                .arg("server")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("starting garage (scripts/peers.sh installs it)")?,
        );
        let addr = self.endpoint.trim_start_matches("http://").to_string();
        for _ in 0..200 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("Garage's S3 port did not open")
    }

    /// SIGKILL: the node vanishes mid-request, as a crashed or unplugged store would.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivateGarage {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
