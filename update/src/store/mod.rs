//! The content-addressed store under `/var/lib/davit/store`, laid out as an OCI image layout
//! for its blobs:
//!
//! ```text
//! blobs/sha256/HEX          every blob (manifest, config, compressed layer), once
//! layers/sha256/HEX/        a layer unpacked, named by its diff_id (uncompressed digest)
//! layers/sha256/HEX.tree    the digest of that tree when it was unpacked
//! tmp/                      what is being written; emptied when the store is opened (with
//!                           any record whose layer directory never got renamed into place)
//! lock                      flock(2)ed by whoever has the store open
//! ```
//!
//! A blob or layer is only ever made under `tmp/` and renamed into place once complete and
//! synced, so after a power cut each name holds the whole thing or does not exist.

mod blobs;
mod layers;
mod sweep;
mod verify;

pub use sweep::Swept;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

pub use blobs::Ingested;
pub use layers::LayerSource;
pub use verify::{Damage, Verified};

use crate::error::{Error, Result};

/// Where davit keeps it on a board.
pub const DEFAULT_ROOT: &str = "/var/lib/davit/store";

/// A sha256 digest, as the store names blobs and layers: 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(String);

impl Sha256 {
    /// Parses `sha256:HEX`; any other algorithm or a malformed digest is refused, because the
    /// digest becomes a file name.
    pub fn parse(digest: &str) -> Result<Sha256, String> {
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("{digest:?} is not a sha256 digest"))?;
        Sha256::from_hex(hex)
            .ok_or_else(|| format!("{digest:?} is not a well-formed sha256 digest"))
    }

    pub(crate) fn from_hex(hex: &str) -> Option<Sha256> {
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Sha256(hex.to_owned()))
    }

    pub fn hex(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

pub struct Store {
    root: PathBuf,
    // Held while the store is open: one writer at a time (a second `davit` waits), since
    // opening clears tmp/.
    _lock: nix::fcntl::Flock<fs::File>,
}

impl Store {
    /// Opens the store at `root`, making its directories, and removes what an interrupted
    /// write left in `tmp/`.
    pub fn open(root: &Path) -> Result<Store> {
        for d in ["blobs/sha256", "layers/sha256", "tmp"] {
            let d = root.join(d);
            fs::create_dir_all(&d).map_err(|e| Error::io("make store directory", &d, e))?;
        }
        let lock_path = root.join("lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("open store lock", &lock_path, e))?;
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("lock the store", &lock_path, e.into()))?;
        let store = Store {
            root: root.to_owned(),
            _lock: lock,
        };
        store.clear_tmp()?;
        store.clear_orphan_records()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Sha256) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn layer_path(&self, diff_id: &Sha256) -> PathBuf {
        self.root.join("layers/sha256").join(diff_id.hex())
    }

    fn tree_path(&self, diff_id: &Sha256) -> PathBuf {
        self.root
            .join("layers/sha256")
            .join(format!("{}.tree", diff_id.hex()))
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A layer's tree record is written before its directory is renamed into place (the
    /// rename commits the layer): a record without its directory is an unpack cut between
    /// the two, and goes.
    fn clear_orphan_records(&self) -> Result<()> {
        let layers = self.root.join("layers/sha256");
        let entries = fs::read_dir(&layers).map_err(|e| Error::io("read", &layers, e))?;
        let mut removed = false;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(hex) = name.strip_suffix(".tree") else {
                continue;
            };
            if Sha256::from_hex(hex).is_some() && !layers.join(hex).is_dir() {
                let p = e.path();
                fs::remove_file(&p)
                    .map_err(|e| Error::io("remove unfinished layer record", &p, e))?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&layers)?;
        }
        Ok(())
    }

    fn clear_tmp(&self) -> Result<()> {
        let tmp = self.tmp();
        let entries = fs::read_dir(&tmp).map_err(|e| Error::io("read", &tmp, e))?;
        for e in entries.flatten() {
            let p = e.path();
            let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            r.map_err(|e| Error::io("remove leftover", &p, e))?;
        }
        Ok(())
    }
}

impl Store {
    /// Replaces `dest` (a file of the store) with `data`: written and synced in `tmp/`, so
    /// that a cut leaves no temporary beside `dest`, then renamed over it and its directory
    /// synced.
    pub(crate) fn write_durably(&self, dest: &Path, data: &[u8]) -> Result<()> {
        use std::io::Write;
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let tmp = self
            .tmp()
            .join(format!("file-{name}-{}", std::process::id()));
        let written = fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&tmp, dest));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io("write", dest, e));
        }
        sync_dir(dest.parent().expect("store files have a directory"))
    }
}

/// fsync of a directory: what makes a rename or a new name in it survive a power cut.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}
