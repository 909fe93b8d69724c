//! pause and resume: the cgroup freezer (v1 freezer.state, v2 cgroup.freeze).

use libcontainer::container::Container;

use crate::error::{Error, Result};
use crate::{Runtime, Status};

impl Runtime {
    pub fn pause(&self, id: &str) -> Result<()> {
        self.change_freezer(id, "pause", Status::Running, |c| c.pause())
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        self.change_freezer(id, "resume", Status::Paused, |c| c.resume())
    }

    fn change_freezer(
        &self,
        id: &str,
        action: &'static str,
        needed: Status,
        op: impl FnOnce(&mut Container) -> Result<(), libcontainer::error::LibcontainerError>,
    ) -> Result<()> {
        let dir = self.dir(id)?;
        let _lock = dir.lock_unless_creating(action, needed.as_str())?;
        let status = dir.snapshot()?.status;
        if status != needed {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                status,
                action,
                needed: needed.as_str(),
            });
        }
        let mut c = Container::load(dir.path).map_err(|e| Error::container(action, id, e))?;
        op(&mut c).map_err(|e| Error::container(action, id, e))
    }
}
