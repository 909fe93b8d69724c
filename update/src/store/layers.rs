//! Layers: a verified blob decompressed, checked against its diff_id while it is unpacked
//! into `tmp/`, its tree digest recorded, the file system synced once, and the directory
//! renamed into `layers/sha256/`.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::{Sha256, Store, sync_dir};
use crate::error::{Error, Result};
use crate::layer::{self, Compression, Hashing, Policy, Unpacked};

/// A layer to unpack: its blob (already in the store), the blob's media type, and the
/// digest the image config gives its uncompressed stream (`rootfs.diff_ids`).
#[derive(Clone, Copy, Debug)]
pub struct LayerSource<'a> {
    pub blob: &'a Sha256,
    pub media_type: &'a str,
    pub diff_id: &'a Sha256,
}

impl Store {
    pub fn has_layer(&self, diff_id: &Sha256) -> bool {
        self.layer_path(diff_id).is_dir() && self.tree_path(diff_id).is_file()
    }

    /// The directory of the layer, unpacked from its blob unless the store has it already
    /// (then the second value is None): a second image on the same base costs nothing here.
    pub fn unpack_layer(
        &self,
        src: LayerSource<'_>,
        policy: &Policy,
    ) -> Result<(PathBuf, Option<Unpacked>)> {
        let dest = self.layer_path(src.diff_id);
        if self.has_layer(src.diff_id) {
            return Ok((dest, None));
        }
        let tmp = self.tmp().join(format!(
            "layer-{}-{}",
            src.diff_id.hex(),
            std::process::id()
        ));
        let result = self.unpack_into(src, policy, &tmp);
        let unpacked = match result {
            Ok(u) => u,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        // The tree digest first: a layer directory in place always has one, and one without
        // its directory (cut in between) is only a stale file that the next unpack rewrites.
        let tree = layer::tree::digest(&tmp).map_err(|e| Error::io("hash the layer", &tmp, e))?;
        let tree_path = self.tree_path(src.diff_id);
        self.write_durably(&tree_path, tree.as_bytes())?;
        if dest.exists() {
            // A directory without its record: an unpack cut before the record was written.
            fs::remove_dir_all(&dest).map_err(|e| Error::io("remove partial layer", &dest, e))?;
        }
        fs::rename(&tmp, &dest).map_err(|e| Error::io("store layer", &dest, e))?;
        sync_dir(dest.parent().expect("layers have a directory"))?;
        Ok((dest, Some(unpacked)))
    }

    fn unpack_into(&self, src: LayerSource<'_>, policy: &Policy, tmp: &Path) -> Result<Unpacked> {
        let label = src.blob.to_string();
        fs::create_dir(tmp).map_err(|e| Error::io("make layer directory", tmp, e))?;
        let compression = Compression::of_media_type(src.media_type, &label)?;
        let blob_path = self.blob_path(src.blob);
        let blob = File::open(&blob_path).map_err(|e| Error::io("open blob", &blob_path, e))?;
        let decoder = compression
            .decoder(io::BufReader::new(blob))
            .map_err(|e| Error::Layer {
                digest: label.clone(),
                reason: format!("not a {compression:?} stream: {e}"),
            })?;
        let mut stream = Hashing::new(decoder);
        let unpacked = layer::unpack(&mut stream, tmp, policy, &label)?;
        let (got, _) = stream.finish().map_err(|e| Error::Layer {
            digest: label.clone(),
            reason: format!("reading past the tar stream's end failed: {e}"),
        })?;
        if got != src.diff_id.hex() {
            return Err(Error::Layer {
                digest: label,
                reason: format!(
                    "its uncompressed content hashes to sha256:{got}, the image config says {}",
                    src.diff_id
                ),
            });
        }
        syncfs(tmp)?;
        Ok(unpacked)
    }
}

/// One sync of the file system the layer was written to: cheaper than an fsync per file, and
/// done before the rename that makes the layer visible.
fn syncfs(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io("open", dir, e))?;
    // SAFETY: `d` is an open descriptor for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(Error::io(
            "sync file system of",
            dir,
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}
