use libcgroups::common::CgroupManager;

use crate::Runtime;
use crate::error::{Error, Result};

impl Runtime {
    /// Pids of every process in the container's cgroup, sorted.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let dir = self.dir(id)?;
        dir.snapshot()?;
        let Some(cg) = dir.cgroup()? else {
            return Ok(Vec::new());
        };
        let mut pids: Vec<i32> = cg
            .get_all_pids()
            .map_err(|e| Error::Cgroup {
                id: id.to_owned(),
                source: Box::new(e),
            })?
            .into_iter()
            .map(|p| p.as_raw())
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }
}
