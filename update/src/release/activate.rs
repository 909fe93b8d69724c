//! Switching the supervisor from one release to another, journaled in
//! [`State`](super::state::State): the step is recorded, then taken. The new release must
//! confirm (each changed app running from its new bundle, READY=1 given with `notify`,
//! healthy with a healthcheck) within the release's `confirm_timeout`, then stay up for its
//! `watch` window; otherwise the old release's app files come back and the new one is marked
//! failed. All the apps of a release switch together, and roll back together.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use supervisor::api::client::AppInfo;
use supervisor::app::{App, UpdateStrategy};

use super::prepare::{Prepared, prepare};
use super::state::{Failed, Pending, Phase, State, mkdir};
use super::{Paths, Release, installed_apps, rootfs};
use crate::error::{Error, Result};
use crate::layer::Policy;
use crate::store::{Store, sync_dir};

/// The supervisor, as an activation needs it: told to re-read its config directory, asked
/// how an app fares.
pub trait Supervisor {
    fn reload(&mut self) -> std::result::Result<(), String>;
    /// `None` while the supervisor does not know the app.
    fn status(&mut self, app: &str) -> std::result::Result<Option<AppInfo>, String>;
    /// Where the release stands, for the supervisor's Release properties: `(key, value)` of
    /// `supervisor::daemon::release::KEYS`. Best effort: an install does not fail for it.
    fn report(&mut self, fields: &[(&str, &str)]);
    /// The version a `Confirm` call confirmed ("" for none).
    fn confirmed(&mut self) -> std::result::Result<String, String>;
}

/// Reports a phase of the activation to `to`, with the releases as `state` has them.
fn tell(sup: &mut dyn Supervisor, state: &State, phase: &str, to: &str, message: &str) {
    sup.report(&[
        ("phase", phase),
        ("version", to),
        ("message", message),
        ("current", state.current.as_deref().unwrap_or("")),
        ("previous", state.previous.as_deref().unwrap_or("")),
        ("factory", state.factory.as_deref().unwrap_or("")),
    ]);
}

#[derive(Debug)]
pub enum Outcome {
    Installed {
        version: String,
        /// Apps that restarted onto a new bundle (the others were left running).
        changed: Vec<String>,
        prepared: Prepared,
    },
    RolledBack {
        version: String,
        to: Option<String>,
        reason: String,
    },
}

/// How often an activation looks at the apps while it waits for them.
const POLL: Duration = Duration::from_millis(100);

/// One install or rollback at a time, and none while the supervisor recovers from a cut one.
pub struct Lock(#[allow(dead_code)] Flock<File>);

pub fn lock(paths: &Paths) -> Result<Option<Lock>> {
    let dir = paths.releases();
    mkdir(&dir)?;
    let path = dir.join("lock");
    let f = File::create(&path).map_err(|e| Error::io("opening", &path, e))?;
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(Some(Lock(l))),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(Error::io("locking", &path, e.into())),
    }
}

fn busy(paths: &Paths) -> Error {
    Error::Release {
        reason: format!(
            "another release install or rollback is under way ({} is locked)",
            paths.releases().join("lock").display()
        ),
    }
}

pub struct InstallOptions {
    /// Install a release that failed before.
    pub retry: bool,
    pub policy: Policy,
    /// Bytes the state directory's file system keeps free: below it, nothing is stored.
    pub min_free: u64,
    /// Pin the release as the factory one (`davit reset` restores it; never collected).
    pub factory: bool,
    /// How long to wait for apps that hold their update lock to let go.
    pub lock_wait: Duration,
    /// Switch even apps that hold their update lock.
    pub force: bool,
    /// How many releases GC keeps from now on (current included); `None`: as before.
    pub keep: Option<u32>,
}

/// The default of `--min-free`.
pub const DEFAULT_MIN_FREE: u64 = 32 << 20;

