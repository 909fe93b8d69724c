//! The container's init as a process: its identity across pid reuse, a pidfd for it, its
//! exit status.

use std::fs;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::libc;

/// A process named by pid and start time (field 22 of /proc/PID/stat, in clock ticks since
/// boot): a pid alone may have been reused by an unrelated process since it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessId {
    pub pid: i32,
    pub start_time: u64,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// A shell's view of it: the code, or 128+N when killed by signal N.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// What /proc says of a live pid.
struct Stat {
    state: char,
    start_time: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3 (state); start time is field 22.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_time })
}

impl ProcessId {
    /// The process now running as `pid`, if any.
    pub fn of(pid: i32) -> Option<ProcessId> {
        stat(pid).map(|s| ProcessId {
            pid,
            start_time: s.start_time,
        })
    }

    /// Whether this very process still runs (a zombie has exited).
    pub fn is_alive(&self) -> bool {
        stat(self.pid)
            .is_some_and(|s| s.start_time == self.start_time && !matches!(s.state, 'Z' | 'X' | 'x'))
    }

    /// Whether the pid still names this process, running or a zombie not yet reaped.
    fn is_same(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.start_time == self.start_time)
    }

    /// A pidfd for this process (also while it is a zombie, so that its parent can reap it
    /// through the pidfd), or `None` once it is gone or its pid names another process. The
    /// start time is checked after the pidfd is open, so the pidfd cannot refer to a
    /// successor.
    pub fn open_pidfd(&self) -> std::io::Result<Option<OwnedFd>> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is
        // passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid, 0) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ESRCH) => Ok(None),
                _ => Err(e),
            };
        }
        // SAFETY: the kernel just returned this fd to us and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(self.is_same().then_some(fd))
    }
}

/// Sends `sig` through a pidfd: it cannot reach a process that took over the pid.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<(), Errno> {
    // SAFETY: pidfd_send_signal with a null siginfo and no flags reads no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// Reaps the process behind `pidfd` if it has exited: `Ok(None)` while it runs. Only its
/// parent can do this; a supervisor that made itself child subreaper is the parent of every
/// container init it started.
pub fn try_wait(pidfd: BorrowedFd<'_>) -> std::io::Result<Option<ExitStatus>> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value for waitid to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a valid, writable siginfo_t for the duration of the call.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
        if r == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    // SAFETY: waitid filled `info` for a child event (or left si_pid 0 with WNOHANG when
    // none was ready); si_pid and si_status are valid to read for CLD_* codes.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => ExitStatus::Exited(status),
        _ => ExitStatus::Signaled(status),
    }))
}

/// The name of `uid` from /etc/passwd, read directly: a static binary cannot load NSS
/// modules, and glibc's getpwuid in one warns or fails.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessId::of(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        let reused = ProcessId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!reused.is_alive());
        assert!(reused.open_pidfd().unwrap().is_none());
        assert!(me.open_pidfd().unwrap().is_some());
    }

    #[test]
    // The child is reaped through its pidfd, which is what is under test.
    #[allow(clippy::zombie_processes)]
    fn a_child_is_reaped_through_its_pidfd_with_its_status() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read x; exit 7"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let id = ProcessId::of(child.id() as i32).unwrap();
        let fd = id.open_pidfd().unwrap().unwrap();
        use std::os::fd::AsFd;
        assert_eq!(try_wait(fd.as_fd()).unwrap(), None);
        drop(child.stdin.take());
        let mut pfd = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let n = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10_000u16)).unwrap();
        assert_eq!(n, 1, "pidfd not readable within 10 s of the child's exit");
        assert_eq!(try_wait(fd.as_fd()).unwrap(), Some(ExitStatus::Exited(7)));
        assert!(!id.is_alive());
    }

    #[test]
    fn root_has_a_name() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
    }
}
