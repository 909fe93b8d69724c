//! Keeps containers from rewriting davit's binary on the host (CVE-2019-5736).
//!
//! libcontainer forks the container's init from davit without an exec, so until the user
//! process is executed, `/proc/<init>/exe` inside the container is davit's own binary; a
//! process there can hold it open and reopen it for writing once no davit runs it. Since
//! 1.2, runc closes that with a read-only bind mount of its binary, and so does davit: before
//! `create`, `run` and `exec`, davit re-executes itself through a detached, read-only bind
//! mount of its own file (open_tree + mount_setattr, kernel >= 5.12). Every process forked
//! after that has an exe whose mount refuses writes (EROFS). No copy of the binary is made,
//! so this costs one exec, not a 5 MB memfd per container.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libcontainer::syscall::linux::{LinuxSyscall, MOUNT_ATTR_RDONLY, MountAttr};
use libcontainer::syscall::syscall::Syscall;
use nix::errno::Errno;
use nix::libc;
use nix::sys::statvfs::{FsFlags, statvfs};

use crate::error::{Error, Result};

const SELF_EXE: &str = "/proc/self/exe";

/// Re-executes the current process through a read-only mount of its own binary, unless it
/// already runs from one (after the re-exec, or from a read-only root filesystem). Returns
/// only when nothing needed doing or the kernel lacks the mount API.
pub fn run_from_read_only_binary() -> Result<()> {
    let stat = statvfs(SELF_EXE).map_err(|e| Error::sys("statvfs /proc/self/exe", e))?;
    if stat.flags().contains(FsFlags::ST_RDONLY) {
        return Ok(());
    }
    let sys = LinuxSyscall;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    let tree = match sys.open_tree(libc::AT_FDCWD, Some(SELF_EXE), flags) {
        Ok(fd) => fd,
        Err(e) => return unsupported_or(e, "open_tree"),
    };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    if let Err(e) = sys.mount_setattr(
        tree.as_fd(),
        Path::new(""),
        libc::AT_EMPTY_PATH as u32,
        &attr,
        std::mem::size_of::<MountAttr>(),
    ) {
        return unsupported_or(e, "mount_setattr");
    }
    let args = cstrings(std::env::args_os().map(|a| a.as_bytes().to_vec()))?;
    let env =
        cstrings(std::env::vars_os().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()))?;
    let err = nix::unistd::fexecve(tree.as_raw_fd(), &args, &env).unwrap_err();
    Err(Error::sys("re-execute davit from a read-only mount", err))
}

/// An old kernel has no mount API: run unprotected, but say so.
fn unsupported_or(e: libcontainer::syscall::SyscallError, what: &str) -> Result<()> {
    if let libcontainer::syscall::SyscallError::Nix(Errno::ENOSYS) = e {
        tracing::warn!(
            "{what}: not supported by this kernel; davit's binary is not protected from \
             containers (CVE-2019-5736) unless it is on a read-only filesystem"
        );
        return Ok(());
    }
    Err(Error::Internal(format!(
        "protect davit's binary from containers: {what}: {e}"
    )))
}

fn cstrings(items: impl Iterator<Item = Vec<u8>>) -> Result<Vec<CString>> {
    items
        .map(|s| {
            CString::new(s).map_err(|_| Error::Usage {
                what: "re-execute davit".into(),
                reason: "an argument or environment variable holds a NUL byte".into(),
            })
        })
        .collect()
}
