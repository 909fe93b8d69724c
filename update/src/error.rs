use std::path::PathBuf;

/// What went wrong, with the file, blob or layer entry it concerns: each message says what
/// and why, so that a user can tell a damaged download from a hostile image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("blob {digest}: {reason}")]
    Blob { digest: String, reason: String },

    #[error("{path}: {reason}")]
    Document { path: String, reason: String },

    #[error("layer {digest}: entry {entry:?}: {reason}")]
    Entry {
        digest: String,
        entry: String,
        reason: String,
    },

    #[error("layer {digest}: {reason}")]
    Layer { digest: String, reason: String },

    #[error("image {path}: {reason}")]
    Image { path: PathBuf, reason: String },

    #[error("{reason}")]
    Release { reason: String },
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
