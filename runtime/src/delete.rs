use crate::error::{Error, Result};
use crate::hooks::LateHooks;
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
        // Read before libcontainer removes the state directory they live in.
        // A damaged hooks file must not make the container undeletable.
        let hooks = LateHooks::load(&self.container_dir(id)).unwrap_or_else(|e| {
            tracing::warn!(id, "poststop hooks not run: {}", crate::one_line(&e));
            LateHooks::default()
        });
        container
            .delete(force)
            .map_err(|e| Error::container("delete", id, e))?;
        hooks.poststop(&container);
        Ok(())
    }
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::Delete) -> Result<i32> {
    rt.delete(&args.container_id, args.force)?;
    Ok(0)
}
