//! One app's life: wait for its dependencies, create and start its container through the
//! launcher, watch its init through a pidfd, its notify socket and its healthcheck, stop it,
//! and decide after each exit whether to restart it, when, or to give up.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runtime::{ExitStatus, ProcessId, Status};
use tokio::io::unix::AsyncFd;
use tokio::net::UnixDatagram;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::sleep_until;

use super::handover::{self, Outgoing};
use super::record::{self, Record};
use super::{
    AppStatus, Event, Phase, State, Supervisor, app_of_container, bundle, container_id, logs,
    now_us, other_container,
};
use crate::app::{App, Condition, HealthTest, Logs, Restart, UpdateStrategy};
use crate::launcher::{Outcome, Request};

pub type Reply = oneshot::Sender<Result<(), String>>;

pub enum Command {
    Start(Reply),
    Stop(Reply),
    Restart(Reply),
    Kill(nix::sys::signal::Signal, Reply),
    Freeze(Reply),
    Thaw(Reply),
    /// The app's file again: the app, or why it cannot run.
    Reload(Box<Result<App, String>>),
    /// Stop for good (daemon shutdown, app file removed).
    Shutdown(Reply),
    /// Start at boot or not, from now on (over the file's `enabled`).
    SetEnabled(bool, Reply),
}

enum Next {
    Idle,
    Run,
    /// A running container to watch: adopted at boot, or taken back from a hand-over.
    Adopt(handover::Running),
    Backoff(Duration),
    Exit,
}

/// How a run ended.
pub(super) enum End {
    Status(ExitStatus),
    /// Not our child any more (adopted after a daemon restart), or gone while no daemon ran.
    Unknown,
    /// It never ran, or was killed for failing a check; the reason.
    Failed(String),
}

/// A container start must not hang the app forever (hooks, a stuck mount).
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);
/// After SIGKILL a process dies at once unless the kernel is stuck; bounded all the same.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// A run this long resets the backoff (as docker does after 10 s).
const STABLE_RUN: Duration = Duration::from_secs(10);

pub struct AppTask {
    sup: Arc<Supervisor>,
    name: String,
    /// The container of the app's latest run (one of its two, see [`super::CONTAINER_PREFIXES`]).
    id: String,
    /// During a hand-over: the old version's container, running beside the new one.
    outgoing: Option<Outgoing>,
    app: Result<App, String>,
    record: Record,
    status: Arc<Mutex<AppStatus>>,
    phase: watch::Sender<Phase>,
    logs: Arc<Mutex<Logs>>,
    failures: VecDeque<Instant>,
    streak: u32,
}

