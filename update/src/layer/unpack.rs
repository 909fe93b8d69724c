//! One layer's tar stream written into its own directory, hostile-input safe.
//!
//! Every path is resolved in-root by pathrs (openat2 with `RESOLVE_IN_ROOT`, and
//! `RESOLVE_NO_SYMLINKS`): an entry whose parent is a symlink, or a hardlink to something
//! outside the layer, fails instead of being followed out, and `..` is refused outright.
//! Whiteouts become overlayfs whiteouts (a 0:0 character device) and opaque directories
//! get `trusted.overlay.opaque`, as containerd's overlay snapshotter lays them out, so the
//! directory can be an overlay lower directory as is.

use std::ffi::{CString, OsStr};
use std::fs::{File, Permissions};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use pathrs::flags::{OpenFlags, ResolverFlags};
use pathrs::{InodeType, Root};
use tar::EntryType;

use crate::error::{Error, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// overlayfs's own attributes: an image that sets them could hide or redirect files of the
/// layers below it.
const OVERLAY_XATTRS: &str = "trusted.overlay.";

/// What a layer may contain.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Device nodes (apps that need `/dev` entries baked in); refused otherwise.
    pub allow_devices: bool,
    /// setuid and setgid bits of files; stripped otherwise.
    pub keep_setuid: bool,
    /// The most bytes of file content one layer may unpack to.
    pub max_bytes: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_devices: false,
            keep_setuid: false,
            max_bytes: 4 << 30,
        }
    }
}

/// What an unpacked layer holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub entries: u64,
    pub bytes: u64,
    pub setuid_stripped: u64,
}

/// Writes the tar stream `from` into the existing, empty directory `into`. `label` names the
/// layer in errors (its digest). On error the directory is left half-written: the caller
/// unpacks into a temporary and throws it away.
pub fn unpack(from: impl Read, into: &Path, policy: &Policy, label: &str) -> Result<Unpacked> {
    let root = Root::open(into)
        .map_err(|e| Error::io("open layer directory", into, io::Error::other(e)))?
        .with_resolver_flags(ResolverFlags::NO_SYMLINKS);
    let mut archive = tar::Archive::new(from);
    let mut done = Unpacked::default();
    let entries = archive.entries().map_err(|e| layer_error(label, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| layer_error(label, e))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let fail = |reason: String| Error::Entry {
            digest: label.to_owned(),
            entry: name.clone(),
            reason,
        };
        let Some(path) = clean_path(&raw).map_err(&fail)? else {
            // "./": the layer's own root; its metadata is the lower layers' business.
            continue;
        };
        let meta = Meta::of(&mut entry, policy, &mut done).map_err(&fail)?;
        let kind = entry.header().entry_type();
        write_entry(&root, &path, kind, &mut entry, &meta, policy, &mut done).map_err(&fail)?;
        done.entries += 1;
    }
    Ok(done)
}

fn layer_error(label: &str, e: io::Error) -> Error {
    Error::Layer {
        digest: label.to_owned(),
        reason: format!("not a readable tar stream: {e}"),
    }
}

