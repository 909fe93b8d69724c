//! The digest of an unpacked layer directory: every entry's path, type, owner, mode, content
//! (or link target, or device number) and extended attributes, in path order. Recorded when
//! the layer is unpacked, compared by `davit store verify`: a file changed, added or removed
//! afterwards (a bad sector, a hand edit, a half-applied repair) changes it. Times are left
//! out: they say nothing about what the app will run.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// The hex sha256 of the tree under `dir` (symlinks are recorded, never followed).
pub fn digest(dir: &Path) -> io::Result<String> {
    let mut h = Sha256::new();
    walk(dir, Path::new(""), &mut h)?;
    Ok(super::hex(&h.finalize()))
}

fn walk(dir: &Path, rel: &Path, h: &mut Sha256) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let path = dir.join(&rel);
        let m = fs::symlink_metadata(&path)?;
        let t = m.file_type();
        h.update(rel.as_os_str().as_bytes());
        h.update([0]);
        h.update(format!("{:o} {} {}", m.mode(), m.uid(), m.gid()).as_bytes());
        h.update([0]);
        if t.is_file() {
            h.update(m.len().to_le_bytes());
            io::copy(&mut File::open(&path)?, h)?;
        } else if t.is_symlink() {
            h.update(fs::read_link(&path)?.as_os_str().as_bytes());
        } else if t.is_char_device() || t.is_block_device() {
            h.update(m.rdev().to_le_bytes());
        }
        h.update([0]);
        for (k, v) in xattrs(&path)? {
            h.update(&k);
            h.update([0]);
            h.update(&v);
            h.update([0]);
        }
        h.update([0xff]);
        if t.is_dir() {
            walk(dir, &rel, h)?;
        }
    }
    Ok(())
}

/// The extended attributes of `path` itself (not of a symlink's target), sorted by name.
fn xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    let names = read_sized(|buf, len| {
        // SAFETY: `c` is NUL-terminated; buf is valid for len bytes (or null with len 0).
        unsafe { libc::llistxattr(c.as_ptr(), buf.cast(), len) }
    })?;
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name)?;
        let value = read_sized(|buf, len| {
            // SAFETY: both strings are NUL-terminated; buf is valid for len bytes.
            unsafe { libc::lgetxattr(c.as_ptr(), cname.as_ptr(), buf.cast(), len) }
        })?;
        out.push((name.to_vec(), value));
    }
    out.sort();
    Ok(out)
}

/// Calls a size-then-fill xattr call until the buffer is big enough for the answer.
fn read_sized(call: impl Fn(*mut u8, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let n = call(std::ptr::null_mut(), 0);
        if n < 0 {
            let e = io::Error::last_os_error();
            // A file system without xattrs has none to record.
            return match e.raw_os_error() {
                Some(libc::ENOTSUP) => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        let mut buf = vec![0u8; n as usize];
        let got = call(buf.as_mut_ptr(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}
