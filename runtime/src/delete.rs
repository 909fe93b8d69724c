use libcgroups::common::CgroupManager;
use libcontainer::container::Container;

use crate::dir::ContainerDir;
use crate::error::{Error, Result};
use crate::hooks::LateHooks;
use crate::{Runtime, Status};

impl Runtime {
    /// Removes a stopped container's cgroup and state. With `force`, kills it first whatever
    /// its status, removes it even when its state cannot be read, and a container that does
    /// not exist is not an error.
    ///
    /// Without `force`, only a stopped container is deleted: runtime-spec says deleting any
    /// other "MUST generate an error" (runc and crun delete created ones anyway).
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let dir = self.dir(id)?;
        if !force {
            // Before the lock: a create under way holds it, and the answer is no anyway.
            match dir.snapshot() {
                Ok(s) if s.status == Status::Creating => {
                    return Err(Error::NotStopped {
                        id: id.to_owned(),
                        status: s.status,
                    });
                }
                _ => {}
            }
        }
        let lock = match dir.lock() {
            Err(Error::NotFound(_)) if force => return Ok(()),
            other => other?,
        };
        let snap = match dir.snapshot() {
            Ok(s) => s,
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(Error::StateUnreadable { .. }) if force => return remove_remains(&dir),
            Err(e) => return Err(e),
        };
        if snap.status != Status::Stopped && !force {
            return Err(Error::NotStopped {
                id: id.to_owned(),
                status: snap.status,
            });
        }
        if snap.state.is_none() {
            // A create that died before libcontainer wrote its state.
            return remove_remains(&dir);
        }
        // Read before libcontainer removes the state directory they live in.
        // A damaged hooks file must not make the container undeletable.
        let hooks = LateHooks::load(&dir.path).unwrap_or_else(|e| {
            tracing::warn!(id, "poststop hooks not run: {}", crate::one_line(&e));
            LateHooks::default()
        });
        let mut container =
            Container::load(dir.path.clone()).map_err(|e| Error::container("delete", id, e))?;
        // Our verdict on the init stands (libcontainer would trust a reused pid): force only
        // makes libcontainer kill what is left in the cgroup, which a stopped container's
        // processes outside a pid namespace may still be.
        container
            .delete(true)
            .map_err(|e| Error::container("delete", id, e))?;
        drop(lock);
        hooks.poststop(&container);
        Ok(())
    }
}

/// Removes what a create that died, or a damaged state, left behind: the cgroup's processes
/// and the cgroup (when the create got far enough to record it), then the directory.
fn remove_remains(dir: &ContainerDir) -> Result<()> {
    match dir.cgroup() {
        Ok(Some(cg)) => {
            let _ = cg.freeze(libcgroups::common::FreezerState::Frozen);
            for pid in cg.get_all_pids().unwrap_or_default() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = cg.freeze(libcgroups::common::FreezerState::Thawed);
            cg.remove().map_err(|e| Error::Cgroup {
                id: dir.id.clone(),
                source: Box::new(e),
            })?;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(id = dir.id, "cgroup not removed: {}", crate::one_line(&e)),
    }
    std::fs::remove_dir_all(&dir.path).map_err(|e| Error::io("remove", &dir.path, e))
}
