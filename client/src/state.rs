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

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub server: String,
    pub files: BTreeMap<String, FileState>,
    /// Disc ids registered, by row key (path).
    pub discs: BTreeMap<String, i64>,
    #[serde(skip)]
    path: PathBuf,
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
