use libcontainer::error::LibcontainerError;

use crate::error::{Error, Result};
use crate::{ContainerStatus, Runtime};

impl Runtime {
    /// Runs the user process of a created container.
    pub fn start(&self, id: &str) -> Result<()> {
        let (mut container, _lock) = self.load_locked(id)?;
        if container.status() != ContainerStatus::Created {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                status: container.status(),
                action: "start",
                needed: "created",
            });
        }
        match container.start() {
            // libcontainer runs poststart hooks after the process is started and fails start
            // when one does. runtime-spec: "the runtime MUST log a warning, but the remaining
            // hooks and lifecycle continue as if the hook had succeeded".
            Err(LibcontainerError::Hook(e)) => {
                tracing::warn!(id, "poststart hook failed: {}", crate::one_line(&e));
                Ok(())
            }
            other => other.map_err(|e| Error::container("start", id, e)),
        }
    }
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::Start) -> Result<i32> {
    rt.start(&args.container_id)?;
    Ok(0)
}
