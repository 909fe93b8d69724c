//! The launcher: a small process forked from the daemon before the daemon starts any thread
//! or confines itself. It runs the short-lived `davit` children (create, start, exec) that
//! the daemon must never run in-process: libcontainer clones with raw clone3 and changes the
//! working directory of the whole process, which is unsound in a threaded process.
//!
//! The daemon and the launcher talk over a SOCK_SEQPACKET pair: one JSON request per
//! message, one JSON response per message, matched by id. For each request the launcher
//! forks a handler, which runs the child with a deadline, collects its report and stderr,
//! and sends the response itself; so a slow healthcheck never holds up a create.
//!
//! A `davit create` forks the container's init and exits; the init, orphaned, is reparented
//! to the nearest subreaper above it: the daemon. Neither the launcher nor its handlers are
//! subreapers.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};
use nix::unistd::{ForkResult, fork, pipe2};
use runtime::forking::{REPORT_FD_ENV, Report};
use serde::{Deserialize, Serialize};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

/// Requests and responses are small (a response's output is capped at 4 KiB); a message
/// never needs more.
const MAX_MESSAGE: usize = 16 * 1024;
/// A child's stderr kept for the response (its error message, a healthcheck's output).
const MAX_OUTPUT: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    #[serde(default)]
    pub id: u64,
    /// Arguments of `davit` (the launcher's own binary).
    pub args: Vec<String>,
    /// Where the child's stdout and stderr go, opened O_APPEND (created 0640); `None`
    /// discards stdout and captures stderr into the response.
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    /// Capture stdout too (a healthcheck's output), into `output`.
    #[serde(default)]
    pub capture_stdout: bool,
    /// Hand the child a descriptor for its [`Report`].
    #[serde(default)]
    pub report: bool,
    /// Killed (SIGKILL) after this long.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub id: u64,
    pub outcome: Outcome,
    pub report: Option<Report>,
    /// What the child wrote to the captured streams, at most 4 KiB, lossy UTF-8.
    pub output: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    /// The child could not be spawned at all.
    SpawnFailed,
}

impl Response {
    pub fn success(&self) -> bool {
        self.outcome == Outcome::Exited(0)
    }

    /// One line saying why the child failed: its report, else its stderr, else its status.
    pub fn failure(&self) -> String {
        if let Some(Report::Error { message, .. }) = &self.report {
            return message.clone();
        }
        let last = self
            .output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().trim_start_matches("davit: error: ").to_owned());
        match (self.outcome, last) {
            (Outcome::TimedOut, _) => "timed out".into(),
            (_, Some(line)) => line,
            (Outcome::Exited(c), None) => format!("exited {c}"),
            (Outcome::Signaled(s), None) => format!("killed by signal {s}"),
            (Outcome::SpawnFailed, None) => "could not be spawned".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    #[error("cannot start the launcher: {0}")]
    Start(nix::Error),
    #[error("the launcher is gone")]
    Gone,
    #[error("talking to the launcher: {0}")]
    Io(#[from] std::io::Error),
}

/// The launcher's end, before the daemon's runtime exists.
pub struct Spawned {
    fd: OwnedFd,
    pub pid: i32,
}

/// Forks the launcher. Call before any thread exists: the launcher is a copy of this process.
pub fn fork_launcher() -> Result<Spawned, LauncherError> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(LauncherError::Start)?;
    // SAFETY: the caller guarantees a single-threaded process, so the child may run any code.
    match unsafe { fork() }.map_err(LauncherError::Start)? {
        ForkResult::Child => {
            drop(ours);
            serve(theirs)
        }
        ForkResult::Parent { child } => {
            drop(theirs);
            Ok(Spawned {
                fd: ours,
                pid: child.as_raw(),
            })
        }
    }
}

/// The launcher's loop: never returns.
fn serve(sock: OwnedFd) -> ! {
    // The launcher must not outlive the daemon, nor keep its handlers as zombies.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // What the daemon had allocated and freed before the fork is of no use here: give those
    // pages back, or they stay private dirty memory of this process as soon as the daemon
    // writes over its own copies.
    // SAFETY: malloc_trim only releases free heap memory; no pointer is passed.
    unsafe {
        nix::libc::malloc_trim(0);
    }
    // SAFETY: setting a disposition to SIG_IGN installs no handler code.
    unsafe {
        let _ = signal(Signal::SIGCHLD, SigHandler::SigIgn);
        let _ = signal(Signal::SIGTERM, SigHandler::SigIgn);
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
    }
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = match recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(0) => std::process::exit(0),
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => std::process::exit(1),
        };
        let Ok(req) = serde_json::from_slice::<Request>(&buf[..n]) else {
            continue;
        };
        let launcher = nix::unistd::getpid();
        // SAFETY: the launcher is single-threaded.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // A handler dies with the launcher, which dies with the daemon: a create the
                // last daemon had under way must not claim its container's id after the
                // next daemon has cleared the way for its own create.
                let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
                if nix::unistd::getppid() != launcher {
                    std::process::exit(1);
                }
                // SAFETY: restoring the default disposition installs no handler code.
                unsafe {
                    let _ = signal(Signal::SIGCHLD, SigHandler::SigDfl);
                    let _ = signal(Signal::SIGTERM, SigHandler::SigDfl);
                    let _ = signal(Signal::SIGINT, SigHandler::SigDfl);
                }
                let resp = handle(&req);
                if let Ok(bytes) = serde_json::to_vec(&resp) {
                    let _ = send(sock.as_raw_fd(), &bytes, MsgFlags::empty());
                }
                std::process::exit(0)
            }
            Ok(ForkResult::Parent { .. }) => {}
            Err(_) => {
                let resp = Response {
                    id: req.id,
                    outcome: Outcome::SpawnFailed,
                    report: None,
                    output: "the launcher cannot fork".into(),
                };
                if let Ok(bytes) = serde_json::to_vec(&resp) {
                    let _ = send(sock.as_raw_fd(), &bytes, MsgFlags::empty());
                }
            }
        }
    }
}

