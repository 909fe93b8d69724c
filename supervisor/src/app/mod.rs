//! App files: one `NAME.toml` per app in the config directory, in docker-compose's vocabulary
//! (see supervisor/README.md for the format), and the order in which apps start and stop.

mod depends;
mod duration;
mod file;
mod signal;
mod size;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use depends::{DependencyError, Plan, plan};
pub use duration::{DurationError, parse_duration};
pub use signal::Signal;
pub use size::{SizeError, parse_size};

/// One app, as its file describes it, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// From the file name: `web.toml` is app `web`.
    pub name: String,
    pub file: PathBuf,
    /// Absolute when the file's directory was; relative paths in the file are resolved
    /// against that directory. Not checked for existence: bundles may come later.
    pub bundle: PathBuf,
    /// compose's `image`: in a release's app file, the image the install makes the bundle
    /// from; in an installed one, where its bundle came from (shown, not used).
    pub image: Option<String>,
    pub enabled: bool,
    pub restart: Restart,
    pub depends_on: Vec<Dependency>,
    pub stop_signal: Signal,
    pub stop_grace_period: Duration,
    /// `None` when there is none, `disable = true` or `test = ["NONE"]`.
    pub healthcheck: Option<Healthcheck>,
    pub environment: BTreeMap<String, String>,
    /// compose's `labels`: davit reads [`UPDATE_STRATEGY_LABEL`].
    pub labels: BTreeMap<String, String>,
    /// Bytes; `None` keeps the bundle's own limit.
    pub mem_limit: Option<u64>,
    pub pids_limit: PidsLimit,
    pub cpus: Option<f64>,
    /// The app speaks sd_notify: READY=1 marks it started.
    pub notify: bool,
    /// Deadline for READY=1 (only with `notify`).
    pub start_timeout: Duration,
    /// WATCHDOG=1 must arrive at least this often (only with `notify`).
    pub watchdog: Option<Duration>,
    pub backoff: Backoff,
    /// `None` when `crash_loop.failures = 0`.
    pub crash_loop: Option<CrashLoop>,
    pub logs: Logs,
}

/// The label that says how a release replaces the app (balena's `io.balena.update.strategy`).
pub const UPDATE_STRATEGY_LABEL: &str = "io.davit.update.strategy";

/// How a release replaces a running app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdateStrategy {
    /// The new image is stored and unpacked while the old version runs; then it is stopped.
    #[default]
    DownloadThenKill,
    /// The old version stops first, leaving its memory to the download and unpack (boards
    /// short of RAM); if the release fails before it switches, the old version starts again.
    KillThenDownload,
    /// The new version starts beside the old one, which runs until the new one is up (running,
    /// ready with `notify`, healthy with a healthcheck); a rollback before that takes the old
    /// one back as it runs.
    HandOver,
}

impl App {
    pub const DEFAULT_STOP_GRACE_PERIOD: Duration = Duration::from_secs(10);

    pub fn update_strategy(&self) -> UpdateStrategy {
        match self.labels.get(UPDATE_STRATEGY_LABEL).map(String::as_str) {
            Some("kill-then-download") => UpdateStrategy::KillThenDownload,
            Some("hand-over") => UpdateStrategy::HandOver,
            _ => UpdateStrategy::DownloadThenKill,
        }
    }
    pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(90);

    /// Parses the text of an app file. `file` names it in errors, gives the app its name
    /// (`NAME.toml`), and its directory anchors a relative `bundle`. Every problem in the file
    /// is reported, in line order.
    pub fn parse(file: &Path, text: &str) -> Result<App, Vec<AppFileError>> {
        let name = app_name(file).map_err(|e| vec![e])?;
        file::parse(&name, file, text, file::Kind::Installed)
    }

