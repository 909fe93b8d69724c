//! What the daemon must remember across its own restarts, per app: `STATE/apps/NAME.json`,
//! replaced atomically (temp, fsync, rename, fsync of the directory) on every change.

use std::path::{Path, PathBuf};

use runtime::ProcessId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The init of the container the daemon last started, while it may still run.
    #[serde(default)]
    pub process: Option<ProcessId>,
    /// That container's id; `None` (a record from before hand-overs): the first one.
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub restarts: u32,
    #[serde(default)]
    pub last_exit: String,
    /// A user stopped it: `unless-stopped` stays down at the next boot.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// `Enable`/`Disable` over the API, which take precedence over the app file's `enabled`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The bundle that container runs: one from before the app file named another (a
    /// release installed or rolled back while no daemon ran) is not adopted.
    #[serde(default)]
    pub bundle: Option<PathBuf>,
    /// The kernel's boot id when that container started: a run of an earlier boot ended with
    /// the board (a power cut), not by itself, so the app starts as at any boot.
    #[serde(default)]
    pub boot: Option<String>,
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), `None` where the kernel has none.
pub fn this_boot() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
}

pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn new(state_dir: &Path) -> Records {
        Records {
            dir: state_dir.join("apps"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The saved record; a missing or unreadable one is a fresh start (logged by the caller).
    pub fn load(&self, name: &str) -> Result<Record, String> {
        match std::fs::read(self.path(name)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: {e}", self.path(name).display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(format!("{}: {e}", self.path(name).display())),
        }
    }

    pub fn save(&self, name: &str, record: &Record) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        runtime::write_atomic(&self.path(name), &bytes)
    }

    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.path(name));
    }
}