fn append(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

/// Runs one child to its end or deadline (in a handler process).
fn handle(req: &Request) -> Response {
    let failed = |output: String| Response {
        id: req.id,
        outcome: Outcome::SpawnFailed,
        report: None,
        output,
    };
    let deadline = Instant::now() + Duration::from_millis(req.timeout_ms);
    let mut cmd = Command::new("/proc/self/exe");
    cmd.args(&req.args).stdin(Stdio::null());
    let handler = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and calls only prctl and
    // getppid, both async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // The child dies with its handler (the mark survives the exec; the container
            // processes davit clones from it do not inherit it).
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            if nix::unistd::getppid() != handler {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
    cmd.env_remove("NOTIFY_SOCKET").env_remove("LISTEN_FDS");
    let mut captured: Vec<OwnedFd> = Vec::new();
    let mut capture = |cmd_set: &mut dyn FnMut(Stdio)| -> std::io::Result<()> {
        let (r, w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        // The child's end blocks as a normal stdout does.
        fcntl(w.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty()))?;
        cmd_set(Stdio::from(w));
        captured.push(r);
        Ok(())
    };
    let set_out = match &req.stdout {
        Some(p) => append(p).map(|f| cmd.stdout(f)).map(|_| ()),
        None if req.capture_stdout => capture(&mut |s| {
            cmd.stdout(s);
        }),
        None => {
            cmd.stdout(Stdio::null());
            Ok(())
        }
    };
    if let Err(e) = set_out {
        return failed(format!("stdout: {e}"));
    }
    let set_err = match &req.stderr {
        Some(p) => append(p).map(|f| cmd.stderr(f)).map(|_| ()),
        None => capture(&mut |s| {
            cmd.stderr(s);
        }),
    };
    if let Err(e) = set_err {
        return failed(format!("stderr: {e}"));
    }
    let mut report_read = None;
    if req.report {
        match report_pipe() {
            Ok((r, w)) => {
                cmd.env(REPORT_FD_ENV, w.as_raw_fd().to_string());
                report_read = Some((r, w));
            }
            Err(e) => return failed(format!("report pipe: {e}")),
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot run davit: {e}")),
    };
    drop(cmd);
    // Only the child (and what it forks) may hold the write ends now.
    let report_read = report_read.map(|(r, w)| {
        drop(w);
        r
    });
    let mut output = Vec::new();
    let mut report_bytes = Vec::new();
    let pidfd = pidfd_of(child.id() as i32);
    let outcome = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break match status.code() {
                Some(c) => Outcome::Exited(c),
                None => Outcome::Signaled(status.signal().unwrap_or(0)),
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = child.kill();
            let _ = child.wait();
            break Outcome::TimedOut;
        }
        let mut fds = Vec::new();
        if let Some(p) = &pidfd {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        for c in &captured {
            fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
        }
        if let Some(r) = &report_read {
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
        }
        let ms = left.as_millis().min(1000) as u16;
        let _ = poll(&mut fds, PollTimeout::from(ms));
        drop(fds);
        for c in &captured {
            drain(c, &mut output);
        }
        if let Some(r) = &report_read {
            drain(r, &mut report_bytes);
        }
    };
    // After the exit: what is already there, never waiting on a descriptor a container
    // process may still hold.
    for c in &captured {
        drain(c, &mut output);
    }
    if let Some(r) = &report_read {
        drain(r, &mut report_bytes);
    }
    let report = report_bytes
        .split(|b| *b == b'\n')
        .next()
        .and_then(|line| Report::read(line).ok().flatten());
    output.truncate(MAX_OUTPUT);
    Response {
        id: req.id,
        outcome,
        report,
        output: String::from_utf8_lossy(&output).into_owned(),
    }
}

fn report_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    // The write end crosses the exec; it blocks as the child expects.
    fcntl(w.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))?;
    fcntl(w.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty()))?;
    Ok((r, w))
}

