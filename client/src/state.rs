//! The state file that makes a bulk upload resumable: for each file, its size and mtime when
//! hashed, the hash, the tus upload in progress, and the disc once registered. Written
//! atomically after every step, so Ctrl-C, a lost network or a sleeping laptop lose nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use spindle_i18n::detail;

use crate::words::say;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileState {
    pub size: u64,
    pub mtime_ns: u128,
    pub sha256: Option<String>,
    /// The tus upload URL while a transfer is under way.
    pub upload: Option<String>,
    pub stored: bool,
}

/// A disc this upload registered, and the member it belongs to (the server's answer).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Registered {
    pub disc: i64,
    pub member: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub server: String,
    /// What is stored on the server is the server's, whichever member asks: by file.
    pub files: BTreeMap<String, FileState>,
    /// Discs registered, by whom they were registered for (see [`scope`]) and row key
    /// (path): the same manifest run for another member registers that member's discs.
    #[serde(default)]
    pub registered: BTreeMap<String, BTreeMap<String, Registered>>,
    /// Files written before discs were kept by member held them by path alone; whose they
    /// were is unknown, so they are dropped (registering again finds the same disc).
    #[serde(default, rename = "discs", skip_serializing)]
    _legacy: serde::de::IgnoredAny,
    #[serde(skip)]
    path: PathBuf,
}

/// Whom discs are registered for: the member named with `--member`, else the token's own
/// member (known by the token, kept only as a hash).
pub fn scope(member: Option<&str>, token: &str) -> String {
    use sha2::Digest as _;
    match member {
        Some(m) => format!("member {m}"),
        None => format!(
            "token {}",
            &hex::encode(sha2::Sha256::digest(token.as_bytes()))[..16]
        ),
    }
}

/// Size and modification time: what says a file is still the one that was hashed.
pub fn fingerprint(path: &Path) -> std::io::Result<(u64, u128)> {
    let m = std::fs::metadata(path)?;
    let mtime = m
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok((m.len(), mtime))
}

impl State {
    pub fn load(path: &Path, server: &str) -> anyhow::Result<Self> {
        let mut state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<State>(&bytes).map_err(|e| {
                anyhow::anyhow!(say(detail!(
                    "cli_state_damaged",
                    path = path.display(),
                    error = e
                )))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => anyhow::bail!(say(detail!(
                "cli_state_unreadable",
                path = path.display(),
                error = e
            ))),
        };
        if !state.server.is_empty() && state.server != server {
            // Another server: nothing recorded applies.
            state = State::default();
        }
        state.server = server.to_string();
        state.path = path.to_path_buf();
        Ok(state)
    }

    pub fn save(&self) -> anyhow::Result<()> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    /// The disc registered for `scope` from the row of `path`, if any.
    pub fn registered(&self, scope: &str, path: &Path) -> Option<&Registered> {
        self.registered.get(scope)?.get(&key(path))
    }

    pub fn register(&mut self, scope: &str, path: &Path, disc: Registered) {
        self.registered
            .entry(scope.to_string())
            .or_default()
            .insert(key(path), disc);
    }

    /// The recorded state of `path`, if the file is unchanged since.
    pub fn current(&self, path: &Path) -> Option<&FileState> {
        let (size, mtime) = fingerprint(path).ok()?;
        self.files
            .get(&key(path))
            .filter(|f| f.size == size && f.mtime_ns == mtime)
    }
}

pub fn key(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
