use std::fs;

use crate::error::{Error, Result};
use crate::{ContainerState, Runtime, validate_id};

/// One entry of the state root.
#[derive(Debug)]
pub enum Listed {
    Container(ContainerState),
    /// A container directory whose state cannot be read: reported, never dropped, so that
    /// whoever lists can see it and delete it by force.
    Unreadable {
        id: String,
        error: Error,
    },
}

impl Listed {
    pub fn id(&self) -> &str {
        match self {
            Listed::Container(s) => &s.id,
            Listed::Unreadable { id, .. } => id,
        }
    }
}

impl Runtime {
    /// Every container under the root, sorted by id. Only directories with a valid id are
    /// looked at: anything else in the root (a FIFO, a davit cache, a file) is never opened,
    /// so nothing there can make `list` wait.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read state root", &self.root, e)),
        };
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read state root", &self.root, e))?;
            // The entry's own type: a symlink to a directory is not a container.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let Ok(id) = entry.file_name().into_string() else {
                continue;
            };
            if !is_dir || validate_id(&id).is_err() {
                continue;
            }
            listed.push(match self.state(&id) {
                Ok(s) => Listed::Container(s),
                // Deleted between read_dir and now.
                Err(Error::NotFound(_)) => continue,
                Err(error) => Listed::Unreadable { id, error },
            });
        }
        listed.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(listed)
    }
}
