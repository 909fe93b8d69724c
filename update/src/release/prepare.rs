//! Everything a release needs, in place before anything runs from it: its images in the
//! store, a bundle per app, and its installed app files under `releases/VERSION/`. Each
//! piece is written to a temporary name, synced and renamed, so that a power cut leaves
//! either nothing or the whole piece; pieces left by a cut install are reused or collected.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, MountBuilder, RootBuilder};
use sha2::{Digest, Sha256};

use super::state::mkdir;
use super::{Paths, Release, rootfs};
use crate::bundle::spec_for_image;
use crate::error::{Error, Result};
use crate::image::{Platform, import_layout};
use crate::layer::Policy;
use crate::store::{Store, sync_dir};

/// What [`prepare`] stored and wrote.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Each app's bundle directory.
    pub bundles: BTreeMap<String, PathBuf>,
    pub blobs_stored: usize,
    pub layers_unpacked: usize,
    pub layers_present: usize,
    /// Every blob of the release's images.
    pub blobs: std::collections::BTreeSet<String>,
}

/// Refuses to go on when the state directory's file system has less than `min_free` bytes
/// free: an install never fills the disk the running apps need.
pub fn check_space(paths: &Paths, min_free: u64) -> Result<()> {
    let st = nix::sys::statvfs::statvfs(&paths.state_dir)
        .map_err(|e| Error::io("checking free space", &paths.state_dir, e.into()))?;
    let free = st.blocks_available() as u64 * st.fragment_size() as u64;
    if free < min_free {
        return Err(Error::Release {
            reason: format!(
                "{} has {} MiB free, and an install leaves at least {} MiB (--min-free)",
                paths.state_dir.display(),
                free >> 20,
                min_free >> 20
            ),
        });
    }
    Ok(())
}

pub fn prepare(
    paths: &Paths,
    store: &Store,
    release: &Release,
    policy: &Policy,
    min_free: u64,
) -> Result<Prepared> {
    let mut done = Prepared::default();
    let platform = Platform::host();
    let images = release.images();
    for app in &release.apps {
        check_space(paths, min_free)?;
        let imported =
            import_layout(store, &images, &platform, Some(&app.image), policy).map_err(|e| {
                Error::Document {
                    path: format!("app {} (image {:?})", app.name, app.image),
                    reason: e.to_string(),
                }
            })?;
        done.blobs_stored += imported.counts.blobs_stored;
        done.layers_unpacked += imported.counts.layers_unpacked.len();
        done.layers_present += imported.counts.layers_present;
        done.blobs
            .extend(imported.blobs.iter().map(|b| b.to_string()));
        let image = spec_for_image(&imported.config, &imported.layers)?;
        let mut spec = image.spec;
        spec.set_root(Some(
            RootBuilder::default()
                .path("rootfs")
                .readonly(true)
                .build()
                .map_err(spec_error)?,
        ));
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        let locks = paths.locks(&app.name);
        mkdir(&locks)?;
        mounts.push(volume_mount(super::LOCK_DIR, &locks)?);
        for dest in &image.volumes {
            let source = paths.volumes(&app.name).join(volume_name(dest));
            mkdir(&source)?;
            mounts.push(volume_mount(dest, &source)?);
        }
        spec.set_mounts(Some(mounts));
        let config = canonical(&spec)?;
        let lower = serde_json::to_vec(&imported.layers).unwrap_or_default();
        let bundle = write_bundle(paths, &app.name, &config, &lower)?;
        done.bundles.insert(app.name.clone(), bundle);
        fail::fail_point!("release-bundle-written");
    }
    write_release(paths, release, &done)?;
    fail::fail_point!("release-written");
    Ok(done)
}