/// `davit release install DIR`: prepare, switch, confirm or roll back. `progress` gets one
/// line per step.
pub fn install(
    paths: &Paths,
    dir: &Path,
    opts: &InstallOptions,
    sup: &mut dyn Supervisor,
    progress: &mut dyn FnMut(String),
) -> Result<Outcome> {
    let _lock = begin(paths, sup, progress)?;
    // A file is a release tar; it is unpacked for the time of the install.
    let unpacked = if dir.is_file() {
        super::prepare::check_space(paths, opts.min_free)?;
        Some(super::archive::unpack_release(
            paths,
            dir,
            opts.policy.max_bytes,
        )?)
    } else {
        None
    };
    let release = Release::read(unpacked.as_ref().map_or(dir, |u| u.dir.as_path()))?;
    let mut state = State::load(paths)?;
    let version = release.version.clone();
    if state.current.as_deref() == Some(&version) {
        return Err(Error::Release {
            reason: format!("release {version} is already the current one"),
        });
    }
    if let Some(f) = state.has_failed(&version).filter(|_| !opts.retry) {
        return Err(Error::Release {
            reason: format!(
                "release {version} failed before ({}); install it with --retry to try it again",
                f.reason
            ),
        });
    }
    check_conflicts(paths, &state, &release)?;

    let msg = format!("preparing release {version}");
    tell(sup, &state, "preparing", &version, &msg);
    progress(msg);
    let prepared = kill_first(paths, &mut state, &release, opts, sup, progress)
        .and_then(|()| prepare_and_mount(paths, &release, opts, progress));
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            // Nothing switched: apps stopped for the download (kill-then-download) run again,
            // and the release is not marked failed (a failed prepare may be retried as is).
            if undo_pending(paths, false)?.is_some() {
                progress(format!(
                    "release {version} stopped before switching: the apps it stopped run again"
                ));
                sup.reload().map_err(supervisor_error)?;
            }
            // What it stored before failing (a full disk, a bad blob) is of no use now.
            collect_garbage(paths, progress);
            return Err(e);
        }
    };
    progress(format!(
        "stored {} blobs, unpacked {} layers ({} already present)",
        prepared.blobs_stored, prepared.layers_unpacked, prepared.layers_present
    ));
    let from = state.current.clone();
    if opts.factory {
        state.factory = Some(version.clone());
    }
    if opts.keep.is_some() {
        state.keep = opts.keep;
    }
    let judge = Judge {
        confirm_timeout: release.confirm_timeout,
        watch: release.watch,
        call: release.confirm_by_call,
    };
    let outcome = activate(paths, &mut state, &version, judge, false, sup, progress)?;
    collect_garbage(paths, progress);
    match outcome {
        Ok(changed) => Ok(Outcome::Installed {
            version,
            changed,
            prepared,
        }),
        Err(reason) => Ok(Outcome::RolledBack {
            version,
            to: from,
            reason,
        }),
    }
}

/// `davit release rollback`: back to the previous release, which must confirm as a new one
/// would. The release left is marked failed, so that it is not installed again unasked.
pub fn rollback(
    paths: &Paths,
    judge: Judge,
    sup: &mut dyn Supervisor,
    progress: &mut dyn FnMut(String),
) -> Result<Outcome> {
    let _lock = begin(paths, sup, progress)?;
    let mut state = State::load(paths)?;
    let (Some(current), Some(previous)) = (state.current.clone(), state.previous.clone()) else {
        return Err(Error::Release {
            reason: "there is no previous release to roll back to".into(),
        });
    };
    if !paths.release(&previous).is_dir() {
        return Err(Error::Release {
            reason: format!(
                "the previous release {previous} was collected (keep = {}): install it again",
                state.keep.unwrap_or(super::state::DEFAULT_KEEP)
            ),
        });
    }
    mount_release(paths, &previous)?;
    progress(format!("rolling back from {current} to {previous}"));
    let outcome = activate(paths, &mut state, &previous, judge, false, sup, progress)?;
    collect_garbage(paths, progress);
    match outcome {
        Ok(changed) => {
            state.failed.retain(|f| f.version != current);
            state.failed.push(Failed {
                version: current,
                reason: "rolled back by request".into(),
            });
            state.save(paths)?;
            Ok(Outcome::Installed {
                version: previous,
                changed,
                prepared: Prepared::default(),
            })
        }
        Err(reason) => Ok(Outcome::RolledBack {
            version: previous,
            to: Some(current),
            reason,
        }),
    }
}

