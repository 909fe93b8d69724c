use crate::error::{Error, Result};
use crate::hooks::{ExecWatch, LateHooks};
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
        let dir = self.container_dir(id);
        let hooks = LateHooks::load(&dir)?;
        // Opened before the init is told to go, so its exec cannot be missed.
        let exec = if hooks.has_poststart() {
            ExecWatch::open(&dir)?
        } else {
            None
        };
        container
            .start()
            .map_err(|e| Error::container("start", id, e))?;
        if let Some(exec) = exec {
            exec.wait()?;
            hooks.poststart(&container);
        }
        Ok(())
    }
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::Start) -> Result<i32> {
    rt.start(&args.container_id)?;
    Ok(0)
}
