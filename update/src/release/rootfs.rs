//! An installed bundle's root: its image's layers (read-only, shared in the store) as
//! overlayfs lower directories, with an upper directory of the bundle's own. The upper is
//! where the runtime makes the mount points a config asks for; the container sees the root
//! read-only unless its app file says otherwise.
//!
//! Mounts do not survive a reboot: the supervisor mounts the roots of the releases it may run
//! when it starts, and an install mounts the new release's before switching to it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::error::{Error, Result};

/// `lower.json` in a bundle: its layer directories, lowest first.
pub const LOWER_FILE: &str = "lower.json";

/// Mounts `bundle/rootfs` unless it is mounted already.
pub fn mount_rootfs(bundle: &Path) -> Result<()> {
    let target = bundle.join("rootfs");
    if is_mounted(bundle, &target)? {
        return Ok(());
    }
    let lower_path = bundle.join(LOWER_FILE);
    let bytes = std::fs::read(&lower_path).map_err(|e| Error::io("reading", &lower_path, e))?;
    let layers: Vec<PathBuf> = serde_json::from_slice(&bytes).map_err(|e| Error::Document {
        path: lower_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut lower = Vec::new();
    // overlayfs stacks its lowerdir list top first.
    for dir in layers.iter().rev() {
        let s = dir.to_str().unwrap_or_default();
        if s.is_empty() || s.contains([':', ',', '\\']) {
            return Err(Error::Document {
                path: lower_path.display().to_string(),
                reason: format!(
                    "{}: overlayfs cannot take a layer path with ':' ',' or '\\'",
                    dir.display()
                ),
            });
        }
        lower.push(s);
    }
    let (upper, work) = (bundle.join("upper"), bundle.join("work"));
    for d in [&upper, &work, &target] {
        std::fs::create_dir_all(d).map_err(|e| Error::io("creating", d, e))?;
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|e| Error::io("mounting the app's root (overlayfs)", &target, e.into()))
}

/// Unmounts `bundle/rootfs` if it is mounted (detached: a container still using it keeps it).
pub fn unmount_rootfs(bundle: &Path) -> Result<()> {
    let target = bundle.join("rootfs");
    if is_mounted(bundle, &target)? {
        umount2(&target, MntFlags::MNT_DETACH)
            .map_err(|e| Error::io("unmounting", &target, e.into()))?;
    }
    Ok(())
}

/// An overlay root has a device of its own.
fn is_mounted(bundle: &Path, target: &Path) -> Result<bool> {
    let dev = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| Some(m.dev()))
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(None),
                _ => Err(Error::io("reading", p, e)),
            })
    };
    Ok(match (dev(bundle)?, dev(target)?) {
        (Some(b), Some(t)) => b != t,
        _ => false,
    })
}