/// `davit reset [--keep-data]`: back to the factory release (`install --factory`), from the
/// store, with no network. Without `keep_data` the apps are stopped and their volumes
/// emptied first. It confirms like an install; if it does not, the release that ran comes
/// back (with its volumes as the reset left them).
pub fn reset(
    paths: &Paths,
    keep_data: bool,
    judge: Judge,
    sup: &mut dyn Supervisor,
    progress: &mut dyn FnMut(String),
) -> Result<Outcome> {
    let _lock = begin(paths, sup, progress)?;
    let mut state = State::load(paths)?;
    let Some(factory) = state.factory.clone() else {
        return Err(Error::Release {
            reason: "there is no factory release to reset to (install one with \
                     `davit release install --factory`)"
                .into(),
        });
    };
    if keep_data && state.current.as_deref() == Some(factory.as_str()) {
        return Ok(Outcome::Installed {
            version: factory,
            changed: vec![],
            prepared: Prepared::default(),
        });
    }
    mount_release(paths, &factory)?;
    progress(format!("resetting to the factory release {factory}"));
    let from = state.current.clone();
    let outcome = activate(
        paths, &mut state, &factory, judge, !keep_data, sup, progress,
    )?;
    collect_garbage(paths, progress);
    match outcome {
        Ok(changed) => Ok(Outcome::Installed {
            version: factory,
            changed,
            prepared: Prepared::default(),
        }),
        Err(reason) => Ok(Outcome::RolledBack {
            version: factory,
            to: from,
            reason,
        }),
    }
}

/// The start of every install, rollback and reset: the release lock, and an activation a cut
/// left pending undone first.
fn begin(
    paths: &Paths,
    sup: &mut dyn Supervisor,
    progress: &mut dyn FnMut(String),
) -> Result<Lock> {
    let lock = lock(paths)?.ok_or_else(|| busy(paths))?;
    if let Some(msg) = undo_pending(paths, true)? {
        progress(msg);
        sup.reload().map_err(supervisor_error)?;
    }
    Ok(lock)
}

/// `davit release gc [--keep N]`: what no kept release uses goes (see [`super::gc`]);
/// `keep` is saved for every collection after.
pub fn gc(paths: &Paths, keep: Option<u32>) -> Result<super::gc::Collected> {
    let _lock = lock(paths)?.ok_or_else(|| busy(paths))?;
    if keep.is_some() {
        let mut state = State::load(paths)?;
        state.keep = keep;
        state.save(paths)?;
    }
    super::gc::collect(paths)
}

/// After an install or rollback: a failed collection is reported, not fatal (the next one
/// tries again).
fn collect_garbage(paths: &Paths, progress: &mut dyn FnMut(String)) {
    match super::gc::collect(paths) {
        Ok(c) => {
            if !c.releases.is_empty() || c.bundles > 0 || c.store.blobs > 0 || c.store.layers > 0 {
                progress(collected(&c));
            }
        }
        Err(e) => progress(format!("garbage collection failed: {e}")),
    }
}

/// One line on what a collection removed.
pub fn collected(c: &super::gc::Collected) -> String {
    format!(
        "collected {} releases{}, {} bundles, {} layers, {} blobs: {} KiB freed",
        c.releases.len(),
        if c.releases.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.releases.join(", "))
        },
        c.bundles,
        c.store.layers,
        c.store.blobs,
        c.store.bytes >> 10
    )
}

