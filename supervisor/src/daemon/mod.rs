//! `davit supervise`: one process, one current-thread event loop, every app of the board.
//!
//! Each app is a task ([`lifecycle`]) that owns its container; the API and the boot and
//! shutdown sequences talk to it through its command channel and read what it publishes
//! ([`AppStatus`], and a [`Phase`] its dependents wait on).

mod bundle;
mod handover;
mod lifecycle;
mod logs;
mod record;
pub mod release;
mod watchdog;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use crate::app::{self, App, AppFileError};
use crate::launcher::{self, Launcher};
pub use lifecycle::{Command, Reply};
use record::Records;

/// Container ids of apps: `app.NAME`, so that the daemon knows its own among the runtime's,
/// and `app2.NAME`: a hand-over starts the new version beside the old one, in the other of
/// the two.
pub const CONTAINER_PREFIXES: [&str; 2] = ["app.", "app2."];

/// The app's first container id.
pub fn container_id(app: &str) -> String {
    format!("{}{app}", CONTAINER_PREFIXES[0])
}

/// The app's container id that is not `id`.
pub fn other_container(app: &str, id: &str) -> String {
    let first = container_id(app);
    if id == first {
        format!("{}{app}", CONTAINER_PREFIXES[1])
    } else {
        first
    }
}

/// The app a container id of ours belongs to.
pub fn app_of_container(id: &str) -> Option<&str> {
    CONTAINER_PREFIXES.iter().find_map(|p| id.strip_prefix(p))
}

#[derive(Debug, Clone)]
pub struct Options {
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
    /// The runtime's state root.
    pub root: PathBuf,
    /// Where the peer-to-peer API listens; `None`: nowhere.
    pub socket: Option<PathBuf>,
    pub bus: Bus,
    /// Members may call mutating methods (root always may).
    pub group: Option<String>,
    pub watchdog_device: Option<PathBuf>,
    pub watchdog_timeout: Duration,
    /// davit's own filter (seccomp-profiles/davit.json), loaded after the launcher is forked;
    /// `None` runs unconfined.
    pub seccomp: Option<seccomp_profiles::Mode>,
    /// The releases as the update engine left them (current, previous, factory), shown until
    /// an installer reports.
    pub release: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bus {
    /// The system bus if there is one (a warning if not).
    System,
    None,
    Address(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Launcher(#[from] launcher::LauncherError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("D-Bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error("{0}")]
    Usage(String),
    #[error("confining the daemon: {0}")]
    Seccomp(#[from] seccomp_profiles::Error),
}

impl DaemonError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        DaemonError::Io {
            what: what.into(),
            source,
        }
    }
}

/// What an app shows the world.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AppStatus {
    pub name: String,
    pub state: State,
    /// Empty without a healthcheck.
    pub health: &'static str,
    /// 0 while no process runs.
    pub pid: u32,
    pub restarts: u32,
    pub last_exit: String,
    pub reason: String,
    pub enabled: bool,
    /// The last STATUS= the app sent.
    pub status_text: String,
    /// When the state last changed, µs since the epoch.
    pub since: u64,
    /// The bundle of the app's latest run (set as it starts): which version runs, or ran.
    pub bundle: String,
    /// The container of that run (see [`CONTAINER_PREFIXES`]).
    pub container: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Waiting,
    Starting,
    Running,
    Frozen,
    Stopping,
    Restarting,
    Stopped,
    Exited,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Frozen => "frozen",
            State::Stopping => "stopping",
            State::Restarting => "restarting",
            State::Stopped => "stopped",
            State::Exited => "exited",
            State::Failed => "failed",
        }
    }
}

