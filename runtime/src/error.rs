use std::path::PathBuf;

use libcontainer::error::LibcontainerError;

use crate::Status;

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

    #[error("container {id:?} is {status}: {action} needs it to be {needed}")]
    WrongStatus {
        id: String,
        status: Status,
        action: &'static str,
        needed: &'static str,
    },

    #[error("cannot delete container {id:?}: it is {status}; stop it first, or delete it by force")]
    NotStopped { id: String, status: Status },

    /// The state files cannot be read (damaged, or from an unknown version); deleting by
    /// force still removes the container.
    #[error("container {id:?}: state unreadable: {reason}")]
    StateUnreadable { id: String, reason: String },

    #[error("unknown signal {0:?}")]
    UnknownSignal(String),

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
        kind: ErrorKind,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an error is, for a caller that maps errors onto its own (a D-Bus
/// error name, an exit code, a retry decision) without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong: a bad id, signal, option or bundle config.
    InvalidArgument,
    NotFound,
    AlreadyExists,
    /// The container is not in a status that allows the operation.
    WrongStatus,
    Unsupported,
    /// The kernel or the filesystem refused (permissions, I/O, resources).
    System,
    /// A broken invariant in davit or libcontainer.
    Internal,
}

impl ErrorKind {
    /// A stable, lower-case name (`not-found`, ...), for reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid-argument",
            ErrorKind::NotFound => "not-found",
            ErrorKind::AlreadyExists => "already-exists",
            ErrorKind::WrongStatus => "wrong-status",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::System => "system",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorKind> {
        [
            ErrorKind::InvalidArgument,
            ErrorKind::NotFound,
            ErrorKind::AlreadyExists,
            ErrorKind::WrongStatus,
            ErrorKind::Unsupported,
            ErrorKind::System,
            ErrorKind::Internal,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BundleMissing { .. }
            | Error::ConfigRead { .. }
            | Error::ConfigInvalid { .. }
            | Error::InvalidId { .. }
            | Error::UnknownSignal(_)
            | Error::Usage { .. }
            | Error::SeccompCompile { .. } => ErrorKind::InvalidArgument,
            Error::Exists(_) => ErrorKind::AlreadyExists,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::WrongStatus { .. } | Error::NotStopped { .. } => ErrorKind::WrongStatus,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Container { kind, .. } => *kind,
            Error::StateUnreadable { .. }
            | Error::Io { .. }
            | Error::Sys { .. }
            | Error::Cgroup { .. }
            | Error::Seccomp(_) => ErrorKind::System,
            Error::Json(_) | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn container(op: &'static str, id: &str, source: LibcontainerError) -> Self {
        let kind = match source {
            LibcontainerError::Exist => ErrorKind::AlreadyExists,
            LibcontainerError::NoDirectory => ErrorKind::NotFound,
            LibcontainerError::IncorrectStatus(_) => ErrorKind::WrongStatus,
            LibcontainerError::InvalidInput(_) | LibcontainerError::InvalidID(_) => {
                ErrorKind::InvalidArgument
            }
            _ => ErrorKind::System,
        };
        Error::Container {
            op,
            id: id.to_owned(),
            kind,
            source: Box::new(source),
        }
    }

    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub fn sys(what: impl Into<String>, source: nix::Error) -> Self {
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