/// At the supervisor's start, before it reads its config directory: an activation that a
/// power cut or a kill interrupted is undone (the release it replaced comes back, the new
/// one is marked failed), and the roots of the releases it may run are mounted. Nothing to
/// do while an installer holds the lock: it finishes its own work.
pub fn recover(paths: &Paths) -> Result<Vec<String>> {
    let Some(_lock) = lock(paths)? else {
        return Ok(vec![]);
    };
    let mut notes = Vec::new();
    if let Some(msg) = undo_pending(paths, true)? {
        notes.push(msg);
    }
    let state = State::load(paths)?;
    for version in [&state.current, &state.previous].into_iter().flatten() {
        if let Err(e) = mount_release(paths, version) {
            notes.push(format!("release {version}: {e}"));
        }
    }
    Ok(notes)
}

/// Rolls back an activation left pending; the message says what was undone. With
/// `record_failure` the pending release is recorded as failed (a cut), without it not (a
/// prepare that failed after kill-then-download stopped apps: it may be retried as is).
fn undo_pending(paths: &Paths, record_failure: bool) -> Result<Option<String>> {
    // An app file or state.json whose write the cut stopped before its rename is a hidden
    // temporary the supervisor ignores, but one more after every such cut (found by the
    // board's power cuts).
    for dir in [paths.config_dir.clone(), paths.releases()] {
        runtime::remove_write_temps(&dir)
            .map_err(|e| Error::io("removing the temporaries of cut writes in", &dir, e))?;
    }
    let mut state = State::load(paths)?;
    let Some(p) = state.pending.clone() else {
        return Ok(None);
    };
    if let Some(from) = &p.from {
        mount_release(paths, from)?;
    }
    let reason = format!(
        "interrupted while {} (the installer was killed or the power cut)",
        p.phase
    );
    undo(paths, &mut state, record_failure.then_some(reason.as_str()))?;
    Ok(Some(format!(
        "release {}: {reason}: rolled back to {}",
        p.version,
        p.from.as_deref().unwrap_or("no release")
    )))
}

/// Journals the switch to `to`, takes it, and waits for the apps. `Ok(Err(reason))` is a
/// release that did not confirm and was rolled back.
/// How an activation judges the new release.
#[derive(Debug, Clone, Copy)]
pub struct Judge {
    pub confirm_timeout: Duration,
    pub watch: Duration,
    /// A `Confirm` call is needed as well (`confirm = "call"`).
    pub call: bool,
}