impl AppTask {
    pub fn new(
        sup: Arc<Supervisor>,
        name: String,
        app: Result<App, String>,
        record: Record,
        status: Arc<Mutex<AppStatus>>,
        phase: watch::Sender<Phase>,
        logs: Arc<Mutex<Logs>>,
    ) -> AppTask {
        let id = match &record.container {
            Some(c) if app_of_container(c) == Some(name.as_str()) => c.clone(),
            _ => container_id(&name),
        };
        AppTask {
            id,
            outgoing: None,
            sup,
            name,
            app,
            record,
            status,
            phase,
            logs,
            failures: VecDeque::new(),
            streak: 0,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>, start: bool, boot: bool) {
        if let Err(reason) = self.app.clone() {
            self.fail(reason);
        }
        let mut next = match boot.then(|| self.adopt(start)).flatten() {
            Some(n) => n,
            None if start && self.app.is_ok() => Next::Run,
            None => Next::Idle,
        };
        loop {
            next = match next {
                Next::Idle => self.idle(&mut rx).await,
                Next::Run => self.life(&mut rx, None).await,
                Next::Adopt(running) => self.life(&mut rx, Some(running)).await,
                Next::Backoff(d) => self.backoff(&mut rx, d).await,
                Next::Exit => {
                    self.stop_outgoing().await;
                    return;
                }
            }
        }
    }

    // ---- what the world sees ----

    fn publish(&self, f: impl FnOnce(&mut AppStatus)) {
        let changed = {
            let mut s = self.status.lock().unwrap();
            let before = s.clone();
            f(&mut s);
            if s.state != before.state {
                s.since = now_us();
            }
            *s != before
        };
        if changed {
            let _ = self.sup.events.send(Event::Changed(self.name.clone()));
        }
    }

    fn set_state(&self, state: State) {
        self.publish(|s| {
            s.state = state;
            if state != State::Failed {
                s.reason.clear();
            }
        });
    }

    fn fail(&mut self, reason: String) {
        tracing::warn!("{}: failed: {reason}", self.name);
        self.publish(|s| {
            s.state = State::Failed;
            s.reason = reason;
            s.pid = 0;
        });
        self.phase.send_replace(Phase::Failed);
    }

    fn save(&self) {
        self.sup.save_record(&self.name, &self.record);
    }

    // ---- the states between runs ----

    async fn idle(&mut self, rx: &mut mpsc::UnboundedReceiver<Command>) -> Next {
        loop {
            let Some(cmd) = rx.recv().await else {
                return Next::Exit;
            };
            let Some(cmd) = self.absorb(cmd) else {
                continue;
            };
            match cmd {
                Command::Start(reply) | Command::Restart(reply) => {
                    if let Err(reason) = &self.app {
                        let _ = reply.send(Err(format!("{} cannot run: {reason}", self.name)));
                        continue;
                    }
                    self.user_started();
                    let _ = reply.send(Ok(()));
                    return Next::Run;
                }
                Command::Stop(reply) => {
                    self.stop_outgoing().await;
                    self.record.stopped_by_user = true;
                    self.save();
                    let _ = reply.send(Ok(()));
                }
                Command::Shutdown(reply) => {
                    let _ = reply.send(Ok(()));
                    return Next::Exit;
                }
                Command::Kill(_, reply) | Command::Freeze(reply) | Command::Thaw(reply) => {
                    let _ = reply.send(Err(format!("{} is not running", self.name)));
                }
                Command::Reload(app) => {
                    if let Some(o) = self.outgoing_running(&app) {
                        return self.take_back(o, *app).await;
                    }
                    // An app that ended (exited, or failed) runs again when its file changes:
                    // a new version, or the old one back after a release rolled back. One a
                    // user stopped stays stopped.
                    let changed = match (app.as_ref(), &self.app) {
                        (Ok(new), Ok(old)) => !same_run(new, old),
                        _ => false,
                    };
                    let ended = matches!(
                        self.status.lock().unwrap().state,
                        State::Exited | State::Failed
                    );
                    let now_good = self.take_file(*app);
                    if (now_good || (changed && ended)) && self.status.lock().unwrap().enabled {
                        return Next::Run;
                    }
                }
                Command::SetEnabled(..) => {}
            }
        }
    }

    /// Handles what every state handles alike; hands back the rest.
    fn absorb(&mut self, cmd: Command) -> Option<Command> {
        match cmd {
            Command::SetEnabled(enabled, reply) => {
                self.record.enabled = Some(enabled);
                self.save();
                self.publish(|s| s.enabled = enabled);
                let _ = reply.send(Ok(()));
                None
            }
            other => Some(other),
        }
    }

    /// Takes the app's file as reloaded; true when it was bad (or its dependencies were) and
    /// now is good: such an app starts as a new one would.
    fn take_file(&mut self, app: Result<App, String>) -> bool {
        let was_bad = self.app.is_err();
        match &app {
            Ok(a) => {
                *self.logs.lock().unwrap() = a.logs;
                let enabled = self.record.enabled.unwrap_or(a.enabled);
                self.publish(|s| s.enabled = enabled);
                if was_bad {
                    self.set_state(State::Stopped);
                    self.phase.send_replace(Phase::Down);
                }
            }
            Err(reason) => self.fail(reason.clone()),
        }
        self.app = app;
        was_bad && self.app.is_ok()
    }

    /// A user's start: a crash loop is forgiven, a user's stop forgotten.
    fn user_started(&mut self) {
        self.failures.clear();
        self.streak = 0;
        if self.record.stopped_by_user {
            self.record.stopped_by_user = false;
            self.save();
        }
    }

    async fn backoff(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        delay: Duration,
    ) -> Next {
        self.set_state(State::Restarting);
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = sleep_until(until) => {
                    self.record.restarts += 1;
                    self.publish(|s| s.restarts += 1);
                    self.save();
                    return Next::Run;
                }
                cmd = rx.recv() => match cmd.map(|c| self.absorb(c)) {
                    None => return Next::Exit,
                    Some(None) | Some(Some(Command::SetEnabled(..))) => {}
                    Some(Some(cmd)) => match cmd {
                    Command::Start(reply) | Command::Restart(reply) => {
                        self.user_started();
                        let _ = reply.send(Ok(()));
                        return Next::Run;
                    }
                    Command::Stop(reply) => {
                        self.stop_outgoing().await;
                        self.record.stopped_by_user = true;
                        self.save();
                        self.set_state(State::Stopped);
                        self.phase.send_replace(Phase::Down);
                        let _ = reply.send(Ok(()));
                        return Next::Idle;
                    }
                    Command::Shutdown(reply) => {
                        self.set_state(State::Stopped);
                        let _ = reply.send(Ok(()));
                        return Next::Exit;
                    }
                    Command::Kill(_, reply) | Command::Freeze(reply) | Command::Thaw(reply) => {
                        let _ = reply.send(Err(format!("{} is not running (waiting to restart)", self.name)));
                    }
                    Command::Reload(app) => {
                        if let Some(o) = self.outgoing_running(&app) {
                            return self.take_back(o, *app).await;
                        }
                        // A new file is a new version (or the old one back): it starts now,
                        // not after a delay earned by the one that failed.
                        let changed = match (app.as_ref(), &self.app) {
                            (Ok(new), Ok(old)) => !same_run(new, old),
                            _ => false,
                        };
                        self.take_file(*app);
                        if self.app.is_err() {
                            return Next::Idle;
                        }
                        if changed {
                            return Next::Run;
                        }
                    }
                    Command::SetEnabled(..) => {}
                    }
                }
            }
        }
    }

    // ---- adoption after a daemon restart ----

    /// At boot: what to do with a container a previous daemon left.
    fn adopt(&mut self, start: bool) -> Option<Next> {
        // A hand-over the last daemon did not finish: the container it had not recorded goes.
        let other = other_container(&self.name, &self.id);
        if self.sup.opts.root.join(&other).exists() {
            tracing::info!(
                "{}: deleting container {other}: a hand-over was cut short",
                self.name
            );
            let _ = self.sup.rt.delete(&other, true);
        }
        // Looked at only when there is a container: libcontainer logs an error for a missing one.
        let state = if self.sup.opts.root.join(&self.id).exists() {
            self.sup.rt.state(&self.id).ok()
        } else {
            None
        };
        let recorded = self.record.process;
        let live = state.as_ref().and_then(|s| {
            let ours = s.pid.is_some() && s.pid == recorded;
            let up = matches!(s.status, Status::Running | Status::Paused);
            (ours && up).then(|| (s.pid.unwrap(), s.status == Status::Paused))
        });
        // A record from before the daemon kept bundles names none: taken as the same.
        let same_bundle = match (&self.record.bundle, &self.app) {
            (Some(ran), Ok(app)) => *ran == app.bundle,
            _ => true,
        };
        if let (Some(_), false) = (live, same_bundle) {
            tracing::info!(
                "{}: stopping its container: it runs another bundle than the app file names",
                self.name
            );
            let _ = self.sup.rt.delete(&self.id, true);
            self.record.process = None;
            self.save();
            return start.then_some(Next::Run);
        }
        if let (Some((pid, paused)), true, true) = (live, start, self.app.is_ok()) {
            match pid.open_pidfd() {
                Ok(Some(fd)) => {
                    tracing::info!(
                        "{}: adopted its running container (pid {})",
                        self.name,
                        pid.pid
                    );
                    return Some(Next::Adopt(handover::Running {
                        pid,
                        pidfd: fd,
                        frozen: paused,
                        ready: false,
                    }));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("{}: pidfd of {}: {e}", self.name, pid.pid),
            }
        }
        if state.is_some() {
            if live.is_some() {
                tracing::info!("{}: stopping its container (not to run now)", self.name);
            }
            let _ = self.sup.rt.delete(&self.id, true);
        }
        recorded?;
        // It ran when the last daemon stopped watching, and is gone now.
        self.record.process = None;
        let app = self.app.clone().ok()?;
        if !start {
            self.save();
            return None;
        }
        if self.record.boot.is_some() && self.record.boot != record::this_boot() {
            // The board went down with it (a power cut, a reset): not an exit of its own, so
            // no restart policy applies; it starts as every app does at boot.
            tracing::info!("{}: its last run ended with an earlier boot", self.name);
            self.save();
            return Some(Next::Run);
        }
        Some(self.after_exit(&app, End::Unknown, Instant::now()))
    }

    // ---- one run ----

    async fn life(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        adopted: Option<handover::Running>,
    ) -> Next {
        let app = match &self.app {
            Ok(a) => a.clone(),
            Err(reason) => {
                self.fail(reason.clone());
                return Next::Idle;
            }
        };
        let started_at = Instant::now();
        let notify_dir = self.own_dir("notify");
        let mut notify = None;
        let mut ready = !app.notify;
        let (pid, pidfd, mut frozen) = match adopted {
            Some(a) => {
                if app.notify {
                    notify = bind_notify(&notify_dir).ok();
                }
                ready |= a.ready;
                (a.pid, a.pidfd, a.frozen)
            }
            None => {
                self.set_state(State::Waiting);
                self.phase.send_replace(Phase::Down);
                if let Some(next) = self.wait_dependencies(&app, rx).await {
                    return next;
                }
                let bundle = app.bundle.display().to_string();
                let container = self.id.clone();
                self.publish(|s| {
                    s.state = State::Starting;
                    s.reason.clear();
                    s.bundle = bundle;
                    s.container = container;
                });
                if app.notify {
                    match bind_notify(&notify_dir) {
                        Ok(s) => notify = Some(s),
                        Err(e) => {
                            let reason = format!("notify socket in {}: {e}", notify_dir.display());
                            return self.after_exit(&app, End::Failed(reason), started_at);
                        }
                    }
                }
                match self.start_container(&app, &notify_dir).await {
                    Ok((pid, fd)) => (pid, fd, false),
                    Err(reason) => return self.after_exit(&app, End::Failed(reason), started_at),
                }
            }
        };
        self.record.process = Some(pid);
        self.record.container = Some(self.id.clone());
        self.record.bundle = Some(app.bundle.clone());
        self.record.boot = record::this_boot();
        self.save();
        let mut healthy = false;
        let bundle = app.bundle.display().to_string();
        let container = self.id.clone();
        self.publish(|s| {
            s.pid = pid.pid as u32;
            s.bundle = bundle;
            s.container = container;
            s.state = if frozen {
                State::Frozen
            } else if ready {
                State::Running
            } else {
                State::Starting
            };
            s.reason.clear();
            s.health = if app.healthcheck.is_some() {
                "starting"
            } else {
                ""
            };
            s.since = now_us();
        });
        self.phase.send_replace(Phase::Running { ready, healthy });
        tracing::info!("{}: running, pid {}", self.name, pid.pid);

        // SAFETY: the pidfd is owned by the AsyncFd from here on and stays open as long.
        let exit = match unsafe { AsyncFd::register(pidfd) }.map_err(std::io::Error::from) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = self.sup.rt.kill(&self.id, runtime::Signal::KILL, true);
                return self.after_exit(&app, End::Failed(format!("pidfd: {e}")), started_at);
            }
        };
        let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
        let now = tokio::time::Instant::now();
        let mut ready_deadline = if ready { far } else { now + app.start_timeout };
        let mut watchdog_deadline = app.watchdog.map_or(far, |w| now + w);
        let hc = app.healthcheck.clone();
        let mut next_health = hc.as_ref().map_or(far, |h| {
            now + h
                .interval
                .min(h.start_period.max(Duration::from_millis(500)))
        });
        let health_grace_until =
            Instant::now() + hc.as_ref().map_or(Duration::ZERO, |h| h.start_period);
        let mut health_failures = 0u32;
        let mut health_run: Option<
            std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>,
        > = None;
        let mut frozen_at: Option<tokio::time::Instant> = frozen.then(tokio::time::Instant::now);
        let mut buf = vec![0u8; 4096];

        let end = loop {
            if ready
                && (hc.is_none() || healthy)
                && let Some(o) = self.outgoing.as_mut().filter(|o| o.holding())
            {
                tracing::info!(
                    "{}: the new version is up: the old one ({}) goes",
                    self.name,
                    o.id
                );
                o.retire();
            }
            tokio::select! {
                guard = exit.readable() => {
                    if let Ok(mut g) = guard { g.clear_ready(); }
                    match runtime::try_wait(exit.get_ref().as_fd()) {
                        Ok(Some(status)) => break End::Status(status),
                        Ok(None) => continue,
                        Err(_) => break End::Unknown,
                    }
                }
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else {
                        self.stop_container(&app, &exit, frozen).await;
                        return Next::Exit;
                    };
                    let Some(cmd) = self.absorb(cmd) else { continue };
                    match cmd {
                        Command::SetEnabled(..) => {}
                        Command::Start(reply) => { let _ = reply.send(Ok(())); }
                        Command::Stop(reply) => {
                            self.stop_outgoing().await;
                            let end = self.stop_container(&app, &exit, frozen).await;
                            self.stopped(end);
                            self.record.stopped_by_user = true;
                            self.save();
                            let _ = reply.send(Ok(()));
                            return Next::Idle;
                        }
                        Command::Shutdown(reply) => {
                            self.stopping_on_purpose();
                            let end = self.stop_container(&app, &exit, frozen).await;
                            self.stopped(end);
                            let _ = reply.send(Ok(()));
                            return Next::Exit;
                        }
                        Command::Restart(reply) => {
                            self.stopping_on_purpose();
                            let end = self.stop_container(&app, &exit, frozen).await;
                            self.stopped(end);
                            self.user_started();
                            let _ = reply.send(Ok(()));
                            return Next::Run;
                        }
                        Command::Kill(sig, reply) => {
                            let r = self.sup.rt.kill(&self.id, runtime::Signal::from(sig), false);
                            let _ = reply.send(r.map_err(|e| runtime::one_line(&e)));
                        }
                        Command::Freeze(reply) => {
                            if frozen {
                                let _ = reply.send(Ok(()));
                                continue;
                            }
                            match self.sup.rt.pause(&self.id) {
                                Ok(()) => {
                                    frozen = true;
                                    frozen_at = Some(tokio::time::Instant::now());
                                    self.set_state(State::Frozen);
                                    let _ = reply.send(Ok(()));
                                }
                                Err(e) => { let _ = reply.send(Err(runtime::one_line(&e))); }
                            }
                        }
                        Command::Thaw(reply) => {
                            if !frozen {
                                let _ = reply.send(Ok(()));
                                continue;
                            }
                            match self.sup.rt.resume(&self.id) {
                                Ok(()) => {
                                    frozen = false;
                                    // Timers stood still while frozen.
                                    let held = frozen_at.take().map_or(Duration::ZERO, |t| t.elapsed());
                                    if ready_deadline != far { ready_deadline += held; }
                                    if watchdog_deadline != far { watchdog_deadline += held; }
                                    if next_health != far { next_health += held; }
                                    self.set_state(if ready { State::Running } else { State::Starting });
                                    let _ = reply.send(Ok(()));
                                }
                                Err(e) => { let _ = reply.send(Err(runtime::one_line(&e))); }
                            }
                        }
                        Command::Reload(new) => {
                            let new = *new;
                            if new.as_ref().is_ok_and(|n| same_run(n, &app)) {
                                self.take_file(new);
                                continue;
                            }
                            if let Some(o) = self.outgoing_running(&new) {
                                tracing::info!("{}: app file back to the version it hands over from: taking that one back", self.name);
                                self.stopping_on_purpose();
                                let end = self.stop_container(&app, &exit, frozen).await;
                                self.stopped(end);
                                return self.take_back(o, new).await;
                            }
                            if let Ok(n) = &new
                                && n.update_strategy() == UpdateStrategy::HandOver
                                && self.record.enabled.unwrap_or(n.enabled)
                            {
                                // A third version while the first still runs: the first goes.
                                self.stop_outgoing().await;
                                let next = other_container(&self.name, &self.id);
                                let old = std::mem::replace(&mut self.id, next);
                                tracing::info!("{}: app file changed: handing over from {old} (pid {}) to {}", self.name, pid.pid, self.id);
                                // The app's status is the new version's from here on.
                                self.publish(|s| {
                                    s.pid = 0;
                                    s.health = "";
                                });
                                self.outgoing = Some(Outgoing::hold(self.sup.clone(), self.name.clone(), old, app.clone(), (pid, exit), frozen, ready));
                                self.take_file(new);
                                return Next::Run;
                            }
                            tracing::info!("{}: app file changed: restarting it", self.name);
                            self.stopping_on_purpose();
                            let end = self.stop_container(&app, &exit, frozen).await;
                            self.stopped(end);
                            self.take_file(new);
                            let enabled = self.status.lock().unwrap().enabled;
                            return if self.app.is_ok() && enabled { Next::Run } else { Next::Idle };
                        }
                    }
                }
                got = recv_notify(notify.as_ref(), &mut buf) => {
                    let Some(msg) = got else { continue };
                    for line in msg.lines() {
                        if line == "READY=1" && !ready {
                            ready = true;
                            ready_deadline = far;
                            if !frozen { self.set_state(State::Running); }
                            self.phase.send_replace(Phase::Running { ready, healthy });
                        } else if line == "WATCHDOG=1" {
                            if let Some(w) = app.watchdog { watchdog_deadline = tokio::time::Instant::now() + w; }
                        } else if line == "WATCHDOG=trigger" {
                            watchdog_deadline = tokio::time::Instant::now();
                        } else if let Some(text) = line.strip_prefix("STATUS=") {
                            let text = text.to_owned();
                            self.publish(|s| s.status_text = text);
                        } else if let Some(us) = line.strip_prefix("EXTEND_TIMEOUT_USEC=").and_then(|v| v.parse::<u64>().ok())
                            && !ready {
                            let until = tokio::time::Instant::now() + Duration::from_micros(us);
                            ready_deadline = ready_deadline.max(until);
                        }
                    }
                }
                _ = sleep_until(ready_deadline), if !frozen && !ready => {
                    let reason = format!("no READY=1 within {:?} (start_timeout)", app.start_timeout);
                    self.kill_now(&exit).await;
                    break End::Failed(reason);
                }
                _ = sleep_until(watchdog_deadline), if !frozen => {
                    let reason = format!("watchdog: no WATCHDOG=1 within {:?}", app.watchdog.unwrap_or_default());
                    self.kill_now(&exit).await;
                    break End::Failed(reason);
                }
                _ = sleep_until(next_health), if !frozen && health_run.is_none() => {
                    if let Some(h) = &hc {
                        health_run = Some(Box::pin(run_healthcheck(self.sup.clone(), self.id.clone(), h.test.clone(), h.timeout)));
                    }
                }
                ok = async { health_run.as_mut().unwrap().await }, if health_run.is_some() => {
                    health_run = None;
                    let Some(h) = &hc else { continue };
                    next_health = tokio::time::Instant::now() + h.interval;
                    if ok {
                        health_failures = 0;
                        if !healthy {
                            healthy = true;
                            self.publish(|s| s.health = "healthy");
                            self.phase.send_replace(Phase::Running { ready, healthy });
                        }
                    } else if Instant::now() >= health_grace_until {
                        health_failures += 1;
                        if health_failures >= h.retries {
                            healthy = false;
                            self.publish(|s| s.health = "unhealthy");
                            self.phase.send_replace(Phase::Running { ready, healthy });
                            if app.restart != Restart::No {
                                self.kill_now(&exit).await;
                                break End::Failed(format!("unhealthy: {health_failures} failed healthchecks in a row"));
                            }
                        }
                    }
                }
            }
        };
        self.after_exit(&app, end, started_at)
    }

    /// A run stopped on purpose: recorded, not a failure.
    /// Before the daemon stops a container to start the app again, or for good (its file
    /// removed: a kill-then-download release stops it so): its init is no longer one to
    /// adopt. A daemon killed from here until the new init is recorded leaves a container
    /// the next one deletes, and an app it starts afresh, instead of an app whose end counts
    /// as a failure (and, with `restart = "no"`, stays down). Found by the release kill trials.
    fn stopping_on_purpose(&mut self) {
        self.record.process = None;
        self.save();
    }

    fn stopped(&mut self, end: End) {
        let text = describe(&end);
        let _ = self.sup.rt.delete(&self.id, true);
        self.record.process = None;
        self.record.last_exit = text.clone();
        self.save();
        self.publish(|s| {
            s.state = State::Stopped;
            s.pid = 0;
            s.last_exit = text;
            s.health = "";
            s.reason.clear();
        });
        self.phase.send_replace(Phase::Down);
    }

    async fn wait_dependencies(
        &mut self,
        app: &App,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Option<Next> {
        for dep in &app.depends_on {
            let phase = {
                let apps = self.sup.apps.lock().unwrap();
                apps.get(&dep.name).map(|h| h.phase.clone())
            };
            let Some(mut phase) = phase else {
                if dep.required {
                    self.fail(format!("depends on {}, which has no app file", dep.name));
                    return Some(Next::Idle);
                }
                continue;
            };
            loop {
                let now = *phase.borrow_and_update();
                let met = match (dep.condition, now) {
                    (_, Phase::Failed) if !dep.required => true,
                    (_, Phase::Failed) => {
                        self.fail(format!("dependency {} failed", dep.name));
                        return Some(Next::Idle);
                    }
                    (Condition::ServiceStarted, Phase::Running { .. } | Phase::Completed(_)) => {
                        true
                    }
                    (Condition::ServiceHealthy, Phase::Running { healthy, .. }) => healthy,
                    (Condition::Ready, Phase::Running { ready, .. }) => ready,
                    (Condition::ServiceCompletedSuccessfully, Phase::Completed(true)) => true,
                    (Condition::ServiceCompletedSuccessfully, Phase::Completed(false)) => {
                        self.fail(format!(
                            "dependency {} did not complete successfully",
                            dep.name
                        ));
                        return Some(Next::Idle);
                    }
                    _ => false,
                };
                if met {
                    break;
                }
                tokio::select! {
                    changed = phase.changed() => {
                        if changed.is_err() {
                            // The dependency's app was removed.
                            if dep.required {
                                self.fail(format!("depends on {}, which was removed", dep.name));
                                return Some(Next::Idle);
                            }
                            break;
                        }
                    }
                    cmd = rx.recv() => match cmd.map(|c| self.absorb(c)) {
                        None => return Some(Next::Exit),
                        Some(None) | Some(Some(Command::SetEnabled(..))) => {}
                        Some(Some(cmd)) => match cmd {
                        Command::Stop(reply) => {
                            self.stop_outgoing().await;
                            self.record.stopped_by_user = true;
                            self.save();
                            self.set_state(State::Stopped);
                            let _ = reply.send(Ok(()));
                            return Some(Next::Idle);
                        }
                        Command::Shutdown(reply) => {
                            self.set_state(State::Stopped);
                            let _ = reply.send(Ok(()));
                            return Some(Next::Exit);
                        }
                        Command::Start(reply) | Command::Restart(reply) => {
                            let _ = reply.send(Ok(()));
                        }
                        Command::Kill(_, reply) | Command::Freeze(reply) | Command::Thaw(reply) => {
                            let _ = reply.send(Err(format!("{} is waiting for {}", self.name, dep.name)));
                        }
                        Command::Reload(new) => {
                            let new = *new;
                            if let Some(o) = self.outgoing_running(&new) {
                                return Some(self.take_back(o, new).await);
                            }
                            let same = new.as_ref().is_ok_and(|n| same_run(n, app));
                            self.take_file(new);
                            if !same {
                                return Some(if self.app.is_ok() { Next::Run } else { Next::Idle });
                            }
                        }
                        Command::SetEnabled(..) => {}
                        }
                    }
                }
            }
        }
        None
    }

    /// Deletes the app's container if one is there; a failure is logged, and the create that
    /// follows reports the id as taken.
    fn delete_leftover(&self) {
        if let Err(e) = self.sup.rt.delete(&self.id, true) {
            tracing::warn!(
                "{}: container {} not deleted: {}",
                self.name,
                self.id,
                runtime::one_line(&e)
            );
        }
    }

    /// `davit create` of the app's container, through the launcher.
    async fn create(
        &self,
        root: &str,
        bundle_dir: &std::path::Path,
    ) -> Result<crate::launcher::Response, String> {
        let logs_dir = self.sup.logs_dir();
        self.sup
            .launcher
            .run(Request {
                id: 0,
                args: vec![
                    "--root".into(),
                    root.into(),
                    "create".into(),
                    "--bundle".into(),
                    bundle_dir.display().to_string(),
                    self.id.clone(),
                ],
                stdout: Some(logs::raw_path(&logs_dir, &self.name, "stdout")),
                stderr: Some(logs::raw_path(&logs_dir, &self.name, "stderr")),
                capture_stdout: false,
                report: true,
                timeout_ms: CREATE_TIMEOUT.as_millis() as u64,
            })
            .await
            .map_err(|e| format!("create: {e}"))
    }

    /// create + start through the launcher; the init's identity and a pidfd for it.
    async fn start_container(
        &mut self,
        app: &App,
        notify_dir: &std::path::Path,
    ) -> Result<(ProcessId, OwnedFd), String> {
        let bundle_dir = self.own_dir("bundles");
        let second = self.id != container_id(&self.name);
        bundle::write(app, &bundle_dir, app.notify.then_some(notify_dir), second)
            .map_err(|e| e.to_string())?;
        // A container left from an earlier run (a daemon killed mid-stop) would block the id.
        self.delete_leftover();
        let root = self.sup.opts.root.display().to_string();
        let mut created = self.create(&root, &bundle_dir).await?;
        let taken = created.report.as_ref().and_then(|r| r.error_kind())
            == Some(runtime::ErrorKind::AlreadyExists);
        if taken {
            // A create the last daemon had under way when it died can claim the id after the
            // delete above (its children die with it, a moment later): its container goes,
            // once that create has let go of it, and ours is made again.
            tracing::info!(
                "{}: container {} was taken: deleting it",
                self.name,
                self.id
            );
            self.delete_leftover();
            created = self.create(&root, &bundle_dir).await?;
        }
        let pid = match (&created.report, created.success()) {
            (
                Some(runtime::forking::Report::Ok {
                    process: Some(p), ..
                }),
                true,
            ) => *p,
            _ => {
                let _ = self.sup.rt.delete(&self.id, true);
                return Err(format!("create: {}", created.failure()));
            }
        };
        let fd = match pid.open_pidfd() {
            Ok(Some(fd)) => fd,
            Ok(None) => {
                let _ = self.sup.rt.delete(&self.id, true);
                return Err("create: the container's init died before it was started".into());
            }
            Err(e) => {
                let _ = self.sup.rt.delete(&self.id, true);
                return Err(format!("pidfd of the init: {e}"));
            }
        };
        let started = self
            .sup
            .launcher
            .run(Request {
                id: 0,
                args: vec!["--root".into(), root, "start".into(), self.id.clone()],
                stdout: None,
                stderr: None,
                capture_stdout: false,
                report: false,
                timeout_ms: CREATE_TIMEOUT.as_millis() as u64,
            })
            .await
            .map_err(|e| format!("start: {e}"))?;
        if !started.success() {
            let _ = self.sup.rt.delete(&self.id, true);
            let _ = runtime::try_wait(fd.as_fd());
            return Err(format!("start: {}", started.failure()));
        }
        Ok((pid, fd))
    }

    /// stop_signal, the grace period, then SIGKILL to every process; the exit, reaped.
    async fn stop_container(&mut self, app: &App, exit: &AsyncFd<OwnedFd>, frozen: bool) -> End {
        self.set_state(State::Stopping);
        stop_gracefully(&self.sup, &self.name, &self.id, app, exit, frozen).await;
        reap(exit)
    }

    async fn kill_now(&self, exit: &AsyncFd<OwnedFd>) {
        kill_now(&self.sup, &self.id, exit).await;
    }

    /// This container's own directory under `STATE/KIND`: `NAME` for the first container,
    /// `NAME@2` for the second (`@` is no app name's).
    fn own_dir(&self, kind: &str) -> PathBuf {
        let dir = self.sup.opts.state_dir.join(kind);
        if self.id == container_id(&self.name) {
            dir.join(&self.name)
        } else {
            dir.join(format!("{}@2", self.name))
        }
    }

    // ---- hand-over ----

    /// The old version of a hand-over, when `new` is the file it runs from: a rollback.
    fn outgoing_running(&mut self, new: &Result<App, String>) -> Option<Outgoing> {
        let back = matches!((new, &self.outgoing), (Ok(n), Some(o)) if same_run(n, &o.app));
        if back { self.outgoing.take() } else { None }
    }

    /// Takes the old version of a hand-over back, as it runs, with its file `app`; one that
    /// ended meanwhile starts afresh.
    async fn take_back(&mut self, o: Outgoing, app: Result<App, String>) -> Next {
        let id = o.id.clone();
        let back = o.give_back().await;
        self.take_file(app);
        match back {
            Some(running) => {
                tracing::info!(
                    "{}: took back its old version ({id}, pid {})",
                    self.name,
                    running.pid.pid
                );
                self.id = id;
                Next::Adopt(running)
            }
            None if self.app.is_ok() && self.status.lock().unwrap().enabled => Next::Run,
            None => Next::Idle,
        }
    }

    async fn stop_outgoing(&mut self) {
        if let Some(o) = self.outgoing.take() {
            o.stop().await;
        }
    }

    /// After a run ended by itself (or failed a check): restart, give up, or rest.
    fn after_exit(&mut self, app: &App, end: End, started_at: Instant) -> Next {
        let _ = self.sup.rt.delete(&self.id, true);
        let failure = !matches!(end, End::Status(ExitStatus::Exited(0)));
        let text = describe(&end);
        tracing::info!("{}: {text}", self.name);
        self.record.process = None;
        self.record.last_exit = text.clone();
        if started_at.elapsed() >= STABLE_RUN {
            self.streak = 0;
        }
        self.publish(|s| {
            s.pid = 0;
            s.last_exit = text.clone();
            s.health = "";
        });
        if failure && let Some(cl) = app.crash_loop {
            let now = Instant::now();
            self.failures.push_back(now);
            while self
                .failures
                .front()
                .is_some_and(|t| now.duration_since(*t) > cl.window)
            {
                self.failures.pop_front();
            }
            if self.failures.len() as u32 >= cl.failures {
                self.save();
                self.fail(format!(
                    "crash loop: {} failures within {:?} (last: {text})",
                    self.failures.len(),
                    cl.window
                ));
                return Next::Idle;
            }
        }
        let restart = match app.restart {
            Restart::No => false,
            Restart::OnFailure { max_retries } => {
                failure && max_retries.is_none_or(|m| self.streak < m)
            }
            Restart::Always | Restart::UnlessStopped => true,
        };
        self.save();
        if restart {
            let delay = backoff_delay(app.backoff.initial, app.backoff.max, self.streak);
            self.streak += 1;
            self.phase.send_replace(Phase::Down);
            return Next::Backoff(delay);
        }
        if failure && matches!(end, End::Failed(_)) {
            self.fail(text);
        } else {
            self.set_state(State::Exited);
            self.phase.send_replace(Phase::Completed(!failure));
        }
        Next::Idle
    }
}