/// The config's bytes, the same for the same spec: oci-spec keeps capability sets in hash
/// sets, whose order changes from run to run, and the bytes name the bundle.
fn canonical(spec: &oci_spec::runtime::Spec) -> Result<Vec<u8>> {
    let mut v = serde_json::to_value(spec).map_err(spec_error)?;
    if let Some(sets) = v["process"]["capabilities"].as_object_mut() {
        for set in sets.values_mut() {
            if let Some(names) = set.as_array_mut() {
                names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    serde_json::to_vec_pretty(&v).map_err(spec_error)
}

fn spec_error(e: impl std::fmt::Display) -> Error {
    Error::Document {
        path: "generated config.json".into(),
        reason: e.to_string(),
    }
}

/// `/var/lib/data` is volume `var-lib-data`.
fn volume_name(dest: &str) -> String {
    let name = dest.trim_matches('/').replace('/', "-");
    if name.is_empty() { "root".into() } else { name }
}

fn volume_mount(dest: &str, source: &Path) -> Result<Mount> {
    MountBuilder::default()
        .destination(dest)
        .typ("bind")
        .source(source)
        .options(vec!["rbind".to_string(), "rw".into(), "nodev".into()])
        .build()
        .map_err(spec_error)
}

/// `installed/APP/HASH/`, named by its content: an app that a new release leaves as it was keeps
/// its bundle, and the supervisor sees nothing to restart.
fn write_bundle(paths: &Paths, app: &str, config: &[u8], lower: &[u8]) -> Result<PathBuf> {
    let mut h = Sha256::new();
    h.update(config);
    h.update([0]);
    h.update(lower);
    let hash: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let parent = paths.bundles(app);
    let dir = parent.join(&hash);
    if dir.join("config.json").exists() {
        return Ok(dir);
    }
    mkdir(&parent)?;
    let tmp = parent.join(format!(".{hash}.tmp"));
    remove_tree(&tmp)?;
    mkdir(&tmp)?;
    write_synced(&tmp.join("config.json"), config)?;
    write_synced(&tmp.join(rootfs::LOWER_FILE), lower)?;
    for d in ["rootfs", "upper", "work"] {
        mkdir(&tmp.join(d))?;
    }
    sync_dir(&tmp)?;
    fs::rename(&tmp, &dir).map_err(|e| Error::io("renaming into place", &dir, e))?;
    sync_dir(&parent)?;
    Ok(dir)
}

/// `releases/VERSION/`: release.toml and each app's file as the supervisor will read it (its
/// bundle named), renamed into place whole.
fn write_release(paths: &Paths, release: &Release, done: &Prepared) -> Result<()> {
    let parent = paths.releases();
    mkdir(&parent)?;
    let dir = paths.release(&release.version);
    let tmp = parent.join(format!(".{}.tmp", release.version));
    remove_tree(&tmp)?;
    mkdir(&tmp.join("apps"))?;
    let src = release.dir.join("release.toml");
    let text = fs::read(&src).map_err(|e| Error::io("reading", &src, e))?;
    write_synced(&tmp.join("release.toml"), &text)?;
    let blobs: Vec<&String> = done.blobs.iter().collect();
    write_synced(
        &tmp.join(super::gc::BLOBS_FILE),
        &serde_json::to_vec_pretty(&blobs).unwrap_or_default(),
    )?;
    for app in &release.apps {
        let bundle = &done.bundles[&app.name];
        let installed = format!(
            "# Installed by `davit release install`: release {}, image {}.\n\
             # Edits here are replaced by the next release.\nbundle = {}\n{}",
            release.version,
            app.image,
            toml_string(&bundle.display().to_string()),
            app.text
        );
        write_synced(
            &tmp.join("apps").join(format!("{}.toml", app.name)),
            installed.as_bytes(),
        )?;
    }
    sync_dir(&tmp.join("apps"))?;
    sync_dir(&tmp)?;
    remove_tree(&dir)?;
    fs::rename(&tmp, &dir).map_err(|e| Error::io("renaming into place", &dir, e))?;
    sync_dir(&parent)
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(|e| Error::io("creating", path, e))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io("writing", path, e))
}

pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing", dir, e)),
    }
}