fn activate(
    paths: &Paths,
    state: &mut State,
    to: &str,
    judge: Judge,
    wipe_data: bool,
    sup: &mut dyn Supervisor,
    progress: &mut dyn FnMut(String),
) -> Result<std::result::Result<Vec<String>, String>> {
    let Judge {
        confirm_timeout,
        watch,
        call,
    } = judge;
    let from = state.current.clone();
    state.pending = Some(Pending {
        version: to.to_owned(),
        from: from.clone(),
        phase: Phase::Switching,
    });
    state.save(paths)?;
    fail::fail_point!("release-journaled");
    tell(
        sup,
        state,
        "switching",
        to,
        &format!("switching to release {to}"),
    );
    let changed = if wipe_data {
        // The apps stop (their files gone), their volumes are emptied, then the new release's
        // files come: every one of its apps starts afresh and must confirm.
        let old = switch(paths, from.as_deref(), None)?;
        drop(old);
        sup.reload().map_err(supervisor_error)?;
        let running: Vec<String> = match from.as_deref() {
            Some(v) => installed_apps(paths, v)?.into_keys().collect(),
            None => vec![],
        };
        gone(&running, confirm_timeout, sup, progress)?;
        let mut apps: std::collections::BTreeSet<String> = running.into_iter().collect();
        apps.extend(installed_apps(paths, to)?.into_keys());
        for app in &apps {
            empty_volumes(&paths.volumes(app))?;
        }
        let names: Vec<&str> = apps.iter().map(String::as_str).collect();
        progress(format!("emptied the volumes of {}", names.join(", ")));
        fail::fail_point!("release-data-wiped");
        switch(paths, None, Some(to))?
    } else {
        switch(paths, from.as_deref(), Some(to))?
    };
    fail::fail_point!("release-switched");
    if let Some(p) = &mut state.pending {
        p.phase = Phase::Confirming;
    }
    state.save(paths)?;
    fail::fail_point!("release-confirming");
    let msg = format!(
        "switched to release {to}; waiting for {} to confirm",
        if changed.is_empty() {
            "no app (none changed)".to_owned()
        } else {
            changed.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    );
    tell(sup, state, "confirming", to, &msg);
    progress(msg);
    let result = match sup.reload() {
        Ok(()) => confirm(
            &changed,
            confirm_timeout,
            watch,
            call.then_some(to),
            sup,
            progress,
        ),
        Err(e) => Err(format!("the supervisor did not reload: {e}")),
    };
    match result {
        Ok(()) => {
            fail::fail_point!("release-confirmed");
            state.became_current(to, from);
            state.failed.retain(|f| f.version != to);
            state.pending = None;
            state.save(paths)?;
            tell(
                sup,
                state,
                "installed",
                to,
                &format!("release {to} is current"),
            );
            Ok(Ok(changed.into_keys().collect()))
        }
        Err(reason) => {
            let msg = format!("release {to} failed: {reason}; rolling back");
            tell(sup, state, "rolling-back", to, &msg);
            progress(msg);
            let back = undo(paths, state, Some(&reason))?;
            match sup.reload() {
                Ok(()) => running_again(&back, confirm_timeout, sup, progress),
                Err(e) => progress(format!(
                    "the supervisor did not reload after the rollback: {e}"
                )),
            }
            tell(sup, state, "rolled-back", to, &reason);
            Ok(Err(reason))
        }
    }
}

/// Stores the release's images, writes its bundles and mounts their roots; then waits for
/// the apps it changes to let go of their update lock.
fn prepare_and_mount(
    paths: &Paths,
    release: &Release,
    opts: &InstallOptions,
    progress: &mut dyn FnMut(String),
) -> Result<Prepared> {
    let store = Store::open(&paths.store())?;
    let prepared = prepare(paths, &store, release, &opts.policy, opts.min_free)?;
    drop(store);
    for bundle in prepared.bundles.values() {
        rootfs::mount_rootfs(bundle)?;
    }
    if !opts.force {
        let state = State::load(paths)?;
        let old = match &state.current {
            Some(v) => installed_apps(paths, v)?,
            None => BTreeMap::new(),
        };
        let changed: Vec<String> = installed_apps(paths, &release.version)?
            .into_iter()
            .filter(|(name, text)| {
                let file = paths.config_dir.join(format!("{name}.toml"));
                old.get(name)
                    .is_some_and(|t| App::parse(&file, t).ok() != App::parse(&file, text).ok())
            })
            .map(|(name, _)| name)
            .collect();
        wait_for_locks(paths, &changed, opts.lock_wait, progress)?;
    }
    Ok(prepared)
}

/// `kill-then-download` (the app label `io.davit.update.strategy`): the apps that ask for it
/// and whose settings (image ref included) the release changes stop before anything is
/// stored, leaving their memory to the download and unpack. It is journaled as the start of the switch (their files
/// leave the config directory), so a failure or a cut before the switch brings them back.
fn kill_first(
    paths: &Paths,
    state: &mut State,
    release: &Release,
    opts: &InstallOptions,
    sup: &mut dyn Supervisor,
    progress: &mut dyn FnMut(String),
) -> Result<()> {
    let current = match &state.current {
        Some(v) => installed_apps(paths, v)?,
        None => return Ok(()),
    };
    let names: Vec<String> = release
        .apps
        .iter()
        .filter(|a| a.app.update_strategy() == UpdateStrategy::KillThenDownload)
        .filter(|a| {
            // Its settings as the release has them (no bundle yet) against the current ones.
            current.get(&a.name).is_some_and(|t| {
                match App::parse(&paths.config_dir.join(format!("{}.toml", a.name)), t) {
                    Ok(mut old) => {
                        old.bundle.clone_from(&a.app.bundle);
                        old.file.clone_from(&a.app.file);
                        old != a.app
                    }
                    Err(_) => true,
                }
            })
        })
        .map(|a| a.name.clone())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    if !opts.force {
        wait_for_locks(paths, &names, opts.lock_wait, progress)?;
    }
    state.pending = Some(Pending {
        version: release.version.clone(),
        from: state.current.clone(),
        phase: Phase::Switching,
    });
    state.save(paths)?;
    fail::fail_point!("release-killing");
    remove_app_files(paths, &names)?;
    sup.reload().map_err(supervisor_error)?;
    gone(&names, release.confirm_timeout, sup, progress)?;
    progress(format!(
        "stopped {} before storing anything (kill-then-download)",
        names.join(", ")
    ));
    Ok(())
}

/// Empties each named volume of an app, keeping the volume itself (its bundle mounts it).
fn empty_volumes(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let path = e.path();
        super::prepare::remove_tree(&path)?;
        mkdir(&path)?;
    }
    sync_dir(dir)
}

