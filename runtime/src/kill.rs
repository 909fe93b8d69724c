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
        if matches!(before, ContainerStatus::Created | ContainerStatus::Paused) {
            container
                .refresh_status()
                .map_err(|e| Error::container("kill", id, e))?;
            if container.status() != ContainerStatus::Stopped {
                container
                    .set_status(before)
                    .save()
                    .map_err(|e| Error::container("kill", id, e))?;
            }
        }
        Ok(())
    }
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::Kill) -> Result<i32> {
    rt.kill(&args.container_id, &args.signal, args.all)?;
    Ok(0)
}
