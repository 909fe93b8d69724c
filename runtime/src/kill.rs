use nix::sys::signal::kill;

use crate::error::{Error, Result};
use crate::{ContainerStatus, Runtime, signal};

impl Runtime {
    /// Sends a signal to the container's init process, or with `all` to every process in its
    /// cgroup.
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<()> {
        let sig = signal::parse(signal)?;
        let (mut container, _lock) = self.load_locked(id)?;
        let before = container.status();
        if !matches!(
            before,
            ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
        ) && !all
        {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                status: before,
                action: "kill",
                needed: "created, running or paused",
            });
        }
        container
            .kill(sig, all)
            .map_err(|e| Error::container("kill", id, e))?;
        // libcontainer records every killed container as stopped. A process that survives the
        // signal (trapped, or not fatal) keeps its created/paused status, which the live
        // process check cannot recover on its own.
        if matches!(before, ContainerStatus::Created | ContainerStatus::Paused)
            && container.pid().is_some_and(|p| alive(p.as_raw()))
        {
            container
                .set_status(before)
                .save()
                .map_err(|e| Error::container("kill", id, e))?;
        }
        Ok(())
    }
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); its /proc stat state tells it is gone.
    if kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::Kill) -> Result<i32> {
    rt.kill(&args.container_id, &args.signal, args.all)?;
    Ok(0)
}