/// Where an app is, as its dependents see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Down,
    Running {
        ready: bool,
        healthy: bool,
    },
    /// Ended, and not restarting; `true` for exit 0.
    Completed(bool),
    Failed,
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// An app as the rest of the daemon holds it.
pub struct AppHandle {
    pub status: Arc<Mutex<AppStatus>>,
    pub tx: mpsc::UnboundedSender<Command>,
    pub phase: watch::Receiver<Phase>,
    pub logs: Arc<Mutex<app::Logs>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for AppHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Changes the API must pass on.
#[derive(Debug, Clone)]
pub enum Event {
    Added(String),
    Changed(String),
    Removed(String),
    /// The release properties changed.
    Release,
}

/// Everything the apps and the API share.
pub struct Supervisor {
    pub opts: Options,
    pub rt: runtime::Runtime,
    pub launcher: Launcher,
    pub apps: Mutex<BTreeMap<String, AppHandle>>,
    pub events: mpsc::UnboundedSender<Event>,
    release: Mutex<release::ReleaseStatus>,
    records: Records,
    log_watcher: Arc<logs::Watcher>,
    /// Serializes reloads and shutdown.
    admin: tokio::sync::Mutex<()>,
}

impl Supervisor {
    pub fn logs_dir(&self) -> PathBuf {
        self.opts.state_dir.join("logs")
    }

    pub fn status(&self, name: &str) -> Option<AppStatus> {
        let apps = self.apps.lock().unwrap();
        apps.get(name).map(|h| h.status.lock().unwrap().clone())
    }

    pub fn list(&self) -> Vec<AppStatus> {
        let apps = self.apps.lock().unwrap();
        apps.values()
            .map(|h| h.status.lock().unwrap().clone())
            .collect()
    }

    /// Sends a command to an app and waits for its answer.
    pub async fn ask(
        &self,
        name: &str,
        make: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Command,
    ) -> Result<(), String> {
        let rx = self.send(name, make)?;
        rx.await
            .unwrap_or_else(|_| Err(format!("app {name} is being removed")))
    }

    /// Sends a command to an app; its answer comes on the receiver.
    fn send(
        &self,
        name: &str,
        make: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Command,
    ) -> Result<oneshot::Receiver<Result<(), String>>, String> {
        let (tx, rx) = oneshot::channel();
        let apps = self.apps.lock().unwrap();
        let h = apps.get(name).ok_or_else(|| format!("no app {name}"))?;
        h.tx.send(make(tx))
            .map_err(|_| format!("app {name} is being removed"))?;
        Ok(rx)
    }

    /// The last `n` lines of an app's log.
    pub fn logs(&self, name: &str, n: usize) -> Result<String, String> {
        let files = {
            let apps = self.apps.lock().unwrap();
            let h = apps.get(name).ok_or_else(|| format!("no app {name}"))?;
            h.logs.lock().unwrap().files
        };
        logs::tail(&self.logs_dir(), name, files, n).map_err(|e| e.to_string())
    }

