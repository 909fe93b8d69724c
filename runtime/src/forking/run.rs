use nix::errno::Errno;
use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::terminal::ConsoleSocket;
use super::{CreateOptions, Forking};
use crate::config::Bundle;
use crate::error::{Error, Result};
use crate::process::ProcessId;

impl Forking {
    /// Creates and starts a container. Detached, returns once it runs; in the foreground,
    /// forwards signals to it, waits, deletes it (unless `keep`) and returns its exit code.
    pub fn run(
        &self,
        id: &str,
        opts: &CreateOptions,
        detach: bool,
        keep: bool,
    ) -> Result<(ProcessId, i32)> {
        crate::validate_id(id)?;
        let bundle = Bundle::load(&opts.bundle)?;
        if !detach {
            become_subreaper()?;
        }
        // In the foreground, a terminal nobody asked to receive is davit's to relay.
        let wants_terminal = bundle
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        let console = if !detach && wants_terminal && opts.console_socket.is_none() {
            Some(ConsoleSocket::bind(self.rt.root())?)
        } else {
            None
        };
        let opts = CreateOptions {
            // libcontainer refuses a console socket unless detached: with davit holding the
            // terminal, the container is detached from the caller's stdio.
            foreground: !detach && console.is_none(),
            console_socket: console
                .as_ref()
                .map(|c| c.path().to_owned())
                .or_else(|| opts.console_socket.clone()),
            ..opts.clone()
        };
        let init = self.create_from(id, &opts, &bundle)?;
        let master = match &console {
            Some(c) => match c.receive() {
                Ok(m) => Some(m),
                Err(e) => {
                    let _ = self.rt.delete(id, true);
                    return Err(e);
                }
            },
            None => None,
        };
        drop(console);
        // Block before start, after create: the container's init was forked with the
        // caller's mask (libcontainer does not reset it), and from start on every signal
        // sent to us must be forwarded, not acted on.
        let blocked = if detach {
            None
        } else {
            Some(SignalsBlocked::new()?)
        };
        if let Err(e) = self.start(id) {
            drop(blocked);
            let _ = self.rt.delete(id, true);
            return Err(e);
        }
        let Some(blocked) = blocked else {
            return Ok((init, 0));
        };
        let code = match master {
            Some(master) => super::terminal::relay(master, Pid::from_raw(init.pid)),
            None => blocked.wait_forwarding(Pid::from_raw(init.pid)),
        };
        drop(blocked);
        if !keep {
            let deleted = self.rt.delete(id, true);
            return code.and_then(|c| deleted.map(|()| (init, c)));
        }
        code.map(|c| (init, c))
    }
}

/// Makes orphaned descendants (libcontainer's container processes are grandchildren) ours
/// to reap.
pub(crate) fn become_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| Error::sys("become child subreaper", e))
}

/// Every signal blocked for this thread until dropped, so that they can be waited for and
/// passed on to the container instead of acting on davit.
pub(crate) struct SignalsBlocked {
    old: SigSet,
}

impl SignalsBlocked {
    pub(crate) fn new() -> Result<Self> {
        let old = SigSet::all()
            .thread_swap_mask(signal::SigmaskHow::SIG_BLOCK)
            .map_err(|e| Error::sys("block signals", e))?;
        Ok(SignalsBlocked { old })
    }

    /// Waits for `pid` to exit, forwarding the signals this process receives to it, as runc
    /// does in the foreground. Returns its exit code, or 128+signal.
    pub(crate) fn wait_forwarding(&self, pid: Pid) -> Result<i32> {
        loop {
            // Reap first: the child may have exited before signals were blocked, and that
            // SIGCHLD is gone.
            if let Some(code) = reap(pid)? {
                return Ok(code);
            }
            match SigSet::all()
                .wait()
                .map_err(|e| Error::sys("wait for signals", e))?
            {
                Signal::SIGCHLD | Signal::SIGURG | Signal::SIGWINCH => {}
                sig => {
                    let _ = signal::kill(pid, sig);
                }
            }
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        let _ = self.old.thread_set_mask();
    }
}

/// Reaps every exited child; `Some(code)` once `pid` is among them.
pub(super) fn reap(pid: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(Errno::ECHILD) => {
                return Err(Error::Internal(format!(
                    "lost track of container process {pid}: it is not our child"
                )));
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("wait for container process", e)),
        }
    }
}
