//! Blobs: streamed through sha256 into `tmp/`, checked against the descriptor's digest and
//! size, synced, renamed into `blobs/sha256/`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use sha2::{Digest as _, Sha256 as Hasher};

use super::{Sha256, Store, sync_dir};
use crate::error::{Error, Result};
use crate::layer::hex;

/// Whether `ingest` stored the blob or found it there already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingested {
    Stored,
    AlreadyPresent,
}

impl Store {
    pub fn has_blob(&self, digest: &Sha256) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores the blob read from `from`, which must be exactly `size` bytes hashing to
    /// `digest`; nothing else is kept. A blob already in the store is not read again.
    pub fn ingest(&self, from: impl Read, digest: &Sha256, size: u64) -> Result<Ingested> {
        let dest = self.blob_path(digest);
        if dest.is_file() {
            return Ok(Ingested::AlreadyPresent);
        }
        let tmp = self
            .tmp()
            .join(format!("blob-{}-{}", digest.hex(), std::process::id()));
        let result = self.write_checked(from, digest, size, &tmp);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        fs::rename(&tmp, &dest).map_err(|e| Error::io("store blob", &dest, e))?;
        sync_dir(dest.parent().expect("blobs have a directory"))?;
        Ok(Ingested::Stored)
    }

    fn write_checked(
        &self,
        from: impl Read,
        digest: &Sha256,
        size: u64,
        tmp: &PathBuf,
    ) -> Result<()> {
        let blob_error = |reason: String| Error::Blob {
            digest: digest.to_string(),
            reason,
        };
        let mut file = File::create_new(tmp).map_err(|e| Error::io("create", tmp, e))?;
        let mut hasher = Hasher::new();
        // One byte past the size tells an oversize blob from an exact one without reading
        // the rest of it.
        let mut limited = from.take(size.saturating_add(1));
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(blob_error(format!("reading it failed: {e}"))),
            };
            written += n as u64;
            if written > size {
                return Err(blob_error(format!(
                    "is larger than the {size} bytes its descriptor says"
                )));
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| Error::io("write blob", tmp, e))?;
        }
        if written < size {
            return Err(blob_error(format!(
                "is {written} bytes, its descriptor says {size} (truncated)"
            )));
        }
        let got = hex(&hasher.finalize());
        if got != digest.hex() {
            return Err(blob_error(format!(
                "its content does not match its digest (it hashes to sha256:{got})"
            )));
        }
        file.sync_all()
            .map_err(|e| Error::io("sync blob", tmp, e))?;
        Ok(())
    }

    /// The whole of a small blob (a manifest, an index, a config), refused past `max` bytes.
    pub fn read_blob(&self, digest: &Sha256, max: u64) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        crate::read_at_most(&path, max)
            .map_err(|e| Error::io("read blob", &path, e))?
            .ok_or_else(|| Error::Blob {
                digest: digest.to_string(),
                reason: format!("is larger than {max} bytes, too large for a document"),
            })
    }
}
