//! davit's OCI runtime: the runc-compatible container lifecycle, built on youki's libcontainer.
//!
//! One file per operation. Each adds methods to [`Runtime`] (the library API that the
//! supervisor will call in-process) and, where the CLI needs more than a call, a `command`
//! function that maps liboci-cli's parsed arguments onto it. [`cli`] holds the command tree.
//!
//! `create`, `run` and `exec` fork through libcontainer (clone3, chdir of the whole process):
//! call them from a short-lived process, never from a threaded daemon.

pub mod cli;
mod config;
mod create;
mod delete;
mod error;
mod exec;
mod features;
mod freezer;
mod fsutil;
mod hooks;
mod kill;
mod list;
pub mod log;
mod ps;
mod run;
mod seccomp_cache;
pub mod selfexe;
mod signal;
mod spec;
mod start;
mod state;

use std::fs::File;
use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use nix::fcntl::{Flock, FlockArg};

pub use create::CreateOptions;
pub use error::{Error, Result, one_line};
pub use exec::ExecOptions;
pub use libcontainer::container::ContainerStatus;
pub use state::ContainerState;

/// The state root davit uses when `--root` is not given.
pub const DEFAULT_ROOT: &str = "/run/davit";

/// A directory of container state (`<root>/<id>/state.json`), shared by every davit process.
///
/// Holds no open resources: each call reads the on-disk state afresh, so several processes
/// (the CLI, the supervisor) can act on the same root.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Runtime { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Loads a container to read it, holding a shared lock on its state directory until the
    /// returned guard drops: libcontainer rewrites state.json in place, so a reader must not
    /// overlap a writer (see [`Runtime::load_locked`]).
    fn load(&self, id: &str) -> Result<(Container, Flock<File>)> {
        let lock = self.lock(id, FlockArg::LockShared)?;
        Ok((self.read(id)?, lock))
    }

    /// Loads a container for an operation that changes it, holding an exclusive lock on its
    /// state directory until the returned guard drops. Two davit processes (a CLI and the
    /// supervisor, or containerd's shim and its cleanup) then never interleave, say, two
    /// deletes, where the loser would fail halfway through removing the cgroup.
    fn load_locked(&self, id: &str) -> Result<(Container, Flock<File>)> {
        let lock = self.lock(id, FlockArg::LockExclusive)?;
        Ok((self.read(id)?, lock))
    }

    fn lock(&self, id: &str, how: FlockArg) -> Result<Flock<File>> {
        validate_id(id)?;
        let dir = self.container_dir(id);
        let file = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_owned()));
            }
            Err(e) => return Err(Error::io("open container state", &dir, e)),
        };
        Flock::lock(file, how).map_err(|(_, e)| Error::sys(format!("lock {}", dir.display()), e))
    }

    /// Reads the state and refreshes the status from the live process. Whoever held the lock
    /// before us may have deleted the container meanwhile.
    fn read(&self, id: &str) -> Result<Container> {
        let dir = self.container_dir(id);
        if !dir.join("state.json").exists() {
            return Err(Error::NotFound(id.to_owned()));
        }
        Container::load(dir).map_err(|e| Error::container("load", id, e))
    }
}

/// Container ids name directories under the root: the same alphabet runc accepts, so an id can
/// never walk out of the root.
pub fn validate_id(id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        Some("it is empty".to_owned())
    } else if id == "." || id == ".." {
        Some("it cannot be . or ..".to_owned())
    } else {
        id.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.')))
            .map(|c| format!("character {c:?} is not allowed (use letters, digits, _ + - .)"))
    };
    match reason {
        Some(reason) => Err(Error::InvalidId {
            id: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Lower-case status word, as in the OCI state JSON.
pub fn status_word(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_the_root_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "ü"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "web-1", "x_y+z.2", "..a"] {
            assert!(validate_id(good).is_ok(), "{good:?} refused");
        }
    }
}
