//! `run` in the foreground with `process.terminal` and no `--console-socket`, as runc's users
//! type it: davit takes the pty's master itself, puts the caller's terminal in raw mode and
//! copies between the two until the container exits, passing window size changes on.

use std::fs;
use std::io::{IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// The socket libcontainer hands the pty master to, in the state root (private to root: no
/// other user can connect first and pass a descriptor of its own).
pub(crate) struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    pub(crate) fn bind(root: &Path) -> Result<ConsoleSocket> {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| Error::io("create state root", root, e))?;
        let path = root.join(format!(".console-{}", std::process::id()));
        let _ = fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(|e| Error::io("listen for the container's terminal on", &path, e))?;
        Ok(ConsoleSocket { listener, path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master, which the container's init sent during create.
    pub(crate) fn receive(&self) -> Result<OwnedFd> {
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| Error::io("accept the container's terminal on", &self.path, e))?;
        let mut buf = [0u8; 256];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| Error::sys("receive the container's terminal", e))?;
        for c in msg
            .cmsgs()
            .map_err(|e| Error::sys("read the container's terminal message", e))?
        {
            if let ControlMessageOwned::ScmRights(fds) = c
                && let Some(&fd) = fds.first()
            {
                // SAFETY: the kernel just installed this descriptor in our table; nothing
                // else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        Err(Error::Internal(
            "the container's init sent no terminal on the console socket".to_owned(),
        ))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The caller's terminal in raw mode while the container has it; restored when dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

nix::ioctl_read_bad!(get_winsize, nix::libc::TIOCGWINSZ, nix::libc::winsize);
nix::ioctl_write_ptr_bad!(set_winsize, nix::libc::TIOCSWINSZ, nix::libc::winsize);

/// Gives the pty the caller's window size, if the caller has a terminal.
fn copy_window_size(master: BorrowedFd) {
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: both ioctls take a pointer to a winsize, valid for the calls.
    unsafe {
        if get_winsize(nix::libc::STDIN_FILENO, &mut ws).is_ok() {
            let _ = set_winsize(master.as_raw_fd(), &ws);
        }
    }
}

/// Copies between the caller's stdio and the container's terminal, forwarding the signals
/// this process gets (all blocked by the caller), until `pid` exits; returns its exit code.
pub(crate) fn relay(master: OwnedFd, pid: Pid) -> Result<i32> {
    let sfd = SignalFd::with_flags(&SigSet::all(), SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Error::sys("watch signals", e))?;
    let _raw = RawMode::enter();
    copy_window_size(master.as_fd());
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut master_open = true;
    let mut buf = [0u8; 8192];
    loop {
        if let Some(code) = super::run::reap(pid)? {
            if master_open {
                drain(&master, &mut buf);
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if master_open {
            fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("wait for the container's terminal", e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        let mut i = 1;
        if master_open {
            if ready[i] {
                master_open = copy(master.as_fd(), nix::libc::STDOUT_FILENO, &mut buf);
            }
            i += 1;
        }
        if stdin_open && ready[i] {
            // End of input is the caller's: the container keeps its terminal.
            stdin_open = copy(stdin.as_fd(), master.as_raw_fd(), &mut buf);
        }
        if ready[0] {
            match sfd.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGWINCH) => copy_window_size(master.as_fd()),
                    Ok(Signal::SIGCHLD | Signal::SIGURG) | Err(_) => {}
                    Ok(sig) => {
                        let _ = signal::kill(pid, sig);
                    }
                },
                Ok(None) | Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(e) => return Err(Error::sys("read a signal", e)),
            }
        }
    }
}

/// One read from `from` written whole to `to`; false once `from` is done (end of file, or
/// EIO from a master whose terminal has no process left).
fn copy(from: BorrowedFd, to: std::os::fd::RawFd, buf: &mut [u8]) -> bool {
    let n = match nix::unistd::read(from.as_raw_fd(), buf) {
        Ok(0) | Err(Errno::EIO) => return false,
        Ok(n) => n,
        Err(Errno::EINTR | Errno::EAGAIN) => return true,
        Err(_) => return false,
    };
    // SAFETY: `to` is one of our descriptors for the duration of this call; ManuallyDrop
    // keeps the File from closing it.
    let mut out = std::mem::ManuallyDrop::new(unsafe { fs::File::from_raw_fd(to) });
    out.write_all(&buf[..n]).is_ok()
}

/// What the container wrote just before it exited, still in the pty.
fn drain(master: &OwnedFd, buf: &mut [u8]) {
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
            || !copy(master.as_fd(), nix::libc::STDOUT_FILENO, buf)
        {
            return;
        }
    }
}
