//! What a `davit` child tells the process that spawned it, beyond its exit code.

use std::fs::File;
use std::io::{BufRead, Write};
use std::os::fd::{FromRawFd, RawFd};

use serde::{Deserialize, Serialize};

use crate::{Error, ErrorKind, ProcessId};

/// The environment variable that names a descriptor open for writing: a `davit` command
/// that forks into a container writes one [`Report`] there, as one line of JSON.
///
/// The container's init (a clone of that davit process) holds a copy of the descriptor
/// until it executes the container's program, so the reader reads one line, never up to
/// end-of-file.
pub const REPORT_FD_ENV: &str = "DAVIT_REPORT_FD";

/// The outcome of create, start, run or exec, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Report {
    Ok {
        /// The container's init (create, run) or the exec'd process.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        process: Option<ProcessId>,
        /// The exit code of a foreground run or exec.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        exit_code: Option<i32>,
    },
    Error {
        /// [`ErrorKind::as_str`].
        kind: String,
        message: String,
    },
}

impl Report {
    pub fn failure(e: &Error) -> Report {
        Report::Error {
            kind: e.kind().as_str().to_owned(),
            message: crate::one_line(e),
        }
    }

    /// The error's kind, for a report of a failure.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Report::Error { kind, .. } => ErrorKind::parse(kind),
            Report::Ok { .. } => None,
        }
    }

    /// Writes the report to the descriptor named by [`REPORT_FD_ENV`], if any, and closes
    /// it. A reader that went away is not our failure to report.
    pub fn send(&self) {
        let Some(fd) = std::env::var(REPORT_FD_ENV)
            .ok()
            .and_then(|v| v.parse::<RawFd>().ok())
            .filter(|fd| *fd > 2)
        else {
            return;
        };
        // SAFETY: the spawner handed this descriptor to us for exactly this use, and nothing
        // else in davit opens or closes it.
        let mut file = unsafe { File::from_raw_fd(fd) };
        if let Ok(mut line) = serde_json::to_vec(self) {
            line.push(b'\n');
            let _ = file.write_all(&line);
        }
    }

    /// Reads one report line (see [`REPORT_FD_ENV`]).
    pub fn read(from: impl std::io::Read) -> std::io::Result<Option<Report>> {
        let mut line = String::new();
        std::io::BufReader::new(from).read_line(&mut line)?;
        if line.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&line)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kind() {
        let ok = Report::Ok {
            process: Some(ProcessId {
                pid: 42,
                start_time: 7,
            }),
            exit_code: None,
        };
        let line = serde_json::to_string(&ok).unwrap();
        assert_eq!(
            line,
            r#"{"result":"ok","process":{"pid":42,"start_time":7}}"#
        );
        assert_eq!(Report::read(line.as_bytes()).unwrap(), Some(ok));
        let err = Report::failure(&Error::NotFound("web".into()));
        assert_eq!(err.error_kind(), Some(ErrorKind::NotFound));
        let back = Report::read(serde_json::to_string(&err).unwrap().as_bytes()).unwrap();
        assert_eq!(back, Some(err));
        assert_eq!(Report::read(&b""[..]).unwrap(), None);
    }
}
