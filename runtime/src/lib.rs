//! davit's OCI runtime: the runc-compatible container lifecycle, built on youki's libcontainer.
//!
//! Two types, so that the compiler says what is safe where:
//! - [`Runtime`]: state, list, kill, pause, resume, delete, pids. Each call reads the state
//!   directory afresh and neither forks, changes the working directory, nor touches signal
//!   dispositions: a long-lived, threaded daemon (the supervisor) calls these in-process.
//! - [`forking::Forking`]: create, start, run, exec. libcontainer clones with raw clone3 and
//!   changes the whole process's working directory for them, which is unsound in a threaded
//!   process; they run in a short-lived `davit` process, which reports a typed
//!   [`forking::Report`] to whoever spawned it.
//!
//! One file per operation. The command line (parsing, printing) is not here: it is the
//! `davit` binary's.

mod config;
mod delete;
mod dir;
mod error;
mod features;
pub mod forking;
mod freezer;
mod fsutil;
mod hooks;
mod kill;
mod list;
mod process;
mod ps;
mod seccomp_cache;
mod signal;
mod spec;
mod state;
mod status;

use std::path::{Path, PathBuf};

pub use error::{Error, ErrorKind, Result, one_line};
pub use features::features;
pub use fsutil::{remove_write_temps, write_atomic};
pub use list::Listed;
pub use process::{ExitStatus, ProcessId, try_wait};
pub use signal::Signal;
pub use spec::{default_spec, write_default_spec};
pub use state::ContainerState;
pub use status::Status;

use dir::ContainerDir;

/// The state root davit uses when `--root` is not given.
pub const DEFAULT_ROOT: &str = "/run/davit";

/// The runtime-spec version davit implements: what `state`, `features` and `--version` say.
pub const OCI_VERSION: &str = libcontainer::oci_spec::runtime::VERSION;

/// A directory of container state (`<root>/<id>/`), shared by every davit process. Holds no
/// open resources.
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

    fn dir(&self, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        Ok(ContainerDir::new(&self.root, id))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_the_root_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "ü", "@new-1-x"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "web-1", "x_y+z.2", "..a"] {
            assert!(validate_id(good).is_ok(), "{good:?} refused");
        }
    }
}