/// The entry's path inside the layer: leading `/` and `./` dropped, `..` refused. None for
/// the layer's root itself.
fn clean_path(raw: &[u8]) -> Result<Option<PathBuf>, String> {
    if raw.contains(&0) {
        return Err("the path holds a NUL byte".into());
    }
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err("the path climbs out with \"..\"".into()),
            Component::Prefix(_) => return Err("not a Unix path".into()),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Ownership, mode, time and extended attributes of one entry, from its header and its pax
/// records (which override the header's uid and gid).
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl Meta {
    fn of<R: Read>(
        entry: &mut tar::Entry<R>,
        policy: &Policy,
        done: &mut Unpacked,
    ) -> Result<Meta, String> {
        let h = entry.header();
        let number = |v: io::Result<u64>, what: &str| {
            v.map_err(|e| format!("unreadable {what} in the header: {e}"))
        };
        let mut uid = number(h.uid(), "uid")?;
        let mut gid = number(h.gid(), "gid")?;
        let mut mode = h.mode().map_err(|e| format!("unreadable mode: {e}"))? & 0o7777;
        let mtime = number(h.mtime(), "mtime")? as i64;
        let is_file = matches!(h.entry_type(), EntryType::Regular | EntryType::Continuous);
        let mut xattrs = Vec::new();
        if let Some(pax) = entry
            .pax_extensions()
            .map_err(|e| format!("unreadable pax records: {e}"))?
        {
            for ext in pax {
                let ext = ext.map_err(|e| format!("unreadable pax record: {e}"))?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                match key {
                    "uid" | "gid" => {
                        let n = std::str::from_utf8(value)
                            .ok()
                            .and_then(|v| v.parse::<u64>().ok())
                            .ok_or_else(|| format!("pax {key} is not a number"))?;
                        if key == "uid" { uid = n } else { gid = n }
                    }
                    _ => {
                        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                            if name.starts_with(OVERLAY_XATTRS) {
                                return Err(format!(
                                    "sets the overlayfs attribute {name}, which would change the layers below"
                                ));
                            }
                            let name = CString::new(name)
                                .map_err(|_| "an xattr name holds a NUL byte".to_owned())?;
                            xattrs.push((name, value.to_vec()));
                        }
                    }
                }
            }
        }
        let id = |n: u64, what: &str| {
            u32::try_from(n).map_err(|_| format!("{what} {n} is out of range"))
        };
        if is_file && mode & 0o6000 != 0 && !policy.keep_setuid {
            mode &= !0o6000;
            done.setuid_stripped += 1;
        }
        Ok(Meta {
            uid: id(uid, "uid")?,
            gid: id(gid, "gid")?,
            mode,
            mtime,
            xattrs,
        })
    }
}

fn write_entry<R: Read>(
    root: &Root,
    path: &Path,
    kind: EntryType,
    entry: &mut tar::Entry<R>,
    meta: &Meta,
    policy: &Policy,
    done: &mut Unpacked,
) -> Result<(), String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let parent = path.parent().unwrap_or(Path::new(""));
    let dir_perm = Permissions::from_mode(0o755);
    root.mkdir_all(parent, &dir_perm).map_err(|e| {
        format!(
            "its parent {} is not a directory of this layer (a symlink, or a file): {e}",
            parent.display()
        )
    })?;

    if name == OPAQUE {
        let dir = root
            .resolve(parent)
            .and_then(|h| h.reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY))
            .map_err(|e| format!("open the opaque directory: {e}"))?;
        return set_xattr(&dir, c"trusted.overlay.opaque", b"y")
            .map_err(|e| format!("mark the directory opaque: {e}"));
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err("a whiteout of nothing".into());
        }
        let target = parent.join(hidden);
        remove_existing(root, &target)?;
        return root
            .create(
                &target,
                &InodeType::CharacterDevice(Permissions::from_mode(0o000), 0),
            )
            .map_err(|e| format!("make the whiteout for {}: {e}", target.display()));
    }

    match kind {
        EntryType::Directory => {
            let open_dir = || {
                root.resolve_nofollow(path)
                    .and_then(|h| h.reopen(OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY))
            };
            let dir = match open_dir() {
                Ok(dir) => dir,
                Err(_) => {
                    remove_existing(root, path)?;
                    root.mkdir_all(path, &dir_perm)
                        .map_err(|e| format!("make the directory: {e}"))?;
                    open_dir().map_err(|e| format!("open the directory: {e}"))?
                }
            };
            apply(&dir, meta)
        }
        EntryType::Regular | EntryType::Continuous => {
            let size = entry
                .header()
                .size()
                .map_err(|e| format!("unreadable size: {e}"))?;
            if done.bytes.saturating_add(size) > policy.max_bytes {
                return Err(format!(
                    "is {size} bytes, past the {} bytes a layer may unpack to",
                    policy.max_bytes
                ));
            }
            remove_existing(root, path)?;
            let mut file = root
                .create_file(
                    path,
                    OpenFlags::O_WRONLY | OpenFlags::O_EXCL | OpenFlags::O_NOFOLLOW,
                    &Permissions::from_mode(0o600),
                )
                .map_err(|e| format!("create the file: {e}"))?;
            let copied = io::copy(&mut entry.by_ref().take(size), &mut file)
                .map_err(|e| format!("write the file: {e}"))?;
            if copied != size {
                return Err(format!("the stream ends {} bytes early", size - copied));
            }
            done.bytes += size;
            apply(&file, meta)
        }
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or("a symlink without a target")?
                .into_owned();
            remove_existing(root, path)?;
            root.create(
                path,
                &InodeType::Symlink(PathBuf::from(OsStr::from_bytes(&target))),
            )
            .map_err(|e| format!("make the symlink: {e}"))?;
            let link = root
                .resolve_nofollow(path)
                .map_err(|e| format!("open the symlink: {e}"))?;
            chown_empty_path(&link, meta)
        }
        EntryType::Link => {
            let raw = entry
                .link_name_bytes()
                .ok_or("a hardlink without a target")?
                .into_owned();
            let target = clean_path(&raw)?.ok_or("a hardlink to the layer's root")?;
            remove_existing(root, path)?;
            root.create(path, &InodeType::Hardlink(target.clone()))
                .map_err(|e| {
                    format!(
                        "hardlink to {}, which is not a file of this layer: {e}",
                        target.display()
                    )
                })
        }
        EntryType::Char | EntryType::Block => {
            if !policy.allow_devices {
                return Err("a device node, and this app does not allow devices".into());
            }
            let number = |v: io::Result<Option<u32>>| v.ok().flatten().unwrap_or(0);
            let dev = libc::makedev(
                number(entry.header().device_major()),
                number(entry.header().device_minor()),
            );
            let perm = Permissions::from_mode(meta.mode);
            let inode = if kind == EntryType::Char {
                InodeType::CharacterDevice(perm, dev)
            } else {
                InodeType::BlockDevice(perm, dev)
            };
            remove_existing(root, path)?;
            root.create(path, &inode)
                .map_err(|e| format!("make the device node: {e}"))?;
            let node = root
                .resolve_nofollow(path)
                .map_err(|e| format!("open the device node: {e}"))?;
            chown_empty_path(&node, meta)
        }
        EntryType::Fifo => {
            remove_existing(root, path)?;
            root.create(path, &InodeType::Fifo(Permissions::from_mode(meta.mode)))
                .map_err(|e| format!("make the fifo: {e}"))?;
            let fifo = root
                .resolve_nofollow(path)
                .map_err(|e| format!("open the fifo: {e}"))?;
            chown_empty_path(&fifo, meta)
        }
        EntryType::GNUSparse => Err("a sparse file, which davit does not unpack".into()),
        other => Err(format!("entry type {other:?} is not supported")),
    }
}