/// Waits (at most `wait`) until no app this release changes holds its update lock. The
/// release stays prepared: installing it again later finds everything in place.
fn wait_for_locks(
    paths: &Paths,
    apps: &[String],
    wait: Duration,
    progress: &mut dyn FnMut(String),
) -> Result<()> {
    let deadline = Instant::now() + wait;
    let mut said = false;
    loop {
        let held: Vec<String> = apps
            .iter()
            .map(|name| paths.locks(name).join(super::LOCK_FILE))
            .filter(|lock| lock.exists())
            .map(|lock| lock.display().to_string())
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Release {
                reason: format!(
                    "an app holds its update lock ({}): nothing was switched; install again \
                     once it lets go, wait for it with --lock-wait, or override it with --force",
                    held.join(", ")
                ),
            });
        }
        if !said {
            progress(format!("waiting for {} to go", held.join(", ")));
            said = true;
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until the supervisor has stopped and forgotten `apps`.
fn gone(
    apps: &[String],
    timeout: Duration,
    sup: &mut dyn Supervisor,
    progress: &mut dyn FnMut(String),
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    for app in apps {
        loop {
            match sup.status(app).map_err(supervisor_error)? {
                None => break,
                Some(v) if Instant::now() >= deadline => {
                    return Err(Error::Release {
                        reason: format!(
                            "{app} did not stop within {} ({})",
                            humanize(timeout),
                            v.state
                        ),
                    });
                }
                Some(_) => std::thread::sleep(POLL),
            }
        }
    }
    progress(format!("stopped {}", apps.join(", ")));
    Ok(())
}

/// Puts the pending release's `from` back and records the pending one as failed with
/// `failure`'s reason, if any. Returns the apps that go back to another bundle.
fn undo(
    paths: &Paths,
    state: &mut State,
    failure: Option<&str>,
) -> Result<BTreeMap<String, PathBuf>> {
    let Some(p) = state.pending.as_mut() else {
        return Ok(BTreeMap::new());
    };
    p.phase = Phase::RollingBack;
    let p = p.clone();
    state.save(paths)?;
    fail::fail_point!("release-rolling-back");
    // A release cut before it was written (kill-then-download stops apps first) switched
    // nothing in: only the old files come back.
    let written = paths.release(&p.version).is_dir();
    let back = switch(
        paths,
        written.then_some(p.version.as_str()),
        p.from.as_deref(),
    )?;
    fail::fail_point!("release-switched-back");
    if let Some(reason) = failure {
        state.failed.retain(|f| f.version != p.version);
        state.failed.push(Failed {
            version: p.version.clone(),
            reason: reason.to_owned(),
        });
    }
    state.pending = None;
    state.save(paths)?;
    Ok(back)
}

/// After a rollback: says when each app runs its old bundle again, or that it did not within
/// `timeout` (the rollback stands either way; the supervisor keeps restarting it by its
/// policy).
fn running_again(
    apps: &BTreeMap<String, PathBuf>,
    timeout: Duration,
    sup: &mut dyn Supervisor,
    progress: &mut dyn FnMut(String),
) {
    let deadline = Instant::now() + timeout;
    let mut left: BTreeMap<&String, &PathBuf> = apps.iter().collect();
    while !left.is_empty() {
        left.retain(|name, bundle| match sup.status(name) {
            Ok(Some(v))
                if v.state == "running"
                    && v.bundle.as_deref().map(Path::new) == Some(bundle.as_path()) =>
            {
                progress(format!(
                    "{name}: running its previous version again (pid {})",
                    v.pid
                ));
                false
            }
            _ => true,
        });
        if left.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for name in left.keys() {
                progress(format!(
                    "{name}: not running its previous version within {}",
                    humanize(timeout)
                ));
            }
            break;
        }
        std::thread::sleep(POLL);
    }
}