/// Whether a reloaded file asks for the same run: `enabled` only matters at the next boot.
fn same_run(a: &App, b: &App) -> bool {
    App {
        enabled: a.enabled,
        ..b.clone()
    } == *a
}

pub(super) fn describe(end: &End) -> String {
    match end {
        End::Status(ExitStatus::Exited(c)) => format!("exited {c}"),
        End::Status(ExitStatus::Signaled(s)) => format!("signal {s}"),
        End::Unknown => "unknown".into(),
        End::Failed(reason) => reason.clone(),
    }
}

/// stop_signal, the grace period, then SIGKILL to every process of container `id`.
pub(super) async fn stop_gracefully(
    sup: &Supervisor,
    name: &str,
    id: &str,
    app: &App,
    exit: &AsyncFd<OwnedFd>,
    frozen: bool,
) {
    if frozen {
        let _ = sup.rt.resume(id);
    }
    let sig = nix::sys::signal::Signal::try_from(app.stop_signal.number())
        .unwrap_or(nix::sys::signal::Signal::SIGTERM);
    let _ = sup.rt.kill(id, runtime::Signal::from(sig), false);
    if tokio::time::timeout(app.stop_grace_period, exit.readable())
        .await
        .is_err()
    {
        tracing::info!(
            "{name}: still running after {:?}: SIGKILL",
            app.stop_grace_period
        );
        kill_now(sup, id, exit).await;
    }
}