/// A later entry of the same path replaces an earlier one (tar's rule); a directory stays
/// when the new entry is a directory too (the caller checks that first).
fn remove_existing(root: &Root, path: &Path) -> Result<(), String> {
    match root.resolve_nofollow(path) {
        Ok(_) => root
            .remove_all(path)
            .map_err(|e| format!("replace the earlier entry: {e}")),
        Err(_) => Ok(()),
    }
}

/// Owner, then mode (chown clears setuid bits), extended attributes and time of an open file
/// or directory.
fn apply(file: &File, meta: &Meta) -> Result<(), String> {
    nix::unistd::fchown(
        file.as_raw_fd(),
        Some(meta.uid.into()),
        Some(meta.gid.into()),
    )
    .map_err(|e| format!("set owner {}:{}: {e}", meta.uid, meta.gid))?;
    file.set_permissions(Permissions::from_mode(meta.mode))
        .map_err(|e| format!("set mode {:o}: {e}", meta.mode))?;
    for (name, value) in &meta.xattrs {
        set_xattr(file, name, value)
            .map_err(|e| format!("set xattr {}: {e}", name.to_string_lossy()))?;
    }
    let t = libc::timespec {
        tv_sec: meta.mtime as libc::time_t,
        tv_nsec: 0,
    };
    // SAFETY: `file` is an open descriptor and `times` points at two valid timespecs.
    let r = unsafe { libc::futimens(file.as_raw_fd(), [t, t].as_ptr()) };
    if r != 0 {
        return Err(format!("set mtime: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// The owner of a symlink, fifo or device node, through its O_PATH handle (nix's fchownat
/// has no AT_EMPTY_PATH).
fn chown_empty_path(handle: &impl AsFd, meta: &Meta) -> Result<(), String> {
    // SAFETY: the fd is open and the path is a valid, empty C string.
    let r = unsafe {
        libc::fchownat(
            handle.as_fd().as_raw_fd(),
            c"".as_ptr(),
            meta.uid,
            meta.gid,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(format!(
            "set owner {}:{}: {}",
            meta.uid,
            meta.gid,
            io::Error::last_os_error()
        ))
    }
}

fn set_xattr(file: &File, name: &std::ffi::CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: the fd is open, `name` is NUL-terminated, and `value` is a valid slice.
    let r = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
