use std::path::PathBuf;

use libcontainer::container::ContainerStatus;
use libcontainer::error::LibcontainerError;

/// Everything that can go wrong in a runtime operation, worded for the person at the shell.
///
/// Display gives the top line only; the CLI prints the `source()` chain after it, so a
/// variant never repeats its source in its own message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bundle {path}: no such directory")]
    BundleMissing { path: PathBuf },

    #[error("{path}: cannot read")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `field` is the JSON path inside config.json, e.g. `linux.resources.memory.limit`.
    #[error("{path}: {field}: {reason}")]
    ConfigInvalid {
        path: PathBuf,
        field: String,
        reason: String,
    },

    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: String },

    #[error("container {0:?} already exists")]
    Exists(String),

    #[error("container {0:?} does not exist")]
    NotFound(String),

    #[error("container {id:?} is {}: {action} needs it to be {needed}", crate::status_word(*status))]
    WrongStatus {
        id: String,
        status: ContainerStatus,
        action: &'static str,
        needed: &'static str,
    },

    #[error(
        "cannot delete container {id:?}: it is {}; stop it first or use --force",
        crate::status_word(*status)
    )]
    NotStopped { id: String, status: ContainerStatus },

    #[error("unknown signal {0:?}")]
    UnknownSignal(String),

    #[error("--log-format {0:?}: expected \"text\" or \"json\"")]
    LogFormat(String),

    #[error("{what}: {reason}")]
    Usage { what: String, reason: String },

    #[error("{0} is not supported by davit")]
    Unsupported(String),

    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{what}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },

    /// A failure inside libcontainer, with the operation davit asked of it.
    #[error("{op} container {id:?}")]
    Container {
        op: &'static str,
        id: String,
        #[source]
        source: Box<LibcontainerError>,
    },

    #[error("cgroup of container {id:?}")]
    Cgroup {
        id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{0}")]
    Json(String),

    /// Something libcontainer promised and did not deliver (no pid after create, ...).
    #[error("{0}")]
    Internal(String),

    #[error(transparent)]
    Seccomp(#[from] seccomp_profiles::Error),

    #[error("{path}: linux.seccomp: cannot compile the profile")]
    SeccompCompile {
        path: PathBuf,
        #[source]
        source: Box<libcontainer::seccomp::SeccompError>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn container(op: &'static str, id: &str, source: LibcontainerError) -> Self {
        Error::Container {
            op,
            id: id.to_owned(),
            source: Box::new(source),
        }
    }

    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            what: what.into(),
            source,
        }
    }
}

/// The error and its causes on one line, `a: b: c`, leaving out a cause whose text the
/// previous line already carries (libcontainer often formats its source into its own message).
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut last = out.clone();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !last.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        last = text;
        cause = c.source();
    }
    out.replace('\n', " ")
}
