//! `releases/state.json`: which release is current, which came before, which failed, and the
//! install under way. It is the journal: each step of an activation is recorded here (written
//! durably) before it takes effect, so that after a power cut the supervisor knows what to
//! undo.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Paths;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The release the apps run, confirmed.
    pub current: Option<String>,
    /// The release before it: where `davit release rollback` goes.
    pub previous: Option<String>,
    /// Releases that failed to confirm, with why; never installed again unless asked.
    #[serde(default)]
    pub failed: Vec<Failed>,
    /// An activation under way.
    pub pending: Option<Pending>,
    /// The release shipped at manufacturing (`install --factory`): never collected, what
    /// `davit reset` restores.
    #[serde(default)]
    pub factory: Option<String>,
    /// The releases current before `previous`, the latest first: kept while `keep` says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub older: Vec<String>,
    /// How many releases GC keeps, the current one included (`--keep`; default 2: current
    /// and previous). The factory release and an install under way are kept besides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u32>,
}

/// The default of `--keep`: the current release and the previous one.
pub const DEFAULT_KEEP: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failed {
    pub version: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub version: String,
    /// The release it replaces (none on a first install).
    pub from: Option<String>,
    pub phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The config directory's app files are being replaced by the new release's.
    Switching,
    /// The supervisor runs the new release; it has not confirmed yet.
    Confirming,
    /// The old release's app files are being put back.
    RollingBack,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Switching => "switching",
            Phase::Confirming => "confirming",
            Phase::RollingBack => "rolling-back",
        })
    }
}

impl State {
    pub fn path(paths: &Paths) -> PathBuf {
        paths.releases().join("state.json")
    }

    /// The state; a board that never installed a release has the default one.
    pub fn load(paths: &Paths) -> Result<State> {
        let path = Self::path(paths);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Document {
                path: path.display().to_string(),
                reason: format!("not a release state: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::io("reading the release state", path, e)),
        }
    }

    /// Written durably: temporary, fsync, rename, fsync of the directory.
    pub fn save(&self, paths: &Paths) -> Result<()> {
        let path = Self::path(paths);
        mkdir(&paths.releases())?;
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        fail::fail_point!("release-state-save");
        runtime::write_atomic(&path, &bytes)
            .map_err(|e| Error::io("writing the release state", path, e))
    }

    /// `to` is current now, after `from`: `from` becomes the previous release and the one
    /// before it joins the older ones (as many as GC keeps).
    pub fn became_current(&mut self, to: &str, from: Option<String>) {
        if let Some(p) = self
            .previous
            .take()
            .filter(|p| p != to && Some(p) != from.as_ref())
        {
            self.older.insert(0, p);
        }
        self.older.retain(|v| v != to && Some(v) != from.as_ref());
        let keep = self.keep.unwrap_or(DEFAULT_KEEP) as usize;
        self.older.truncate(keep.saturating_sub(2));
        self.previous = from;
        self.current = Some(to.to_owned());
    }

    pub fn has_failed(&self, version: &str) -> Option<&Failed> {
        self.failed.iter().find(|f| f.version == version)
    }
}

pub(crate) fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))
}
