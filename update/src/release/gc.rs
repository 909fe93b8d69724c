//! Garbage collection: the current release and the ones before it, as many as `keep` says
//! (default: current and previous), the factory release and one under way are kept, with
//! the bundles their apps name, the layers those bundles stack and the blobs their images
//! are made of; everything else goes: release directories, bundles (their roots unmounted),
//! layers, blobs. Volumes stay: an app's data is only removed by `davit reset`.
//!
//! It runs under the release lock, after each install and rollback, and after a failed
//! prepare (which may have stored what no release uses).

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use super::prepare::remove_tree;
use super::state::State;
use super::{Paths, installed_apps, rootfs};
use crate::error::{Error, Result};
use crate::store::{Sha256, Store, Swept, sync_dir};

/// `releases/VERSION/blobs.json`: the blobs of the release's images.
pub const BLOBS_FILE: &str = "blobs.json";

#[derive(Debug, Default)]
pub struct Collected {
    pub releases: Vec<String>,
    pub bundles: usize,
    pub store: Swept,
}

/// The releases GC keeps.
pub fn kept(state: &State) -> BTreeSet<String> {
    let n = state.keep.unwrap_or(super::state::DEFAULT_KEEP) as usize;
    let history = [&state.current, &state.previous]
        .into_iter()
        .flatten()
        .chain(&state.older)
        .take(n.max(1));
    let mut keep: BTreeSet<String> = history.chain(&state.factory).cloned().collect();
    if let Some(p) = &state.pending {
        keep.insert(p.version.clone());
        keep.extend(p.from.clone());
    }
    keep
}

/// Collects under the caller's release lock.
pub(crate) fn collect(paths: &Paths) -> Result<Collected> {
    let state = State::load(paths)?;
    let keep = kept(&state);
    let mut done = Collected::default();

    // Releases first: they are what names the rest.
    let releases = paths.releases();
    if let Ok(entries) = fs::read_dir(&releases) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !e.path().is_dir() || keep.contains(&name) {
                continue;
            }
            remove_tree(&e.path())?;
            if !name.starts_with('.') {
                done.releases.push(name);
            }
        }
        sync_dir(&releases)?;
    }

    let mut bundles: BTreeSet<PathBuf> = BTreeSet::new();
    let mut blobs: BTreeSet<Sha256> = BTreeSet::new();
    let mut layers: BTreeSet<Sha256> = BTreeSet::new();
    for version in &keep {
        let dir = paths.release(version);
        for (name, text) in installed_apps(paths, version)? {
            let file = dir.join("apps").join(format!("{name}.toml"));
            let app = super::parse_installed(&file, &text)?;
            let lower_path = app.bundle.join(rootfs::LOWER_FILE);
            let lower: Vec<PathBuf> = fs::read(&lower_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| Error::Document {
                    path: lower_path.display().to_string(),
                    reason: "missing or unreadable: the release's bundle is damaged".into(),
                })?;
            layers.extend(
                lower
                    .iter()
                    .filter_map(|l| Sha256::from_hex(l.file_name()?.to_str()?)),
            );
            bundles.insert(app.bundle);
        }
        let list = dir.join(BLOBS_FILE);
        let digests: Vec<String> = fs::read(&list)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Error::Document {
                path: list.display().to_string(),
                reason: "missing or unreadable: the release directory is damaged".into(),
            })?;
        for d in digests {
            blobs.insert(Sha256::parse(&d).map_err(|reason| Error::Document {
                path: list.display().to_string(),
                reason,
            })?);
        }
    }

    let installed = paths.state_dir.join("installed");
    if let Ok(apps) = fs::read_dir(&installed) {
        for app in apps.flatten() {
            let Ok(entries) = fs::read_dir(app.path()) else {
                continue;
            };
            let mut left = 0;
            for e in entries.flatten() {
                if bundles.contains(&e.path()) {
                    left += 1;
                    continue;
                }
                rootfs::unmount_rootfs(&e.path())?;
                remove_tree(&e.path())?;
                done.bundles += 1;
            }
            if left == 0 {
                let _ = fs::remove_dir(app.path());
            }
        }
    }

    let store = Store::open(&paths.store())?;
    done.store = store.sweep(&blobs, &layers)?;
    Ok(done)
}