/// Makes the config directory hold `to`'s app files in place of `from`'s (either may be no
/// release). Returns `to`'s apps that differ from `from`'s, with their bundles: those the
/// supervisor restarts. Each file is replaced atomically and durably; the step can be taken
/// again after a cut.
fn switch(
    paths: &Paths,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<BTreeMap<String, PathBuf>> {
    let old = match from {
        Some(v) => installed_apps(paths, v)?,
        None => BTreeMap::new(),
    };
    let new = match to {
        Some(v) => installed_apps(paths, v)?,
        None => BTreeMap::new(),
    };
    mkdir(&paths.config_dir)?;
    let mut changed = BTreeMap::new();
    for (name, text) in &new {
        let file = paths.config_dir.join(format!("{name}.toml"));
        let app = super::parse_installed(&file, text)?;
        let before = old.get(name).and_then(|t| App::parse(&file, t).ok());
        if before.as_ref() != Some(&app) && app.enabled {
            changed.insert(name.clone(), app.bundle.clone());
        }
        runtime::write_atomic(&file, text.as_bytes())
            .map_err(|e| Error::io("writing the app file", &file, e))?;
        fail::fail_point!("release-app-file-written");
    }
    let gone: Vec<&String> = old.keys().filter(|n| !new.contains_key(*n)).collect();
    remove_app_files(paths, &gone)?;
    Ok(changed)
}

/// Removes apps' files from the config directory, durably (the supervisor stops them at its
/// next reload).
fn remove_app_files(paths: &Paths, names: &[impl AsRef<str>]) -> Result<()> {
    for name in names {
        let file = paths.config_dir.join(format!("{}.toml", name.as_ref()));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("removing the app file", &file, e)),
        }
    }
    sync_dir(&paths.config_dir)
}

/// An app file in the config directory that no release installed is the user's: a release
/// does not overwrite it.
fn check_conflicts(paths: &Paths, state: &State, release: &Release) -> Result<()> {
    let ours = match &state.current {
        Some(v) => installed_apps(paths, v)?,
        None => BTreeMap::new(),
    };
    for app in &release.apps {
        let file = paths.config_dir.join(format!("{}.toml", app.name));
        if file.exists() && !ours.contains_key(&app.name) {
            return Err(Error::Release {
                reason: format!(
                    "{} was not installed by a release, and release {} has an app {}: move \
                     the file away, or rename the release's app",
                    file.display(),
                    release.version,
                    app.name
                ),
            });
        }
    }
    Ok(())
}

fn mount_release(paths: &Paths, version: &str) -> Result<()> {
    for (name, text) in installed_apps(paths, version)? {
        let file = paths
            .release(version)
            .join("apps")
            .join(format!("{name}.toml"));
        if let Ok(app) = App::parse(&file, &text) {
            rootfs::mount_rootfs(&app.bundle)?;
        }
    }
    Ok(())
}

