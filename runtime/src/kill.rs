use libcgroups::common::{CgroupManager, CgroupSetup, FreezerState, get_cgroup_setup};
use nix::errno::Errno;
use std::os::fd::AsFd;

use crate::dir::{ContainerDir, Snapshot};
use crate::error::{Error, Result};
use crate::process::pidfd_send_signal;
use crate::{Runtime, Signal, Status};

impl Runtime {
    /// Sends a signal to the container's init, or with `all` to every process in its cgroup.
    ///
    /// The init is reached through a pidfd checked against its recorded start time, so a
    /// pid reused since the init exited is never signalled. A paused container stays paused
    /// (its processes take the signal when resumed), except that SIGKILL thaws a cgroup v1
    /// freezer, whose frozen tasks could not die otherwise; the status then reports what
    /// happened, read from the processes.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        let dir = self.dir(id)?;
        let _lock = dir.lock_unless_creating("kill", "created, running or paused")?;
        let snap = dir.snapshot()?;
        let live = matches!(
            snap.status,
            Status::Created | Status::Running | Status::Paused
        );
        if !live && !all {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                status: snap.status,
                action: "kill",
                needed: "created, running or paused",
            });
        }
        if all {
            return kill_all(&dir, &snap, signal);
        }
        let Some(init) = snap.init else {
            return Ok(());
        };
        let sent = match init
            .open_pidfd()
            .map_err(|e| Error::io("open pidfd of", format!("pid {}", init.pid), e))?
        {
            Some(fd) => pidfd_send_signal(fd.as_fd(), signal.as_raw()),
            // Exited since the snapshot: what the signal was for.
            None => Err(Errno::ESRCH),
        };
        match sent {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => return Err(Error::sys(format!("send {signal} to container {id:?}"), e)),
        }
        if snap.status == Status::Paused && signal == Signal::KILL {
            thaw_v1(&dir)?;
        }
        Ok(())
    }
}

fn kill_all(dir: &ContainerDir, snap: &Snapshot, signal: Signal) -> Result<()> {
    let Some(cg) = dir.cgroup()? else {
        return Ok(());
    };
    let cgroup_err = |e: Box<dyn std::error::Error + Send + Sync>| Error::Cgroup {
        id: dir.id.clone(),
        source: e,
    };
    let paused = snap.status == Status::Paused;
    // Frozen, the set of processes cannot change under us (no fork escapes the signal).
    if !paused && let Err(e) = cg.freeze(FreezerState::Frozen) {
        tracing::warn!(id = dir.id, "freeze before signalling every process: {e}");
    }
    let signalled = cg.get_all_pids().map(|pids| {
        for pid in pids {
            match nix::sys::signal::kill(pid, signal.nix()) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => tracing::warn!(id = dir.id, "send {signal} to {pid}: {e}"),
            }
        }
    });
    if !paused {
        cg.freeze(FreezerState::Thawed)
            .map_err(|e| cgroup_err(Box::new(e)))?;
    } else if signal == Signal::KILL {
        thaw_v1(dir)?;
    }
    signalled.map_err(|e| cgroup_err(Box::new(e)))
}

/// On cgroup v1 a frozen task cannot act on SIGKILL until thawed; v2 lets it die frozen.
fn thaw_v1(dir: &ContainerDir) -> Result<()> {
    let setup = get_cgroup_setup().map_err(|e| Error::Cgroup {
        id: dir.id.clone(),
        source: Box::new(e),
    })?;
    if matches!(setup, CgroupSetup::Unified) {
        return Ok(());
    }
    if let Some(cg) = dir.cgroup()? {
        cg.freeze(FreezerState::Thawed).map_err(|e| Error::Cgroup {
            id: dir.id.clone(),
            source: Box::new(e),
        })?;
    }
    Ok(())
}
