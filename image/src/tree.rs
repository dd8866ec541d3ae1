//! Collecting a traversal into entries with safe, unique paths, and the guards every tree
//! walk shares: loops, depth, entry counts, path length.

use std::collections::HashSet;

use super::{Entry, ImageError, Limits, names};

pub(crate) struct Builder<'l> {
    pub limits: &'l Limits,
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
    visited: HashSet<u64>,
    skipped: usize,
}

impl<'l> Builder<'l> {
    pub fn new(limits: &'l Limits) -> Self {
        Self {
            limits,
            entries: Vec::new(),
            warnings: Vec::new(),
            visited: HashSet::new(),
            skipped: 0,
        }
    }

    /// Marks a directory (by its location) as entered; false when it was entered before,
    /// which on a disc means a loop or a cross-link, listed once.
    pub fn enter(&mut self, location: u64, path: &str, depth: usize) -> Result<bool, ImageError> {
        if depth > self.limits.max_depth {
            return Err(ImageError::Limit(format!(
                "directories nested deeper than {} levels (at {path:?})",
                self.limits.max_depth
            )));
        }
        if !self.visited.insert(location) {
            self.warnings.push(format!(
                "directory {path:?} loops back to one already listed"
            ));
            return Ok(false);
        }
        Ok(true)
    }

    /// The path of `name` inside `dir`, cleaned and unique among `siblings`; None when the
    /// name is unusable (the entry is skipped and counted).
    pub fn child_path(
        &mut self,
        dir: &str,
        name: &str,
        siblings: &mut HashSet<String>,
    ) -> Result<Option<String>, ImageError> {
        let Some(mut clean) = names::clean(name) else {
            self.skipped += 1;
            return Ok(None);
        };
        if siblings.contains(&clean) {
            let mut n = 2;
            while siblings.contains(&format!("{clean}~{n}")) {
                n += 1;
            }
            self.warnings.push(format!(
                "duplicate name {clean:?} in {dir:?} listed as {clean}~{n}"
            ));
            clean = format!("{clean}~{n}");
        }
        siblings.insert(clean.clone());
        let path = if dir.is_empty() {
            clean
        } else {
            format!("{dir}/{clean}")
        };
        if path.len() > self.limits.max_path_bytes {
            return Err(ImageError::Limit(format!(
                "a path is longer than {} bytes",
                self.limits.max_path_bytes
            )));
        }
        Ok(Some(path))
    }

    pub fn push(&mut self, entry: Entry) -> Result<(), ImageError> {
        if self.entries.len() >= self.limits.max_entries {
            return Err(ImageError::Limit(format!(
                "more than {} files and directories",
                self.limits.max_entries
            )));
        }
        if entry.extents.len() > self.limits.max_extents_per_file {
            return Err(ImageError::Limit(format!(
                "{:?} has more than {} extents",
                entry.path, self.limits.max_extents_per_file
            )));
        }
        self.entries.push(entry);
        Ok(())
    }

    pub fn finish(mut self) -> (Vec<Entry>, Vec<String>) {
        if self.skipped > 0 {
            self.warnings.push(format!(
                "{} entries with unusable names (empty, \".\" or \"..\") skipped",
                self.skipped
            ));
        }
        self.entries.sort_by(|a, b| a.path.cmp(&b.path));
        (self.entries, self.warnings)
    }
}