/// Waits for every changed app to run from its new bundle (and be ready and healthy when it
/// says it can be), then watches them for `watch`.
fn confirm(
    apps: &BTreeMap<String, PathBuf>,
    timeout: Duration,
    watch: Duration,
    call: Option<&str>,
    sup: &mut dyn Supervisor,
    progress: &mut dyn FnMut(String),
) -> std::result::Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut confirmed: BTreeMap<&str, AppInfo> = BTreeMap::new();
    let mut last: BTreeMap<&str, AppInfo> = BTreeMap::new();
    while confirmed.len() < apps.len() {
        for (name, bundle) in apps {
            if confirmed.contains_key(name.as_str()) {
                continue;
            }
            let Some(v) = sup.status(name)? else { continue };
            let ours = v.bundle.as_deref().map(Path::new) == Some(bundle.as_path());
            if ours {
                match v.state.as_str() {
                    "running" if v.health.is_empty() || v.health == "healthy" => {
                        progress(format!("{name}: confirmed (pid {})", v.pid));
                        confirmed.insert(name, v.clone());
                        continue;
                    }
                    "running" if v.health == "unhealthy" => {
                        return Err(format!("{name} is unhealthy"));
                    }
                    "restarting" | "exited" | "failed" => return Err(ended(name, &v)),
                    _ => {}
                }
            }
            last.insert(name, v);
        }
        if confirmed.len() == apps.len() {
            break;
        }
        if Instant::now() >= deadline {
            let waiting: Vec<String> = apps
                .keys()
                .filter(|n| !confirmed.contains_key(n.as_str()))
                .map(|n| match last.get(n.as_str()) {
                    Some(v) => format!("{n} ({}{})", v.state, health_note(v)),
                    None => format!("{n} (unknown to the supervisor)"),
                })
                .collect();
            return Err(format!(
                "not confirmed within {}: {}",
                humanize(timeout),
                waiting.join(", ")
            ));
        }
        std::thread::sleep(POLL);
    }
    if let Some(version) = call {
        progress(format!("waiting for a Confirm call for release {version}"));
        sup.report(&[("message", "waiting for a Confirm call")]);
        while sup.confirmed()? != version {
            if Instant::now() >= deadline {
                return Err(format!("no Confirm call within {}", humanize(timeout)));
            }
            std::thread::sleep(POLL);
        }
        progress(format!("release {version}: confirmed by a call"));
    }
    if apps.is_empty() || watch.is_zero() {
        return Ok(());
    }
    let msg = format!("watching for {}", humanize(watch));
    sup.report(&[("phase", "watching"), ("message", &msg)]);
    progress(msg);
    let end = Instant::now() + watch;
    loop {
        for (name, first) in &confirmed {
            let v = sup
                .status(name)?
                .ok_or_else(|| format!("{name} is gone from the supervisor"))?;
            let same_run = v.pid == first.pid && v.bundle == first.bundle;
            let up = v.state == "running" || v.state == "frozen";
            if !same_run || !up || v.health == "unhealthy" {
                return Err(format!(
                    "{} within the watch window after confirming",
                    ended(name, &v)
                ));
            }
        }
        if Instant::now() >= end {
            return Ok(());
        }
        std::thread::sleep(POLL.min(end - Instant::now()));
    }
}

fn ended(name: &str, v: &AppInfo) -> String {
    let mut s = format!("{name} is {}", v.state);
    if !v.last_exit.is_empty() {
        s.push_str(&format!(" (last exit: {})", v.last_exit));
    }
    if !v.reason.is_empty() {
        s.push_str(&format!(": {}", v.reason));
    }
    s.push_str(&health_note(v));
    s
}

fn health_note(v: &AppInfo) -> String {
    if v.health.is_empty() {
        String::new()
    } else {
        format!(", {}", v.health)
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn supervisor_error(e: String) -> Error {
    Error::Release {
        reason: format!("the supervisor: {e}"),
    }
}
