//! A release as one file: a tar (plain, gzip or zstd, told by its first bytes) of the release
//! directory, as `tar -C DIR -czf release.tar.gz .` writes it. It is unpacked with the layer
//! unpacker (in-root, no devices, no setuid bits, bounded) under `releases/` (the file
//! system the install fills anyway, so that the free-space check sees it), and must hold
//! only files and directories: a symlink could point the install at files outside it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::Paths;
use super::prepare::remove_tree;
use super::state::mkdir;
use crate::error::{Error, Result};
use crate::layer::{Compression, Policy, unpack};

/// The unpacked release; removed when dropped.
pub struct Unpacked {
    pub dir: PathBuf,
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = remove_tree(&self.dir);
    }
}

/// Unpacks the release tar `file`; `max_bytes` bounds its content.
pub fn unpack_release(paths: &Paths, file: &Path, max_bytes: u64) -> Result<Unpacked> {
    let f = File::open(file).map_err(|e| Error::io("opening the release", file, e))?;
    let mut reader = BufReader::new(f);
    let head = reader
        .fill_buf()
        .map_err(|e| Error::io("reading the release", file, e))?;
    let compression = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    // A dot name: collected as garbage if a cut install leaves it.
    let dir = paths
        .releases()
        .join(format!(".incoming-{}", std::process::id()));
    remove_tree(&dir)?;
    mkdir(&dir)?;
    let out = Unpacked { dir };
    let stream = compression
        .decoder(reader)
        .map_err(|e| Error::io("reading the release", file, e))?;
    let policy = Policy {
        allow_devices: false,
        keep_setuid: false,
        max_bytes,
    };
    unpack(stream, &out.dir, &policy, &file.display().to_string())?;
    refuse_links(&out.dir, &out.dir, file)?;
    Ok(out)
}

fn refuse_links(root: &Path, dir: &Path, file: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("reading", dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io("reading", dir, e))?;
        let t = e
            .file_type()
            .map_err(|err| Error::io("reading", e.path(), err))?;
        let inside = e.path().strip_prefix(root).unwrap_or(&e.path()).to_owned();
        if t.is_dir() {
            refuse_links(root, &e.path(), file)?;
        } else if !t.is_file() {
            return Err(Error::Document {
                path: file.display().to_string(),
                reason: format!(
                    "{} is not a regular file or directory: a release holds only those",
                    inside.display()
                ),
            });
        }
    }
    Ok(())
}