    /// Bytes of memory the app's cgroup uses now, 0 when unknown.
    pub fn memory(&self, name: &str) -> u64 {
        let Some(id) = self.status(name).map(|s| s.container) else {
            return 0;
        };
        let Ok(state) = self.rt.state(&id) else {
            return 0;
        };
        let Some(cg) = cgroup_of(&state.bundle) else {
            return 0;
        };
        let cg = cg.trim_start_matches('/');
        let candidates = [
            format!("/sys/fs/cgroup/{cg}/memory.current"),
            format!("/sys/fs/cgroup/memory/{cg}/memory.usage_in_bytes"),
        ];
        candidates
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn cgroup_of(bundle: &Path) -> Option<String> {
    let text = std::fs::read(bundle.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v["linux"]["cgroupsPath"].as_str().map(str::to_owned)
}

/// Runs the daemon until SIGTERM or SIGINT. Must be called while the process has one thread:
/// it forks the launcher first.
pub fn supervise(opts: Options) -> Result<(), DaemonError> {
    let _lock = lock_state_dir(&opts.state_dir)?;
    // Before the launcher: inits orphaned below it must come to us.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| DaemonError::io("PR_SET_CHILD_SUBREAPER", e.into()))?;
    let spawned = launcher::fork_launcher()?;
    // Reads and clears systemd's variables while the process has one thread.
    let dog = watchdog::Watchdog::open(&opts)?;
    // From here on the daemon runs under its own filter; the launcher, forked before, does not
    // (the davit children it spawns mount, pivot_root and unshare).
    if let Some(mode) = opts.seccomp {
        seccomp_profiles::confine_self(mode)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // zbus does its authentication's blocking calls (SO_PEERCRED, a passwd lookup) on
        // tokio's blocking pool: one thread for that, gone a second after, so that the daemon
        // idles with its one thread.
        .max_blocking_threads(1)
        .thread_keep_alive(Duration::from_secs(1))
        .build()
        .map_err(|e| DaemonError::io("starting the event loop", e))?;
    rt.block_on(run(opts, spawned, dog))
}

/// One daemon per state directory: a second one would adopt, restart and stop the first
/// one's apps behind its back. The lock dies with the process and its launcher, which shares
/// it and dies of the daemon's death a moment later: a daemon restarted at once after a
/// crash (systemd's Restart=) waits that moment out, up to [`LOCK_WAIT`], before refusing.
fn lock_state_dir(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, DaemonError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| DaemonError::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join("supervise.lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| DaemonError::io(format!("opening {}", path.display()), e))?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if std::time::Instant::now() < deadline => {
                file = f;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(DaemonError::Usage(format!(
                    "another davit supervise is running with state directory {}",
                    dir.display()
                )));
            }
            Err((_, e)) => {
                return Err(DaemonError::io(
                    format!("locking {}", path.display()),
                    e.into(),
                ));
            }
        }
    }
}

/// How long a starting daemon waits for the state directory's lock (see [`lock_state_dir`]).
const LOCK_WAIT: Duration = Duration::from_secs(3);

async fn run(
    opts: Options,
    spawned: launcher::Spawned,
    mut dog: watchdog::Watchdog,
) -> Result<(), DaemonError> {
    for dir in [
        opts.state_dir.clone(),
        opts.state_dir.join("logs"),
        opts.state_dir.join("apps"),
    ] {
        std::fs::create_dir_all(&dir)
            .map_err(|e| DaemonError::io(format!("creating {}", dir.display()), e))?;
    }
    // Records whose save a power cut stopped before its rename; only this daemon writes them.
    let records = opts.state_dir.join("apps");
    if let Err(e) = runtime::remove_write_temps(&records) {
        tracing::warn!(
            "removing the temporaries of cut writes in {}: {e}",
            records.display()
        );
    }
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let sup = Arc::new(Supervisor {
        rt: runtime::Runtime::new(&opts.root),
        launcher: Launcher::new(spawned)
            .map_err(|e| DaemonError::io("the launcher's socket", e))?,
        apps: Mutex::new(BTreeMap::new()),
        events: events_tx,
        release: Mutex::new(release::ReleaseStatus {
            fields: opts.release.clone(),
            ..Default::default()
        }),
        records: Records::new(&opts.state_dir),
        log_watcher: Arc::new(logs::Watcher::new().map_err(|e| DaemonError::io("inotify", e))?),
        admin: tokio::sync::Mutex::new(()),
        opts,
    });
    {
        let w = sup.log_watcher.clone();
        tokio::spawn(async move { w.run().await });
    }
    let api = crate::api::server::serve(sup.clone(), events_rx).await?;

    sup.reload(None, true).await;
    dog.ready();
    tracing::info!("supervising {} apps", sup.apps.lock().unwrap().len());

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| DaemonError::io("SIGTERM handler", e))?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| DaemonError::io("SIGINT handler", e))?;
    let launcher_gone = sup.launcher.pump();
    tokio::pin!(launcher_gone);
    let mut pet = tokio::time::interval(dog.interval());
    // Booting, restarts and API calls leave freed heap behind; a board should not keep it
    // dirty for the daemon's whole life. First shortly after boot, then now and then.
    let mut trim = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(5),
        Duration::from_secs(60),
    );
    let launcher_died = loop {
        tokio::select! {
            _ = trim.tick() => {
                // SAFETY: malloc_trim only releases free heap memory; no pointer is passed.
                unsafe {
                    nix::libc::malloc_trim(0);
                }
            }
            _ = term.recv() => break None,
            _ = int.recv() => break None,
            _ = pet.tick() => dog.pet(),
            e = &mut launcher_gone => break Some(e),
        }
    };
    match &launcher_died {
        Some(e) => tracing::error!("the launcher died ({e}); stopping the apps"),
        None => {
            tracing::info!("stopping the apps");
            dog.stopping();
        }
    }
    // Stopping may take each app's grace period, wave after wave: the watchdog is still
    // petted meanwhile, or an orderly stop would reboot the board.
    let shutdown = sup.shutdown();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = pet.tick() => dog.pet(),
        }
    }
    drop(api);
    match launcher_died {
        Some(e) => Err(e.into()),
        None => {
            dog.close();
            Ok(())
        }
    }
}

