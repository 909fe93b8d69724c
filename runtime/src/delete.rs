use libcontainer::error::LibcontainerError;

use crate::error::{Error, Result};
use crate::{ContainerStatus, Runtime};

impl Runtime {
    /// Removes a stopped container's cgroup and state. With `force`, kills it first whatever
    /// its status, and a container that does not exist is not an error.
    ///
    /// Without `force`, only a stopped container is deleted: runtime-spec says deleting any
    /// other "MUST generate an error" (runc and crun delete created ones anyway).
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let (mut container, _lock) = match self.load_locked(id) {
            Err(Error::NotFound(_)) if force => return Ok(()),
            other => other?,
        };
        let status = container.status();
        if status != ContainerStatus::Stopped && !force {
            return Err(Error::NotStopped {
                id: id.to_owned(),
                status,
            });
        }
        match container.delete(force) {
            // A failing poststop hook makes libcontainer stop after removing the cgroup and
            // before removing the state. runtime-spec: log a warning and carry on, so finish
            // the delete rather than leave a half-deleted container.
            Err(LibcontainerError::Hook(e)) => {
                tracing::warn!(id, "poststop hook failed: {}", crate::one_line(&e));
                let dir = self.container_dir(id);
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| Error::io("remove container state", &dir, e))
            }
            other => other.map_err(|e| Error::container("delete", id, e)),
        }
    }
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::Delete) -> Result<i32> {
    rt.delete(&args.container_id, args.force)?;
    Ok(0)
}
