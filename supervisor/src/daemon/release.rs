//! Releases as the API shows them. The update engine (`davit release install`, a process of
//! its own) reports each step of an install here; the daemon keeps the latest report, shows
//! it as the `org.davit.Supervisor1.Release` properties, takes a `Confirm` call for the
//! release being confirmed, and starts installs asked for over the API as `davit release
//! install` children of its launcher (never in-process: an install mounts, unpacks and waits
//! for minutes).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Bus, Event, Supervisor};
use crate::launcher::{Outcome, Request};

/// The keys of a report, each one a property of the same name (capitalized).
pub const KEYS: &[&str] = &[
    "phase", "version", "message", "current", "previous", "factory",
];

/// Phases in which a `Confirm` call counts.
const CONFIRMABLE: &[&str] = &["confirming", "watching"];
/// Phases after which an install has ended.
const ENDED: &[&str] = &["", "installed", "rolled-back", "failed"];

/// The flags `Install` passes on to `davit release install`.
pub const INSTALL_FLAGS: &[&str] = &["retry", "force", "factory"];

/// An install may wait for apps to confirm and to hold their update lock for a long time;
/// this only bounds a hung one.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReleaseStatus {
    /// Every key of [`KEYS`], "" when not known.
    pub fields: BTreeMap<String, String>,
    /// The version a `Confirm` call confirmed.
    pub confirmed: String,
    /// An install asked for over the API runs.
    pub installing: bool,
}

impl ReleaseStatus {
    pub fn get(&self, key: &str) -> String {
        self.fields.get(key).cloned().unwrap_or_default()
    }
}

impl Supervisor {
    pub fn release(&self) -> ReleaseStatus {
        self.release.lock().unwrap().clone()
    }

    /// Merges an installer's report: the keys it names change, the others stay.
    pub fn report_release(&self, report: BTreeMap<String, String>) -> Result<(), String> {
        if let Some(k) = report.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "{k:?} is not a release key (one of {})",
                KEYS.join(", ")
            ));
        }
        {
            let mut r = self.release.lock().unwrap();
            if report
                .get("version")
                .is_some_and(|v| *v != r.get("version"))
            {
                r.confirmed.clear();
            }
            r.fields.extend(report);
        }
        let _ = self.events.send(Event::Release);
        Ok(())
    }

    /// A `Confirm` call: the release being confirmed may switch for good (when it asks for a
    /// call: `confirm = "call"` in its release.toml).
    pub fn confirm_release(&self, version: &str) -> Result<(), String> {
        {
            let mut r = self.release.lock().unwrap();
            let phase = r.get("phase");
            if r.get("version") != version || !CONFIRMABLE.contains(&phase.as_str()) {
                return Err(format!(
                    "release {version} is not waiting for confirmation ({})",
                    match r.get("version").as_str() {
                        "" => "no install under way".to_owned(),
                        v => format!("release {v} is {phase}"),
                    }
                ));
            }
            r.confirmed = version.to_owned();
        }
        let _ = self.events.send(Event::Release);
        Ok(())
    }

    /// Starts `davit release install PATH` with the daemon's own directories and API, its
    /// output appended to STATE/releases/install.log. Returns once it runs; its progress and
    /// outcome come as reports.
    pub fn install_release(self: &Arc<Self>, path: &Path, flags: &[String]) -> Result<(), String> {
        if !path.is_absolute() {
            return Err(format!(
                "{}: the release's path must be absolute",
                path.display()
            ));
        }
        if let Some(f) = flags.iter().find(|f| !INSTALL_FLAGS.contains(&f.as_str())) {
            return Err(format!(
                "{f:?} is not an install flag (one of {})",
                INSTALL_FLAGS.join(", ")
            ));
        }
        {
            let mut r = self.release.lock().unwrap();
            if r.installing || !ENDED.contains(&r.get("phase").as_str()) {
                return Err(format!(
                    "release {} is being installed ({})",
                    r.get("version"),
                    r.get("phase")
                ));
            }
            r.installing = true;
            r.confirmed.clear();
            r.fields.insert("phase".into(), "starting".into());
            r.fields.insert("version".into(), String::new());
            r.fields
                .insert("message".into(), format!("installing {}", path.display()));
        }
        let _ = self.events.send(Event::Release);
        let o = &self.opts;
        let mut args: Vec<String> = vec![
            "release".into(),
            "install".into(),
            path.display().to_string(),
            "--state-dir".into(),
            o.state_dir.display().to_string(),
            "--config-dir".into(),
            o.config_dir.display().to_string(),
        ];
        match (&o.socket, &o.bus) {
            (Some(s), _) => args.extend(["--socket".into(), s.display().to_string()]),
            (None, Bus::Address(a)) => args.extend(["--bus".into(), a.clone()]),
            (None, _) => {}
        }
        args.extend(flags.iter().map(|f| format!("--{f}")));
        let log = o.state_dir.join("releases").join("install.log");
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        tracing::info!("installing release {}", path.display());
        let sup = self.clone();
        tokio::spawn(async move {
            let out = sup
                .launcher
                .run(Request {
                    id: 0,
                    args,
                    stdout: Some(log.clone()),
                    stderr: Some(log.clone()),
                    capture_stdout: false,
                    report: false,
                    timeout_ms: INSTALL_TIMEOUT.as_millis() as u64,
                })
                .await;
            let ended = match out {
                Ok(r) if r.outcome == Outcome::Exited(0) => None,
                Ok(r) => Some(format!("{:?}", r.outcome)),
                Err(e) => Some(e.to_string()),
            };
            let mut report = BTreeMap::new();
            {
                let mut r = sup.release.lock().unwrap();
                r.installing = false;
                // An installer that ended without its last report (killed, or refused at
                // once: a bad release, a failed one without retry) still ends the install.
                if let Some(how) = ended.filter(|_| !ENDED.contains(&r.get("phase").as_str())) {
                    report.insert("phase".to_owned(), "failed".to_owned());
                    report.insert(
                        "message".to_owned(),
                        format!("the installer ended ({how}); see {}", log.display()),
                    );
                }
            }
            let _ = sup.report_release(report);
        });
        Ok(())
    }
}