impl Supervisor {
    /// Reads the config directory (all of it, or one app's file) and brings the apps in line:
    /// new apps are added (and started if enabled), changed ones take their new file, removed
    /// ones are stopped and forgotten. At boot, containers of apps that still run are adopted.
    pub async fn reload(self: &Arc<Self>, only: Option<&str>, boot: bool) {
        let _admin = self.admin.lock().await;
        let (mut loaded, bad) = app::load_dir(&self.opts.config_dir);
        for e in &bad {
            tracing::warn!("{}", error_chain(e));
        }
        // Enable/Disable over the API take the place of the file's `enabled`, before the boot
        // order pulls in dependencies.
        for a in &mut loaded {
            if let Ok(record::Record {
                enabled: Some(e), ..
            }) = self.records.load(&a.name)
            {
                a.enabled = e;
            }
        }
        let plan = app::plan(&loaded, &bad);
        let boot_set: Vec<String> = plan.boot(&loaded).into_iter().flatten().collect();

        let mut wanted: BTreeMap<String, Result<App, String>> = BTreeMap::new();
        for a in &loaded {
            let result = match plan.failed.get(&a.name) {
                Some(e) => Err(e.to_string()),
                None => Ok(a.clone()),
            };
            wanted.insert(a.name.clone(), result);
        }
        for e in &bad {
            if let Some(name) = e.app() {
                wanted.entry(name).or_insert_with(|| Err(error_chain(e)));
            }
        }
        if boot {
            self.remove_strays(&wanted);
        }
        let names: Vec<String> = match only {
            Some(n) => vec![n.to_owned()],
            None => {
                let mut all: Vec<String> = wanted.keys().cloned().collect();
                all.extend(self.apps.lock().unwrap().keys().cloned());
                all.sort();
                all.dedup();
                all
            }
        };
        // Removals first: they wait for the apps to stop. The rest is done without yielding
        // to the event loop, so no new app's task runs before every app it may depend on
        // has been added.
        let exists = |name: &str| self.apps.lock().unwrap().contains_key(name);
        for name in names
            .iter()
            .filter(|n| !wanted.contains_key(*n) && exists(n))
        {
            self.remove(name).await;
        }
        for name in names {
            let Some(app) = wanted.remove(&name) else {
                continue;
            };
            if exists(&name) {
                let tx = self.apps.lock().unwrap().get(&name).map(|h| h.tx.clone());
                if let Some(tx) = tx {
                    let _ = tx.send(Command::Reload(Box::new(app)));
                }
            } else {
                let start =
                    boot_set.contains(&name) || (!boot && app.as_ref().is_ok_and(|a| a.enabled));
                self.add(name, app, start, boot);
            }
        }
    }

