//! The supervisor's test bench: a private system-like D-Bus (`dbus-daemon`), a `davit
//! supervise` with its own config, state and runtime root, app bundles that share a host
//! directory with the test, and the ways the tests look at it: the client (`davit app`),
//! `busctl`, a bus monitor with timestamps, and the host itself (/proc, cgroups, files).
//!
//! Everything is per test: tests run in parallel, each with its own bus, daemon, socket,
//! runtime root and cgroups. Every wait is bounded; a test that fails leaves nothing running
//! (see `Drop for Daemon`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::common::*;

/// The D-Bus name and paths of the API (supervisor/README.md, "The D-Bus API").
pub const SERVICE: &str = "org.davit.Supervisor1";
pub const MANAGER_PATH: &str = "/org/davit/Supervisor1";
pub const MANAGER_IFACE: &str = "org.davit.Supervisor1";
pub const APP_IFACE: &str = "org.davit.Supervisor1.App";

/// Who runs a command: uid, gid, supplementary groups.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'static [u32],
}

/// The unprivileged caller of the access tests: nobody, with no supplementary groups.
pub const NOBODY: Caller = Caller {
    uid: 65534,
    gid: 65534,
    groups: &[],
};

/// Bounds of the harness's own waits.
const BUS_START_SECS: u64 = 10;
const DAEMON_START_SECS: u64 = 20;
const COMMAND_SECS: u64 = 30;

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A string no other test (nor another run's leftovers) carries: for markers in command lines.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn tempdir(prefix: &str) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    // Traversable by everyone: the access tests connect to sockets in here as nobody.
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// The object path of app `name`: every byte outside [A-Za-z0-9] becomes `_` and two hex
/// digits, as systemd escapes unit names (`my-app` is `my_2dapp`).
pub fn app_path(name: &str) -> String {
    let mut p = format!("{MANAGER_PATH}/app/");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() {
            p.push(b as char);
        } else {
            p.push_str(&format!("_{b:02x}"));
        }
    }
    p
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The policy file davit ships for the system bus.
const SHIPPED_POLICY: &str = include_str!("../../supervisor/dist/org.davit.Supervisor1.conf");

/// A private bus configured like Debian's system bus (its default policy: nothing may own a
/// name or call a method unless a service's file allows it; root may monitor), with the
/// policy file davit ships for its name. Killed on drop.
pub struct Bus {
    child: Child,
    _dir: tempfile::TempDir,
    /// `unix:path=...`, for `--bus`, `busctl --address` and `dbus-send --bus`.
    pub address: String,
}

impl Bus {
    pub fn start() -> Bus {
        let dir = tempdir("davit-bus");
        let socket = dir.path().join("bus.sock");
        let config = dir.path().join("bus.conf");
        let policy = dir.path().join("org.davit.Supervisor1.conf");
        fs::write(&policy, SHIPPED_POLICY).unwrap();
        fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={socket}</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
    <allow eavesdrop="true"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"#,
                socket = socket.display(),
                policy = policy.display(),
            ),
        )
        .unwrap();
        let out = dir.path().join("bus.out");
        let err = dir.path().join("bus.err");
        let child = Command::new("/usr/bin/dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address"])
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .expect("/usr/bin/dbus-daemon (Debian's dbus-daemon package)");
        let mut bus = Bus {
            child,
            address: format!("unix:path={}", socket.display()),
            _dir: dir,
        };
        // It prints its address once it listens.
        let deadline = Instant::now() + Duration::from_secs(BUS_START_SECS);
        while !fs::read_to_string(&out).is_ok_and(|s| s.contains('\n')) {
            if let Ok(Some(st)) = bus.child.try_wait() {
                panic!("dbus-daemon exited ({st}): {}", tail(&err, 20));
            }
            assert!(
                Instant::now() < deadline,
                "dbus-daemon did not listen within {BUS_START_SECS} s: {}",
                tail(&err, 20)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Connectable by nobody, whatever dbus-daemon's umask made of it.
        fs::set_permissions(&socket, fs::Permissions::from_mode(0o777)).unwrap();
        bus
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `busctl monitor --json=short` on a bus, started before the action it watches, killed on
/// drop. busctl flushes each message as it comes, with its `timestamp-realtime` (µs).
pub struct Monitor {
    child: Child,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Monitor {
    pub fn start(address: &str) -> Monitor {
        let dir = tempdir("davit-monitor");
        let out = dir.path().join("monitor.json");
        let err = dir.path().join("monitor.err");
        let child = Command::new("busctl")
            .arg(format!("--address={address}"))
            .args(["monitor", "--json=short"])
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let mut m = Monitor {
            child,
            out,
            _dir: dir,
        };
        // busctl says so once BecomeMonitor succeeded: from then on it sees every message.
        let deadline = Instant::now() + Duration::from_secs(BUS_START_SECS);
        while !fs::read_to_string(&err).is_ok_and(|s| s.contains("Monitoring bus message stream")) {
            if let Ok(Some(st)) = m.child.try_wait() {
                panic!("busctl monitor exited ({st}): {}", tail(&err, 20));
            }
            assert!(
                Instant::now() < deadline,
                "busctl monitor did not start: {}",
                tail(&err, 20)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        m
    }

    /// The messages seen so far (a line still being written is skipped).
    pub fn messages(&self) -> Vec<Value> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// (timestamp in µs, value) of property `prop` in every PropertiesChanged of app `name`
    /// that carries it.
    pub fn property(&self, name: &str, prop: &str) -> Vec<(u64, Value)> {
        let path = app_path(name);
        self.messages()
            .iter()
            .filter(|m| {
                m["type"] == "signal"
                    && m["member"] == "PropertiesChanged"
                    && m["interface"] == "org.freedesktop.DBus.Properties"
                    && m["path"] == path.as_str()
            })
            .filter_map(|m| {
                let v = m["payload"]["data"][1].get(prop)?["data"].clone();
                Some((m["timestamp-realtime"].as_u64()?, v))
            })
            .collect()
    }

    /// (timestamp in µs, State) of every PropertiesChanged of app `name` that carries State.
    pub fn states(&self, name: &str) -> Vec<(u64, String)> {
        self.property(name, "State")
            .into_iter()
            .filter_map(|(t, v)| Some((t, v.as_str()?.to_owned())))
            .collect()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `davit supervise` with its own directories, and the bundles of its apps.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
    /// The runtime root (`davit --root`): where the apps' containers live.
    pub root: PathBuf,
    pub socket: PathBuf,
    /// Bind-mounted read-write at `/shared` in every app the harness builds: what the apps
    /// write there, the test reads on the host.
    pub shared: PathBuf,
    /// `--group NAME`, if set before `start`.
    pub group: Option<String>,
    child: Option<Child>,
    bundles: BTreeMap<String, Bundle>,
    // Dropped after the daemon's own drop has stopped everything.
    bus: Option<Bus>,
}

impl Daemon {
    /// A daemon with no bus (`--bus none`): the API only on its socket.
    pub fn new() -> Daemon {
        let dir = tempdir("davit-sup");
        let sub = |n: &str| {
            let p = dir.path().join(n);
            fs::create_dir(&p).unwrap();
            p
        };
        let config_dir = sub("apps");
        let state_dir = sub("state");
        let root = sub("root");
        let shared = sub("shared");
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        Daemon {
            socket: dir.path().join("supervisor.sock"),
            config_dir,
            state_dir,
            root,
            shared,
            group: None,
            child: None,
            bundles: BTreeMap::new(),
            bus: None,
            dir,
        }
    }

    /// A daemon on its own private bus (`--bus unix:path=...`).
    pub fn with_bus() -> Daemon {
        let mut d = Daemon::new();
        d.bus = Some(Bus::start());
        d
    }

    pub fn bus_address(&self) -> &str {
        &self.bus.as_ref().expect("a daemon with_bus()").address
    }

    /// A monitor on this daemon's bus, seeing everything from now on.
    pub fn monitor(&self) -> Monitor {
        Monitor::start(self.bus_address())
    }

    /// Builds a busybox bundle running `sh -c SCRIPT` with the shared directory at /shared,
    /// kept (and its cgroup `/davit-test/<id>` known) under `name`. Returns its path.
    pub fn bundle(&mut self, name: &str, script: &str) -> PathBuf {
        let b = Bundle::new(&["sh", "-c", script]);
        fs::create_dir_all(b.path().join("rootfs/shared")).unwrap();
        let shared = self.shared.clone();
        b.edit(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/shared",
                "type": "bind",
                "source": shared,
                "options": ["rbind", "rw"],
            }))
        });
        let path = b.path().to_owned();
        self.bundles.insert(name.to_owned(), b);
        path
    }

    /// The bundle built for app `name`.
    pub fn bundle_of(&self, name: &str) -> &Bundle {
        &self.bundles[name]
    }

    /// Builds app `name`'s bundle (see [`Daemon::bundle`]) and writes `NAME.toml`: line 1 is
    /// `bundle = "..."`, `extra` follows from line 2.
    pub fn add_app(&mut self, name: &str, script: &str, extra: &str) -> &Bundle {
        let path = self.bundle(name, script);
        self.write_app(name, &format!("bundle = {path:?}\n{extra}"));
        &self.bundles[name]
    }

    /// Writes `NAME.toml` whole, atomically (a hidden file renamed: the daemon ignores
    /// hidden files).
    pub fn write_app(&self, name: &str, text: &str) {
        let tmp = self.config_dir.join(format!(".{name}.toml.tmp"));
        fs::write(&tmp, text).unwrap();
        fs::rename(&tmp, self.config_dir.join(format!("{name}.toml"))).unwrap();
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// The end of the daemon's stdout and stderr, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log_path(), 40)
    }

    /// Starts `davit --root ROOT supervise ...` and waits until its API answers: `davit app
    /// list` on the socket and, with a bus, its name owned there.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the daemon already runs");
        // Appended: a daemon started again keeps writing after the first one's lines.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut c = Command::new(davit_bin());
        c.arg("--root")
            .arg(&self.root)
            .arg("supervise")
            .arg("--config-dir")
            .arg(&self.config_dir)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--bus")
            .arg(match &self.bus {
                Some(b) => b.address.as_str(),
                None => "none",
            });
        if let Some(g) = &self.group {
            c.arg("--group").arg(g);
        }
        // Files, never pipes: nothing of the test's stdio reaches the daemon or its apps.
        c.env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(c.spawn().unwrap());

        let deadline = Instant::now() + Duration::from_secs(DAEMON_START_SECS);
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!("davit supervise exited ({st}):\n{}", self.log_tail());
            }
            let probe = output_within(self.client(&["list"]), 5, "davit app list (start)");
            let listed = probe.status.success();
            let named = self.bus.is_none() || self.name_owned();
            if listed && named {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "davit supervise did not answer within {DAEMON_START_SECS} s (socket: {listed}, \
                 bus name: {named}):\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn name_owned(&self) -> bool {
        let out = self.busctl(&[
            "--json=short",
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameHasOwner",
            "s",
            SERVICE,
        ]);
        out.status.success()
            && serde_json::from_slice::<Value>(&out.stdout).is_ok_and(|v| v["data"][0] == true)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("the daemon runs").id() as i32
    }

    /// SIGKILL: the daemon dies at once, its apps run on.
    pub fn kill9(&mut self) {
        let mut c = self.child.take().expect("the daemon runs");
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// SIGTERM, then waits (at most `secs`) for the daemon to exit; returns its status.
    pub fn terminate(&mut self, secs: u64) -> ExitStatus {
        let pid = self.pid();
        kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        assert!(
            exits_within(pid, secs),
            "davit supervise still runs {secs} s after SIGTERM:\n{}",
            self.log_tail()
        );
        self.child.take().unwrap().wait().unwrap()
    }

    pub fn client(&self, args: &[&str]) -> Command {
        let mut c = Command::new(davit_bin());
        c.arg("app").arg("--socket").arg(&self.socket).args(args);
        c.env_remove("RUST_BACKTRACE");
        c
    }

    /// `davit app --socket SOCK ARGS`, bounded.
    pub fn app(&self, args: &[&str]) -> Output {
        output_within(
            self.client(args),
            COMMAND_SECS,
            &format!("davit app {args:?}"),
        )
    }

    /// The same as nobody (uid and gid 65534, no supplementary groups).
    pub fn app_as_nobody(&self, args: &[&str]) -> Output {
        self.app_as(NOBODY, args)
    }

    pub fn app_as(&self, who: Caller, args: &[&str]) -> Output {
        output_within(
            as_user(who, &self.client(args)),
            COMMAND_SECS,
            &format!("davit app {args:?} as {who:?}"),
        )
    }

    /// `davit app ARGS`, which must succeed; its stdout.
    pub fn app_ok(&self, args: &[&str]) -> String {
        let out = self.app(args);
        assert!(
            out.status.success(),
            "davit app {args:?} failed: {}{}\ndaemon:\n{}",
            stderr(&out),
            stdout(&out),
            self.log_tail()
        );
        stdout(&out)
    }

    /// `davit app status NAME --json`.
    pub fn status(&self, name: &str) -> Value {
        let out = self.app_ok(&["status", name, "--json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json: {e}: {out}"))
    }

    /// `davit app list --json`.
    pub fn list(&self) -> Vec<Value> {
        let out = self.app_ok(&["list", "--json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("list --json: {e}: {out}"))
    }

    /// Polls app `name`'s status until `pred` holds, for at most `secs`; returns that status.
    pub fn wait_status(
        &self,
        name: &str,
        secs: u64,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let out = self.app(&["status", name, "--json"]);
            let status = serde_json::from_slice::<Value>(&out.stdout).ok();
            if let Some(s) = &status
                && out.status.success()
                && pred(s)
            {
                return s.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "app {name}: timed out after {secs} s waiting for {what}; last status: {} {}\n\
                     daemon:\n{}",
                    stdout(&out),
                    stderr(&out),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls until app `name` is in `state`.
    pub fn wait_state(&self, name: &str, state: &str, secs: u64) -> Value {
        self.wait_status(name, secs, &format!("state {state}"), |s| {
            s["state"] == state
        })
    }

    /// `busctl --address=BUS ARGS`, bounded.
    pub fn busctl(&self, args: &[&str]) -> Output {
        output_within(
            self.busctl_cmd(args),
            COMMAND_SECS,
            &format!("busctl {args:?}"),
        )
    }

    fn busctl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("busctl");
        c.arg(format!("--address={}", self.bus_address()))
            .args(args);
        c
    }

    pub fn busctl_as_nobody(&self, args: &[&str]) -> Output {
        output_within(
            as_user(NOBODY, &self.busctl_cmd(args)),
            COMMAND_SECS,
            &format!("busctl {args:?} as nobody"),
        )
    }

    /// `dbus-send --bus=BUS --print-reply ARGS` as nobody, bounded: unlike busctl, it
    /// prints the name of a D-Bus error (`Error org.freedesktop.DBus.Error.AccessDenied: ...`).
    pub fn dbus_send_as_nobody(&self, args: &[&str]) -> Output {
        self.dbus_send_as(NOBODY, args)
    }

    pub fn dbus_send_as(&self, who: Caller, args: &[&str]) -> Output {
        self.dbus_send(who, &format!("--bus={}", self.bus_address()), args)
    }

    /// The same, peer-to-peer on the daemon's socket (`dbus-send --peer`, no `--dest`).
    pub fn dbus_send_peer_as_nobody(&self, args: &[&str]) -> Output {
        self.dbus_send(
            NOBODY,
            &format!("--peer=unix:path={}", self.socket.display()),
            args,
        )
    }

    fn dbus_send(&self, who: Caller, endpoint: &str, args: &[&str]) -> Output {
        let mut c = Command::new("dbus-send");
        c.arg(endpoint)
            .args(["--print-reply", "--reply-timeout=20000"])
            .args(args);
        output_within(
            as_user(who, &c),
            COMMAND_SECS,
            &format!("dbus-send {args:?} as {who:?}"),
        )
    }

    /// `busctl --json=short ARGS`, which must succeed: one JSON value per line of output.
    pub fn busctl_json(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["--json=short"];
        all.extend_from_slice(args);
        let out = self.busctl(&all);
        assert!(
            out.status.success(),
            "busctl {args:?} failed: {}\ndaemon:\n{}",
            stderr(&out),
            self.log_tail()
        );
        stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("busctl: {e}: {l}")))
            .collect()
    }

    /// `davit --root ROOT ARGS`: the runtime's own view of the apps' containers.
    pub fn runtime(&self, args: &[&str]) -> Output {
        let mut c = Command::new(davit_bin());
        c.arg("--root").arg(&self.root).args(args);
        c.env_remove("RUST_BACKTRACE");
        output_within(c, COMMAND_SECS, &format!("davit {args:?}"))
    }

    /// The ids of the containers under the runtime root (`davit list -q`).
    pub fn containers(&self) -> Vec<String> {
        let out = self.runtime(&["list", "-q"]);
        assert!(out.status.success(), "davit list -q: {}", stderr(&out));
        stdout(&out)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Processes whose command line names this daemon's runtime root: the daemon, its
    /// launcher, and the `davit` children they run.
    pub fn own_processes(&self) -> Vec<i32> {
        processes_with(self.root.to_str().unwrap())
    }
}

impl Drop for Daemon {
    /// Leaves nothing running, even after a failed test: the daemon killed, every container
    /// under its root deleted, any process left that names its root (a launcher that
    /// outlived the daemon) killed.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in self.own_processes() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let out = self.runtime(&["list", "-q"]);
        for id in stdout(&out)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let _ = self.runtime(&["delete", "--force", id]);
        }
    }
}

/// `cmd` run as `who` through util-linux's setpriv.
fn as_user(who: Caller, cmd: &Command) -> Command {
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={}", who.uid))
        .arg(format!("--regid={}", who.gid));
    if who.groups.is_empty() {
        c.arg("--clear-groups");
    } else {
        let list: Vec<String> = who.groups.iter().map(u32::to_string).collect();
        c.arg(format!("--groups={}", list.join(",")));
    }
    c.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

/// The cgroup directories of `b`'s cgroupsPath that exist, in every hierarchy.
pub fn cgroup_dirs(b: &Bundle) -> Vec<PathBuf> {
    if cgroup_v2() {
        let d = PathBuf::from(format!("/sys/fs/cgroup{}", b.cgroup));
        return if d.exists() { vec![d] } else { vec![] };
    }
    fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| PathBuf::from(format!("{}{}", e.path().display(), b.cgroup)))
        .filter(|d| d.exists())
        .collect()
}

/// Whether the freezer reports `b`'s cgroup frozen (v1: FROZEN, not FREEZING; v2: the
/// `frozen 1` of cgroup.events).
pub fn cgroup_frozen(b: &Bundle) -> bool {
    if cgroup_v2() {
        fs::read_to_string(b.cgroup_dir("").join("cgroup.events"))
            .unwrap()
            .lines()
            .any(|l| l == "frozen 1")
    } else {
        fs::read_to_string(b.cgroup_dir("freezer").join("freezer.state")).unwrap() == "FROZEN\n"
    }
}

/// Whether process `pid` is alive (a zombie counts as dead).
pub fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next())
        })
        .flatten()
        .is_some_and(|st| st != 'Z' && st != 'X')
}

/// An integer field of a status object.
pub fn num(s: &Value, key: &str) -> u64 {
    s[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number: {s}"))
}

/// A string field of a status object.
pub fn text<'a>(s: &'a Value, key: &str) -> &'a str {
    s[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string: {s}"))
}