fn pidfd_of(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; no memory is passed. The pid is our own
    // unreaped child, so it cannot name another process.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a non-negative return is a new descriptor that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reads what a non-blocking descriptor has now, up to the output cap.
fn drain(fd: &OwnedFd, into: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    // SAFETY: borrowing the descriptor as a File for reads only; ManuallyDrop keeps it open.
    let mut f = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd.as_raw_fd()) });
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        if into.len() < MAX_OUTPUT * 2 {
            into.extend_from_slice(&buf[..n]);
        }
    }
}

/// The daemon's side: concurrent requests over the one socket.
pub struct Launcher {
    fd: AsyncFd<OwnedFd>,
    next: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Response>>>,
}

impl Launcher {
    /// Wraps the launcher's socket; needs the tokio runtime.
    pub fn new(spawned: Spawned) -> std::io::Result<Launcher> {
        fcntl(spawned.fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        // SAFETY: the socket is owned by the AsyncFd from here on and stays open as long.
        let fd = unsafe { AsyncFd::register(spawned.fd) }.map_err(std::io::Error::from)?;
        Ok(Launcher {
            fd,
            next: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Runs `davit ARGS` through the launcher and waits for its end.
    pub async fn run(&self, mut req: Request) -> Result<Response, LauncherError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        req.id = id;
        let bytes = serde_json::to_vec(&req).map_err(std::io::Error::other)?;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let sent = self
            .fd
            .async_io(Interest::WRITABLE, |fd| {
                send(fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL).map_err(std::io::Error::from)
            })
            .await;
        if let Err(e) = sent {
            self.pending.lock().unwrap().remove(&id);
            return Err(e.into());
        }
        rx.await.map_err(|_| LauncherError::Gone)
    }

    /// Routes responses to their requests; returns when the launcher is gone.
    pub async fn pump(&self) -> LauncherError {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let got = self
                .fd
                .async_io(Interest::READABLE, |fd| {
                    recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(std::io::Error::from)
                })
                .await;
            match got {
                Ok(0) => break,
                Ok(n) => {
                    if let Ok(resp) = serde_json::from_slice::<Response>(&buf[..n])
                        && let Some(tx) = self.pending.lock().unwrap().remove(&resp.id)
                    {
                        let _ = tx.send(resp);
                    }
                }
                Err(e) => return e.into(),
            }
        }
        // Dropping the senders wakes every waiter with `Gone`.
        self.pending.lock().unwrap().clear();
        LauncherError::Gone
    }
}
