use libcontainer::container::Container;

use super::Forking;
use crate::Status;
use crate::error::{Error, Result};
use crate::hooks::{ExecWatch, LateHooks};

impl Forking {
    /// Runs the user process of a created container.
    pub fn start(&self, id: &str) -> Result<()> {
        let dir = self.rt.dir(id)?;
        let _lock = dir.lock_unless_creating("start", "created")?;
        let status = dir.snapshot()?.status;
        if status != Status::Created {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                status,
                action: "start",
                needed: "created",
            });
        }
        let hooks = LateHooks::load(&dir.path)?;
        // Opened before the init is told to go, so its exec cannot be missed.
        let exec = if hooks.has_poststart() {
            ExecWatch::open(&dir.path)?
        } else {
            None
        };
        let mut container =
            Container::load(dir.path.clone()).map_err(|e| Error::container("start", id, e))?;
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
