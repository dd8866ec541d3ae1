//! The `spindle` command line: serve, migrate, check and print the configuration, manage
//! members and staff tokens.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;

use crate::app::{App, connect_db, open_storage};
use crate::auth::{Role, generate_token};
use crate::config::{Config, LogFormat, Overrides};
use crate::db;

#[derive(Parser, Debug)]
#[command(
    name = "spindle",
    version,
    about = "A disc-image cloud for library consortia"
)]
pub struct Cli {
    /// Configuration file (default: ./spindle.toml when present)
    #[arg(long, global = true, env = "SPINDLE_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder for the embedded defaults (SQLite database and local object store)
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Apply database migrations and exit
    Migrate,
    /// Check the configuration, the database and the storage, then exit
    CheckConfig,
    /// Print the effective configuration with secrets redacted
    PrintConfig,
    /// Member libraries
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Staff bearer tokens
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Fetch every linked record again from the members' catalogues and report
    Resync,
    /// Upload a shelf of discs (a folder or a manifest) to a Spindle server
    Upload(spindle_client::UploadArgs),
    /// Re-hash stored blobs and report any whose bytes no longer match their key (exit 1 if
    /// any). By default the blobs due (`fixity.reverify_days`); the server also does this
    /// in the background.
    Fsck {
        /// Check every blob, due or not
        #[arg(long)]
        all: bool,
        /// Read at most this many MB/s (default: `fixity.rate_mb_per_s`; 0: no limit)
        #[arg(long)]
        rate: Option<u64>,
        /// Check at most this many blobs
        #[arg(long, default_value_t = i64::MAX)]
        limit: i64,
    },
    /// Remove blobs nothing needs any more (no disc, no image listing them as a part, no
    /// upload of them under way or recent), once older than the grace period
    Gc {
        /// Keep anything stored more recently than this
        #[arg(long, default_value_t = 7)]
        grace_days: u64,
        /// Only list what would be removed
        #[arg(long)]
        dry_run: bool,
    },
    /// Back up the database (a consistent snapshot) and every blob into a folder, each blob
    /// hashed on the way; the server may keep running. Into the same folder again, only new
    /// blobs are copied. Exit 1 if any blob could not be copied.
    Backup {
        /// The backup folder
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup made by `spindle backup` into the configured database and storage
    /// (an empty database of the same kind); every blob is hashed on the way in. Exit 1 if
    /// any blob could not be restored. Then run `spindle fsck --all`.
    Restore {
        /// The backup folder
        #[arg(long)]
        from: PathBuf,
    },
    /// Usage statistics: roll up closed days (the server does this by itself)
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// COUNTER_SUSHI API keys
    SushiKey {
        #[command(subcommand)]
        command: SushiKeyCommand,
    },
    /// A member's network ranges: readers from them are attributed to (and admitted by) it
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
}

#[derive(Subcommand, Debug)]
enum StatsCommand {
    /// Roll up every closed day not rolled up yet, or one day again (YYYY-MM-DD, UTC)
    Rollup {
        #[arg(long)]
        day: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum SushiKeyCommand {
    /// Create an API key and print it once: a member's, or with no member the consortium's
    Create {
        #[arg(long)]
        member: Option<String>,
    },
    /// List the keys (id, member, created, revoked; never the key)
    List,
    /// Revoke a key by id
    Revoke { id: i64 },
}

#[derive(Subcommand, Debug)]
enum NetworkCommand {
    /// Replace a member's ranges (CIDRs such as 192.0.2.0/24 or 2001:db8::/32)
    Set { member: String, cidrs: Vec<String> },
    /// List the ranges: every member's, or one member's
    List { member: Option<String> },
}

#[derive(Subcommand, Debug)]
enum MemberCommand {
    /// Add a member library
    Add {
        /// Short code, e.g. PKU
        code: String,
        #[arg(long)]
        name: String,
    },
    /// List member libraries
    List,
    /// Remove a member added by mistake: refused while it holds discs, uploads or usage
    /// figures; its tokens, people, sign-on, catalogue, networks and keys go with it
    Remove { code: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    Librarian,
    Admin,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print it once (only its hash is stored)
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The member a librarian token belongs to
        #[arg(long)]
        member: Option<String>,
        /// A note saying whose token this is
        #[arg(long)]
        label: Option<String>,
        /// Days until the token expires (operator tokens do not by default)
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List the tokens: id, kind, role, member, person, label, created, last used, expires
    List {
        /// Revoked and expired ones too
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token by id
    Revoke { id: i64 },
}

pub async fn main() -> ExitCode {
    spindle_storage::install_tls_provider();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    // SPINDLE_LOG__FILTER sets log.filter like any other key.
    let filter = tracing_subscriber::EnvFilter::new(&config.log.filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // A client of the API: no server configuration, database or storage involved.
    if let Command::Upload(args) = cli.command {
        return match spindle_client::run(args).await? {
            true => Ok(()),
            false => bail!(spindle_client::words::say(crate::detail!(
                "cli_some_failed"
            ))),
        };
    }
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        _ => None,
    };
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        listen,
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::PrintConfig => {
            print!("{}", config.redacted_toml()?);
            Ok(())
        }
        Command::Migrate => {
            let db = connect_db(&config).await?;
            db.migrate().await.context("migrating")?;
            println!("database ({}) is up to date", db.dialect());
            Ok(())
        }
        Command::CheckConfig => check(config).await,
        Command::Member { command } => member(config, command).await,
        Command::Token { command } => token(config, command).await,
        Command::Upload(_) => unreachable!("handled before the configuration is loaded"),
        Command::Fsck { all, rate, limit } => {
            let app = App::start(config).await?;
            let before = if all {
                i64::MAX
            } else {
                crate::db::now() - app.config.fixity.reverify_days as i64 * 86_400
            };
            let mb = rate.unwrap_or(app.config.fixity.rate_mb_per_s);
            let checker = crate::fixity::Checker {
                node: app.node.clone(),
                lease: std::time::Duration::from_secs(app.config.fixity.lease_secs),
                rate: (mb > 0).then_some(mb * 1_000_000),
            };
            let report =
                crate::fixity::run(&app.db, &app.blobs, &app.metrics, &checker, before, limit)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            for (sha, why) in &report.failed {
                println!("FAILED {sha}: {why}");
            }
            println!(
                "{} blobs checked ({} bytes matched their keys), {} failed",
                report.checked,
                report.bytes,
                report.failed.len()
            );
            if report.failed.is_empty() {
                Ok(())
            } else {
                bail!("{} blobs failed their fixity check", report.failed.len())
            }
        }
        Command::Gc {
            grace_days,
            dry_run,
        } => {
            let app = App::start(config).await?;
            let report = crate::gc::run(&app.db, &app.blobs, grace_days as i64 * 86_400, dry_run)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            let verb = if dry_run { "WOULD REMOVE" } else { "REMOVED" };
            for (sha, size) in &report.removed {
                println!("{verb} {sha} ({size} bytes)");
            }
            for (sha, why) in &report.bytes_left {
                println!("BYTES LEFT {sha}: {why}");
            }
            let bytes: i64 = report.removed.iter().map(|(_, n)| n).sum();
            println!(
                "{} blobs ({bytes} bytes) {}",
                report.removed.len(),
                if dry_run {
                    "would be removed"
                } else {
                    "removed"
                }
            );
            if report.bytes_left.is_empty() {
                Ok(())
            } else {
                bail!(
                    "{} blobs' bytes could not be deleted",
                    report.bytes_left.len()
                )
            }
        }
        Command::Backup { to } => {
            let app = App::start(config).await?;
            let report = crate::backup::backup(&app, &to).await?;
            app.db.close().await;
            backup_outcome("backed up", &report, &to)
        }
        Command::Restore { from } => {
            let report = crate::backup::restore(config, &from).await?;
            backup_outcome("restored", &report, &from)
        }
        Command::Stats {
            command: StatsCommand::Rollup { day },
        } => {
            let app = App::start(config).await?;
            let rolled = match day {
                Some(d) => {
                    let day = crate::calendar::Day::parse(&d)
                        .ok_or_else(|| anyhow::anyhow!("{d:?} is not a day (YYYY-MM-DD)"))?;
                    vec![
                        crate::usage::rollup::rollup_day(&app.db, &app.config.stats.time_zone, day)
                            .await?,
                    ]
                }
                None => crate::usage::rollup::catch_up(&app.db, &app.config.stats).await?,
            };
            for r in &rolled {
                println!("{}: {} events, {} figures", r.day, r.events, r.facts);
            }
            if rolled.is_empty() {
                println!("every closed day is rolled up");
            }
            Ok(())
        }
        Command::SushiKey {
            command: SushiKeyCommand::List,
        } => {
            let db = open_db(&config).await?;
            let zone = &config.stats.time_zone;
            println!("id\tmember\tcreated\trevoked");
            for k in db::usage::sushi_keys(&db).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    k.id,
                    k.member_code.as_deref().unwrap_or("(consortium)"),
                    zone.when(k.created_at),
                    k.revoked_at
                        .map_or_else(|| "-".to_string(), |t| zone.when(t)),
                );
            }
            Ok(())
        }
        Command::SushiKey {
            command: SushiKeyCommand::Revoke { id },
        } => {
            let db = open_db(&config).await?;
            if !db::usage::revoke_sushi_key(&db, id).await? {
                bail!("no live SUSHI key with id {id}");
            }
            println!("SUSHI key {id} revoked");
            Ok(())
        }
        Command::Network {
            command: NetworkCommand::List { member },
        } => {
            let db = open_db(&config).await?;
            let members = db::members::list(&db).await?;
            if let Some(code) = &member
                && !members.iter().any(|m| &m.code == code)
            {
                bail!("no member {code:?}");
            }
            for (id, cidr) in db::usage::networks(&db).await? {
                let Some(m) = members.iter().find(|m| m.id == id) else {
                    continue;
                };
                if member.as_ref().is_none_or(|c| *c == m.code) {
                    println!("{}\t{cidr}", m.code);
                }
            }
            Ok(())
        }
        Command::SushiKey {
            command: SushiKeyCommand::Create { member },
        } => {
            let db = open_db(&config).await?;
            let member_id = match &member {
                Some(code) => Some(
                    db::members::by_code(&db, code)
                        .await?
                        .with_context(|| format!("no member {code:?}"))?
                        .id,
                ),
                None => None,
            };
            let (key, hash) = crate::auth::generate_token();
            db::usage::insert_sushi_key(&db, member_id, &hash).await?;
            eprintln!(
                "SUSHI API key for {} (shown once):",
                member.as_deref().unwrap_or("the consortium")
            );
            println!("{key}");
            Ok(())
        }
        Command::Network {
            command: NetworkCommand::Set { member, cidrs },
        } => {
            let db = open_db(&config).await?;
            let m = db::members::by_code(&db, &member)
                .await?
                .with_context(|| format!("no member {member:?}"))?;
            let nets = crate::usage::parse_cidrs(&cidrs).map_err(|e| anyhow::anyhow!(e))?;
            let list: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
            db::usage::set_networks(&db, m.id, &list).await?;
            println!("{}: {}", m.code, list.join(" "));
            Ok(())
        }
        Command::Resync => {
            let app = App::start(config).await?;
            let report = crate::linking::resync(&app.linking, None)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(&config);
    let listen = config.http.listen;
    let app = App::start(config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = app.db.dialect(), storage = app.blobs.description(), "spindle is serving");
    let home = match &app.config.http.public_url {
        Some(_) => app.config.public_url(),
        None => format!("http://{addr}{}", app.config.http.base_path),
    };
    println!(
        "Spindle is running: open {home}/ (staff sign in at {home}/staff/sign-in, API under {home}/api/v1/)"
    );
    crate::http::server::serve(
        app.into_state(),
        listener,
        crate::http::server::shutdown_signal(),
    )
    .await?;
    Ok(())
}

async fn check(config: Config) -> anyhow::Result<()> {
    println!("configuration: ok");
    let db = connect_db(&config).await?;
    db.ping().await.context("database does not answer")?;
    println!("database ({}): reachable", db.dialect());
    db.ensure_migrated().await?;
    println!("database: migrated");
    let blobs = open_storage(&config)?;
    blobs
        .check_writable()
        .await
        .with_context(|| format!("storage {} is not writable", blobs.description()))?;
    println!("storage ({}): writable", blobs.description());
    Ok(())
}

/// CLI management commands apply pending migrations first so that a fresh data folder works.
async fn open_db(config: &Config) -> anyhow::Result<db::Db> {
    let db = connect_db(config).await?;
    if config.database.auto_migrate {
        db.migrate().await.context("migrating")?;
    } else {
        db.ensure_migrated().await?;
    }
    Ok(db)
}

async fn member(config: Config, command: MemberCommand) -> anyhow::Result<()> {
    let db = open_db(&config).await?;
    match command {
        MemberCommand::Add { code, name } => {
            let code = code.trim().to_string();
            if code.is_empty()
                || code.len() > 32
                || !code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!("a member code is 1-32 ASCII letters, digits, '-' or '_'");
            }
            match db::members::insert(&db, &code, name.trim()).await? {
                Ok(m) => println!("member {} added (id {})", m.code, m.id),
                Err(db::members::CodeTaken) => bail!("a member with code {code} already exists"),
            }
        }
        MemberCommand::List => {
            for m in db::members::list(&db).await? {
                println!("{}\t{}\t{}", m.id, m.code, m.name);
            }
        }
        MemberCommand::Remove { code } => {
            let m = db::members::by_code(&db, &code)
                .await?
                .with_context(|| format!("no member {code:?}"))?;
            let held = db::members::holdings(&db, m.id).await?;
            if !held.is_empty() {
                let list: Vec<String> = held.iter().map(|(w, n)| format!("{n} {w}")).collect();
                bail!(
                    "member {code} holds {}: a member with discs, uploads or usage stays (its figures are the consortium's); revoke its tokens instead",
                    list.join(", ")
                );
            }
            db::members::remove(&db, m.id).await?;
            println!("member {code} removed");
        }
    }
    Ok(())
}

async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    let db = open_db(&config).await?;
    match command {
        TokenCommand::Create {
            role,
            member,
            label,
            expires_days,
        } => {
            let (role, member_id) = match (role, member) {
                (RoleArg::Admin, None) => (Role::Admin, None),
                (RoleArg::Admin, Some(_)) => {
                    bail!("an admin token is consortium-wide: drop --member")
                }
                (RoleArg::Librarian, None) => bail!("a librarian token needs --member CODE"),
                (RoleArg::Librarian, Some(code)) => {
                    let m = db::members::by_code(&db, &code)
                        .await?
                        .with_context(|| format!("no member with code {code}"))?;
                    (Role::Librarian, Some(m.id))
                }
            };
            let (token, hash) = generate_token();
            let id =
                db::tokens::insert(&db, member_id, role.as_str(), &hash, label.as_deref()).await?;
            if let Some(days) = expires_days {
                if days == 0 {
                    bail!("--expires-days is at least 1");
                }
                db::tokens::set_expiry(&db, id, db::now() + i64::from(days) * 86_400).await?;
            }
            eprintln!(
                "token {id} created ({}); it is shown once, store it now:",
                role.as_str()
            );
            println!("{token}");
        }
        TokenCommand::List { all } => {
            let zone = &config.stats.time_zone;
            let when = |t: Option<i64>| t.map_or_else(|| "-".to_string(), |t| zone.when(t));
            println!(
                "id\tkind\trole\tmember\tperson\tlabel\tcreated\tlast used\texpires{}",
                if all { "\trevoked" } else { "" }
            );
            for t in db::tokens::list(&db, all).await? {
                print!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.kind,
                    t.role,
                    t.member_code.as_deref().unwrap_or("-"),
                    t.person.as_deref().unwrap_or("-"),
                    t.label.as_deref().unwrap_or("-"),
                    zone.when(t.created_at),
                    when(t.last_used_at),
                    when(t.expires_at),
                );
                if all {
                    print!("\t{}", when(t.revoked_at));
                }
                println!();
            }
        }
        TokenCommand::Revoke { id } => {
            if !db::tokens::revoke(&db, id).await? {
                bail!("no live token with id {id}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

fn backup_outcome(
    verb: &str,
    report: &crate::backup::Report,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    for (sha, why) in &report.failed {
        println!("FAILED {sha}: {why}");
    }
    println!(
        "{verb} {} blobs ({} bytes), {} already there, {} failed ({})",
        report.copied,
        report.bytes,
        report.present,
        report.failed.len(),
        dir.display()
    );
    if report.failed.is_empty() {
        Ok(())
    } else {
        bail!("{} blobs could not be {verb}", report.failed.len())
    }
}