async fn kill_now(sup: &Supervisor, id: &str, exit: &AsyncFd<OwnedFd>) {
    let _ = sup.rt.kill(id, runtime::Signal::KILL, true);
    let _ = tokio::time::timeout(KILL_WAIT, exit.readable()).await;
}

pub(super) fn reap(exit: &AsyncFd<OwnedFd>) -> End {
    match runtime::try_wait(exit.get_ref().as_fd()) {
        Ok(Some(s)) => End::Status(s),
        _ => End::Unknown,
    }
}

/// initial x 2^streak, capped, +-10 % so that apps failing together do not restart together.
fn backoff_delay(initial: Duration, max: Duration, streak: u32) -> Duration {
    let base = initial
        .checked_mul(1u32.checked_shl(streak.min(30)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = (nanos % 201) as f64 / 1000.0 - 0.1;
    base.mul_f64(1.0 + jitter)
}

fn bind_notify(dir: &std::path::Path) -> std::io::Result<UnixDatagram> {
    std::fs::create_dir_all(dir)?;
    let path: PathBuf = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path)?;
    // Container users of any uid must be able to send.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))?;
    Ok(sock)
}

async fn recv_notify(sock: Option<&UnixDatagram>, buf: &mut [u8]) -> Option<String> {
    match sock {
        Some(s) => match s.recv(buf).await {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

async fn run_healthcheck(
    sup: Arc<Supervisor>,
    id: String,
    test: HealthTest,
    timeout: Duration,
) -> bool {
    let mut args = vec![
        "--root".to_owned(),
        sup.opts.root.display().to_string(),
        "exec".into(),
        id,
    ];
    match test {
        HealthTest::Cmd(argv) => args.extend(argv),
        HealthTest::Shell(cmd) => args.extend(["/bin/sh".to_owned(), "-c".to_owned(), cmd]),
    }
    let r = sup
        .launcher
        .run(Request {
            id: 0,
            args,
            stdout: None,
            stderr: None,
            capture_stdout: true,
            report: false,
            timeout_ms: timeout.as_millis() as u64,
        })
        .await;
    matches!(r, Ok(resp) if resp.outcome == Outcome::Exited(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_its_cap() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(1));
        for (streak, want) in [
            (0u32, 100u64),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            let d = backoff_delay(i, m, streak).as_millis() as u64;
            assert!(
                d >= want * 9 / 10 && d <= want * 11 / 10,
                "streak {streak}: {d} ms"
            );
        }
    }
}
