//! The sweep of garbage collection: blobs and layers no kept release uses go. A layer is
//! first renamed into `tmp/` (one atomic step: it is no longer in the store), then removed;
//! a cut sweep leaves at most a layer in `tmp/`, which the next open clears.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Sha256, Store, sync_dir};
use crate::error::{Error, Result};

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Swept {
    pub blobs: usize,
    pub layers: usize,
    /// Disk blocks given back, in bytes.
    pub bytes: u64,
}

impl Store {
    /// Removes every blob not in `blobs` and every layer not in `layers`.
    pub fn sweep(&self, blobs: &BTreeSet<Sha256>, layers: &BTreeSet<Sha256>) -> Result<Swept> {
        let mut swept = Swept::default();
        let dir = self.root.join("layers/sha256");
        for e in fs::read_dir(&dir).map_err(|e| Error::io("read", &dir, e))? {
            let e = e.map_err(|e| Error::io("read", &dir, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = Sha256::from_hex(&name) else {
                continue;
            };
            if layers.contains(&id) {
                continue;
            }
            let gone = self.tmp().join(format!("layer-{name}"));
            fs::rename(e.path(), &gone).map_err(|e| Error::io("remove layer", &gone, e))?;
            sync_dir(&dir)?;
            let record = self.tree_path(&id);
            match fs::remove_file(&record) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove layer record", &record, e)),
            }
            swept.bytes += disk_use(&gone);
            fs::remove_dir_all(&gone).map_err(|e| Error::io("remove layer", &gone, e))?;
            swept.layers += 1;
        }
        let dir = self.root.join("blobs/sha256");
        for e in fs::read_dir(&dir).map_err(|e| Error::io("read", &dir, e))? {
            let e = e.map_err(|e| Error::io("read", &dir, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            match Sha256::from_hex(&name) {
                Some(d) if blobs.contains(&d) => continue,
                Some(_) => {}
                None => continue,
            }
            swept.bytes += disk_use(&e.path());
            fs::remove_file(e.path()).map_err(|err| Error::io("remove blob", e.path(), err))?;
            swept.blobs += 1;
        }
        if swept.blobs > 0 {
            sync_dir(&dir)?;
        }
        Ok(swept)
    }
}

/// Bytes of disk blocks under `path`, not following symlinks.
pub(crate) fn disk_use(path: &Path) -> u64 {
    let Ok(m) = fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = m.blocks() * 512;
    if m.is_dir()
        && let Ok(entries) = fs::read_dir(path)
    {
        for e in entries.flatten() {
            total += disk_use(&e.path());
        }
    }
    total
}
