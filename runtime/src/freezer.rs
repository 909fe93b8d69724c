//! pause and resume: the cgroup freezer (v1 freezer.state, v2 cgroup.freeze).

use crate::error::{Error, Result};
use crate::{ContainerStatus, Runtime};

impl Runtime {
    pub fn pause(&self, id: &str) -> Result<()> {
        let (mut c, _lock) = self.load_locked(id)?;
        if c.status() != ContainerStatus::Running {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                status: c.status(),
                action: "pause",
                needed: "running",
            });
        }
        c.pause().map_err(|e| Error::container("pause", id, e))
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        let (mut c, _lock) = self.load_locked(id)?;
        if c.status() != ContainerStatus::Paused {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                status: c.status(),
                action: "resume",
                needed: "paused",
            });
        }
        c.resume().map_err(|e| Error::container("resume", id, e))
    }
}

pub(crate) fn pause_command(rt: &Runtime, args: liboci_cli::Pause) -> Result<i32> {
    rt.pause(&args.container_id)?;
    Ok(0)
}

pub(crate) fn resume_command(rt: &Runtime, args: liboci_cli::Resume) -> Result<i32> {
    rt.resume(&args.container_id)?;
    Ok(0)
}