    /// Parses an app file of a release: `image` in place of `bundle`, which is left empty
    /// for the install to fill in.
    pub fn parse_release(file: &Path, text: &str) -> Result<App, Vec<AppFileError>> {
        let name = app_name(file).map_err(|e| vec![e])?;
        file::parse(&name, file, text, file::Kind::Release)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    /// Restart after a non-zero exit; `max_retries: None` is unlimited (compose's
    /// `on-failure` and, as in docker, `on-failure:0`).
    OnFailure {
        max_retries: Option<u32>,
    },
    Always,
    UnlessStopped,
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Restart::No => f.write_str("no"),
            Restart::OnFailure { max_retries: None } => f.write_str("on-failure"),
            Restart::OnFailure {
                max_retries: Some(n),
            } => write!(f, "on-failure:{n}"),
            Restart::Always => f.write_str("always"),
            Restart::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub condition: Condition,
    /// compose's `required`: when false, a dependency with no app file (or a bad one, or one
    /// that cannot start) is ignored instead of failing this app.
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
    /// The dependency sent READY=1 (it needs `notify = true`).
    Ready,
}

impl Condition {
    const ALL: [(&'static str, Condition); 4] = [
        ("service_started", Condition::ServiceStarted),
        ("service_healthy", Condition::ServiceHealthy),
        (
            "service_completed_successfully",
            Condition::ServiceCompletedSuccessfully,
        ),
        ("ready", Condition::Ready),
    ];
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Condition::ALL
            .iter()
            .find(|(_, c)| c == self)
            .map_or("?", |(name, _)| name);
        f.write_str(name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: HealthTest,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

impl Healthcheck {
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_RETRIES: u32 = 3;
}

/// What runs inside the container; exit 0 is healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTest {
    /// `["CMD", argv...]`: executed directly.
    Cmd(Vec<String>),
    /// A string, or `["CMD-SHELL", "..."]`: run with `/bin/sh -c`.
    Shell(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidsLimit {
    Unlimited,
    Max(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

/// `failures` failed runs within `window` make the app `failed` until someone restarts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashLoop {
    pub failures: u32,
    pub window: Duration,
}

impl Default for CrashLoop {
    fn default() -> Self {
        CrashLoop {
            failures: 5,
            window: Duration::from_secs(300),
        }
    }
}

/// Captured stdout/stderr: rotated at `max_size` bytes, `files` files in all (the current one
/// included, like docker's `max-file`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logs {
    pub max_size: u64,
    pub files: u32,
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            max_size: 1 << 20,
            files: 3,
        }
    }
}

/// Everything that keeps an app file from loading, worded for the person who edits it:
/// `FILE:LINE: KEY: reason`. Display gives the top line only (a reader prints `source()`
/// after it, as davit's CLI does).
#[derive(Debug, thiserror::Error)]
pub enum AppFileError {
    #[error("{}: no such directory (the app config directory)", dir.display())]
    NoDir { dir: PathBuf },

    #[error("{}: cannot read the app config directory", dir.display())]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{}: cannot read", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },

    #[error("{}: larger than {} bytes: not an app file", path.display(), MAX_FILE_SIZE)]
    TooLarge { path: PathBuf },

    #[error("{}: app files are named NAME.toml, and {reason}", path.display())]
    Name { path: PathBuf, reason: String },

    #[error("{}:{line}: not UTF-8", path.display())]
    NotUtf8 { path: PathBuf, line: usize },

    /// The file is not TOML; `message` is the TOML parser's.
    #[error("{}:{line}: invalid TOML: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A key is unknown, of the wrong type, missing or holds a bad value. `line` is `None` only
    /// for a key missing at the top of the file; `key` is dotted (`healthcheck.interval`,
    /// `environment[2]`).
    #[error("{}: {key}: {problem}", location(path, *line))]
    Key {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        problem: Problem,
    },
}

impl AppFileError {
    /// The file the error is about, or the directory for [`AppFileError::NoDir`] and
    /// [`AppFileError::ReadDir`].
    pub fn path(&self) -> &Path {
        match self {
            AppFileError::NoDir { dir } | AppFileError::ReadDir { dir, .. } => dir,
            AppFileError::Read { path, .. }
            | AppFileError::NotAFile { path }
            | AppFileError::TooLarge { path }
            | AppFileError::Name { path, .. }
            | AppFileError::NotUtf8 { path, .. }
            | AppFileError::Syntax { path, .. }
            | AppFileError::Key { path, .. } => path,
        }
    }

    /// The app whose file this is, when its name is valid: [`plan`] fails the apps that
    /// depend on it with this file as the reason.
    pub fn app(&self) -> Option<String> {
        match self {
            AppFileError::NoDir { .. }
            | AppFileError::ReadDir { .. }
            | AppFileError::Name { .. } => None,
            _ => app_name(self.path()).ok(),
        }
    }

    pub fn line(&self) -> Option<usize> {
        match self {
            AppFileError::NotUtf8 { line, .. } | AppFileError::Syntax { line, .. } => Some(*line),
            AppFileError::Key { line, .. } => *line,
            _ => None,
        }
    }
}

fn location(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}

/// What is wrong with one key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("unknown key{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownKey { suggestion: Option<&'static str> },

    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },

