//! `davit store verify [--repair]`: every blob hashed again against its name, every layer
//! tree against the digest recorded when it was unpacked.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use sha2::{Digest as _, Sha256 as Hasher};

use super::{Sha256, Store};
use crate::error::{Error, Result};
use crate::layer::{hex, tree};

/// Something in the store that is not what its name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// `blob sha256:…` or `layer sha256:…` or the odd file's path.
    pub what: String,
    pub reason: String,
    /// With `--repair`: it was removed (a later install fetches it again).
    pub removed: bool,
}

/// What `verify` checked and found.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    pub blobs: usize,
    pub layers: usize,
    pub damaged: Vec<Damage>,
}

impl Store {
    /// Hashes every blob and layer again. With `repair`, what is damaged is removed, so that
    /// nothing uses it and the next install stores it anew.
    pub fn verify(&self, repair: bool) -> Result<Verified> {
        let mut out = Verified::default();
        let blobs = self.root.join("blobs/sha256");
        for name in sorted_names(&blobs)? {
            let path = blobs.join(&name);
            let reason = match Sha256::from_hex(&name) {
                None => Some("not a blob name".to_owned()),
                Some(d) => match hash_file(&path) {
                    Ok(got) if got == d.hex() => None,
                    Ok(got) => Some(format!("its content hashes to sha256:{got}")),
                    Err(e) => Some(format!("unreadable: {e}")),
                },
            };
            out.blobs += 1;
            if let Some(reason) = reason {
                out.damaged.push(self.damage(
                    &path,
                    format!("blob sha256:{name}"),
                    reason,
                    repair,
                )?);
            }
        }
        let layers = self.root.join("layers/sha256");
        for name in sorted_names(&layers)? {
            let path = layers.join(&name);
            if let Some(hex_name) = name.strip_suffix(".tree") {
                // A record without its directory (the store removes those of an unpack cut
                // before its rename when it opens); gone already if its layer was repaired.
                if path.exists()
                    && (Sha256::from_hex(hex_name).is_none() || !layers.join(hex_name).is_dir())
                {
                    let what = format!("layer record {name}");
                    out.damaged.push(self.damage(
                        &path,
                        what,
                        "no layer directory".into(),
                        repair,
                    )?);
                }
                continue;
            }
            out.layers += 1;
            let what = format!("layer sha256:{name}");
            let reason = match Sha256::from_hex(&name) {
                None => Some("not a layer name".to_owned()),
                Some(d) => match fs::read_to_string(self.tree_path(&d)) {
                    Err(e) => Some(format!("its recorded digest is unreadable: {e}")),
                    Ok(want) => match tree::digest(&path) {
                        Ok(got) if got == want.trim() => None,
                        Ok(_) => Some("its files differ from what was unpacked".to_owned()),
                        Err(e) => Some(format!("unreadable: {e}")),
                    },
                },
            };
            if let Some(reason) = reason {
                if repair && let Some(d) = Sha256::from_hex(&name) {
                    let _ = fs::remove_file(self.tree_path(&d));
                }
                out.damaged.push(self.damage(&path, what, reason, repair)?);
            }
        }
        Ok(out)
    }

    fn damage(&self, path: &Path, what: String, reason: String, repair: bool) -> Result<Damage> {
        if repair {
            let r = if path.is_dir() {
                fs::remove_dir_all(path)
            } else {
                fs::remove_file(path)
            };
            r.map_err(|e| Error::io("remove damaged", path, e))?;
            if let Some(dir) = path.parent() {
                super::sync_dir(dir)?;
            }
        }
        Ok(Damage {
            what,
            reason,
            removed: repair,
        })
    }
}

fn sorted_names(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| Error::io("read", dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut h = Hasher::new();
    io::copy(&mut File::open(path)?, &mut h)?;
    Ok(hex(&h.finalize()))
}