    fn add(self: &Arc<Self>, name: String, app: Result<App, String>, start: bool, boot: bool) {
        let record = match self.records.load(&name) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("{e}: starting {name} afresh");
                Default::default()
            }
        };
        let enabled = match &app {
            Ok(a) => a.enabled,
            Err(_) => record.enabled.unwrap_or(false),
        };
        let logs_limits = Arc::new(Mutex::new(app.as_ref().map(|a| a.logs).unwrap_or_default()));
        let status = Arc::new(Mutex::new(AppStatus {
            name: name.clone(),
            state: State::Stopped,
            health: "",
            pid: 0,
            restarts: record.restarts,
            last_exit: record.last_exit.clone(),
            reason: String::new(),
            enabled,
            status_text: String::new(),
            since: now_us(),
            bundle: String::new(),
            container: String::new(),
        }));
        let (tx, rx) = mpsc::unbounded_channel();
        let (phase_tx, phase_rx) = watch::channel(Phase::Down);
        let pump = tokio::spawn(logs::pump(
            self.log_watcher.clone(),
            self.logs_dir(),
            name.clone(),
            logs_limits.clone(),
        ));
        // Unless-stopped apps a user stopped stay down.
        let start = start
            && !(record.stopped_by_user
                && app
                    .as_ref()
                    .is_ok_and(|a| a.restart == app::Restart::UnlessStopped));
        let life = lifecycle::AppTask::new(
            self.clone(),
            name.clone(),
            app,
            record,
            status.clone(),
            phase_tx,
            logs_limits.clone(),
        );
        let task = tokio::spawn(life.run(rx, start, boot));
        self.apps.lock().unwrap().insert(
            name.clone(),
            AppHandle {
                status,
                tx,
                phase: phase_rx,
                logs: logs_limits,
                tasks: vec![task, pump],
            },
        );
        let _ = self.events.send(Event::Added(name));
    }

    async fn remove(&self, name: &str) {
        let _ = self.ask(name, Command::Shutdown).await;
        self.apps.lock().unwrap().remove(name);
        self.records.remove(name);
        let _ = self.events.send(Event::Removed(name.to_owned()));
    }

    /// Containers named like ours whose app no file names: stopped and deleted.
    fn remove_strays(&self, wanted: &BTreeMap<String, Result<App, String>>) {
        let Ok(listed) = self.rt.list() else { return };
        for l in listed {
            let id = l.id();
            let Some(name) = app_of_container(id) else {
                continue;
            };
            if wanted.contains_key(name) {
                continue;
            }
            tracing::info!("removing container {id}: no app file names {name} any more");
            if let Err(e) = self.rt.delete(id, true) {
                tracing::warn!("deleting {id}: {}", runtime::one_line(&e));
            }
            self.records.remove(name);
        }
    }

    /// Stops every app, dependents before their dependencies.
    pub async fn shutdown(self: &Arc<Self>) {
        let _admin = self.admin.lock().await;
        let (loaded, bad) = app::load_dir(&self.opts.config_dir);
        let plan = app::plan(&loaded, &bad);
        let mut waves = plan.stop.clone();
        // Apps whose files changed since: stopped last, together.
        let known: Vec<String> = waves.iter().flatten().cloned().collect();
        let rest: Vec<String> = self
            .apps
            .lock()
            .unwrap()
            .keys()
            .filter(|n| !known.contains(n))
            .cloned()
            .collect();
        waves.push(rest);
        for wave in waves {
            // All of a wave at once, then wait for all of it.
            let pending: Vec<_> = wave
                .iter()
                .map(|name| self.send(name, Command::Shutdown))
                .collect();
            for rx in pending {
                let r = match rx {
                    Ok(rx) => rx.await.unwrap_or(Ok(())),
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    tracing::warn!("{e}");
                }
            }
        }
    }

    fn save_record(&self, name: &str, record: &record::Record) {
        if let Err(e) = self.records.save(name, record) {
            tracing::warn!("saving the state of {name}: {e}");
        }
    }
}

/// An error with its causes, on one line.
pub fn error_chain(e: &AppFileError) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