    #[error("missing: {what}")]
    Missing { what: &'static str },

    // `value` is as the file wrote it: quoted for a string, bare for a number.
    #[error("{value} is not a duration: {error}")]
    Duration { value: String, error: DurationError },

    #[error("{value} is not a size: {error}")]
    Size { value: String, error: SizeError },

    #[error("{value} is not a signal (use a name such as SIGTERM, TERM, or a number 1-64)")]
    Signal { value: String },

    #[error("{value} is not one of no, on-failure[:N], always, unless-stopped")]
    Restart { value: String },

    /// Any other bad value; `reason` says what would be right.
    #[error("{value}: {reason}")]
    Value { value: String, reason: String },
}

/// Files above this are refused unread: an app file is a few hundred bytes, and the daemon
/// must not be made to hold a stray multi-gigabyte file in memory.
pub const MAX_FILE_SIZE: u64 = 1 << 20;

/// The app name of `dir/NAME.toml`.
pub fn app_name(file: &Path) -> Result<String, AppFileError> {
    let bad = |reason: String| AppFileError::Name {
        path: file.to_owned(),
        reason,
    };
    let file_name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("this name is not UTF-8".to_owned()))?;
    let name = file_name
        .strip_suffix(".toml")
        .ok_or_else(|| bad("this one does not end in .toml".to_owned()))?;
    check_name(name).map_err(|reason| bad(format!("NAME {reason}")))?;
    Ok(name.to_owned())
}

/// App names are checked like container ids (the alphabet runc accepts), so a name can become
/// a container id or a directory name and never walk out of its parent.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if name == "." || name == ".." {
        return Err("cannot be . or ..".to_owned());
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.')))
    {
        Some(c) => Err(format!(
            "cannot contain {c:?} (use letters, digits, _ + - .)"
        )),
        None => Ok(()),
    }
}

/// Reads and parses one app file.
pub fn load_file(file: &Path) -> Result<App, Vec<AppFileError>> {
    let name = app_name(file).map_err(|e| vec![e])?;
    let text = read_capped(file).map_err(|e| vec![e])?;
    file::parse(&name, file, &text, file::Kind::Installed)
}

/// Loads every `*.toml` in `dir`, apps sorted by name. A bad file is reported and skipped; the
/// others still load. Other names are ignored, and so are hidden ones (`.web.toml`): editors
/// and atomic writers leave such files beside the real ones.
pub fn load_dir(dir: &Path) -> (Vec<App>, Vec<AppFileError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return (Vec::new(), vec![AppFileError::NoDir { dir: dir.into() }]);
        }
        Err(source) => {
            return (
                Vec::new(),
                vec![AppFileError::ReadDir {
                    dir: dir.into(),
                    source,
                }],
            );
        }
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let name = entry.file_name();
                let name = name.as_encoded_bytes();
                if name.ends_with(b".toml") && !name.starts_with(b".") {
                    files.push(entry.path());
                }
            }
            Err(source) => errors.push(AppFileError::ReadDir {
                dir: dir.into(),
                source,
            }),
        }
    }
    files.sort();
    let mut apps = Vec::new();
    for path in files {
        match load_file(&path) {
            Ok(app) => apps.push(app),
            Err(file_errors) => errors.extend(file_errors),
        }
    }
    (apps, errors)
}

fn read_capped(path: &Path) -> Result<String, AppFileError> {
    let read_err = |source| AppFileError::Read {
        path: path.to_owned(),
        source,
    };
    // Checked before opening: opening a FIFO named web.toml would block the daemon.
    if !std::fs::metadata(path).map_err(read_err)?.is_file() {
        return Err(AppFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(AppFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        AppFileError::NotUtf8 {
            path: path.to_owned(),
            line: 1 + good.iter().filter(|b| **b == b'\n').count(),
        }
    })
}
