//! Compiled seccomp programs, kept per profile under the state root.
//!
//! libseccomp needs ~17 ms to turn the default profile (361 names, 3 architectures) into BPF:
//! half of a container start on this kind of machine, paid again at every create and exec.
//! The program depends only on the profile, on the davit binary (libseccomp and libcontainer's
//! translation are linked in) and on the kernel (libseccomp probes which actions it supports).
//! So davit compiles each profile once, in the create or exec process before libcontainer
//! forks, and later ones hand the stored program to libcontainer, which loads it with
//! seccomp(2) in the container instead of compiling the profile there.
//!
//! The cache sits in the state root (tmpfs on a board, so a reboot empties it) and is as
//! private as the root. Entries are named by a sha256 over everything the program depends on,
//! carry a sha256 of their own content, and replace each other by rename: a torn, foreign or
//! stale file is never loaded, only recompiled. So they are not fsynced: a power cut can at
//! worst cost one recompile, while the two syncs cost a profile's first start milliseconds on
//! a disk-backed root.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
use libcontainer::seccomp;
use nix::sys::memfd::{MemFdCreateFlag, memfd_create};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fsutil;

/// The cache's directory in the root. `@` is outside the container id alphabet, so this can
/// never be a container's directory, and `list` skips it.
const DIR: &str = "@seccomp";

/// Entries kept: a board runs a few profiles; a caller that makes a new profile per container
/// must not fill the tmpfs.
const KEEP: usize = 32;

const DIGEST_LEN: usize = 32;

/// The BPF program for `spec`'s `linux.seccomp` (read from `config`), from the cache or
/// freshly compiled and then stored. `None` without a profile, and for profiles with
/// SCMP_ACT_NOTIFY, which libcontainer must set up itself.
pub(crate) fn program(root: &Path, config: &Path, spec: &Spec) -> Result<Option<Vec<u8>>> {
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) if !seccomp::is_notify(profile) => cached(root, config, profile).map(Some),
        _ => Ok(None),
    }
}

fn cached(root: &Path, config: &Path, profile: &LinuxSeccomp) -> Result<Vec<u8>> {
    let dir = root.join(DIR);
    let path = dir.join(format!("{}.bpf", key(profile)?));
    match fs::read(&path) {
        Ok(entry) => {
            if let Some(program) = unseal(&entry) {
                return Ok(program.to_vec());
            }
            tracing::warn!(path = %path.display(), "seccomp cache entry is damaged; recompiling");
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read seccomp cache entry", &path, e)),
    }
    let program = compile(config, profile)?;
    // A cache that cannot be written only costs the next create the compile again.
    if let Err(e) = store(&dir, &path, &program) {
        tracing::warn!(path = %path.display(), error = %e, "cannot store compiled seccomp profile");
    }
    Ok(program)
}

/// Everything the compiled program depends on. The binary is identified by the inode, size
/// and mtime of /proc/self/exe (an upgrade replaces the file), which costs one stat instead of
/// hashing 5 MB.
fn key(profile: &LinuxSeccomp) -> Result<String> {
    let exe = fs::metadata("/proc/self/exe")
        .map_err(|e| Error::io("stat own binary", "/proc/self/exe", e))?;
    let kernel = nix::sys::utsname::uname().map_err(|e| Error::sys("uname", e))?;
    let json = serde_json::to_vec(profile)
        .map_err(|e| Error::Internal(format!("serialize seccomp profile: {e}")))?;
    let mut h = Sha256::new();
    h.update(b"davit seccomp program v1\0");
    h.update(std::env::consts::ARCH.as_bytes());
    h.update(b"\0");
    h.update(kernel.release().as_encoded_bytes());
    h.update(b"\0");
    for n in [
        exe.dev(),
        exe.ino(),
        exe.size(),
        exe.mtime() as u64,
        exe.mtime_nsec() as u64,
    ] {
        h.update(n.to_le_bytes());
    }
    h.update(&json);
    Ok(hex(&h.finalize()))
}

fn compile(config: &Path, profile: &LinuxSeccomp) -> Result<Vec<u8>> {
    let memfd = memfd_create(c"davit-seccomp", MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| Error::sys("memfd_create for the seccomp program", e))?;
    let mut file = fs::File::from(memfd);
    seccomp::export_bpf(profile, &file).map_err(|e| Error::SeccompCompile {
        path: config.to_owned(),
        source: Box::new(e),
    })?;
    let mut program = Vec::new();
    use std::io::{Read, Seek};
    file.rewind()
        .and_then(|_| file.read_to_end(&mut program))
        .map_err(|e| Error::io("read compiled seccomp program", "memfd", e))?;
    Ok(program)
}

fn store(dir: &Path, path: &Path, program: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut entry = program.to_vec();
    entry.extend_from_slice(&Sha256::digest(program));
    fsutil::replace(path, &entry)?;
    prune(dir, path)
}

/// The program in a cache entry, if its trailing digest matches.
fn unseal(entry: &[u8]) -> Option<&[u8]> {
    let (program, digest) = entry.split_at_checked(entry.len().checked_sub(DIGEST_LEN)?)?;
    (!program.is_empty() && Sha256::digest(program).as_slice() == digest).then_some(program)
}

/// Removes the least recently written entries beyond [`KEEP`], never `keep`.
fn prune(dir: &Path, keep: &Path) -> std::io::Result<()> {
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bpf") && p != keep)
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    if entries.len() < KEEP {
        return Ok(());
    }
    entries.sort();
    for (_, p) in &entries[..=entries.len() - KEEP] {
        let _ = fs::remove_file(p);
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::{
        LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder,
    };

    fn profile(names: &[&str]) -> LinuxSeccomp {
        LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActAllow)
            .syscalls(vec![
                LinuxSyscallBuilder::default()
                    .names(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .action(LinuxSeccompAction::ScmpActErrno)
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap()
    }

    fn compiled(root: &tempfile::TempDir, p: &LinuxSeccomp) -> Vec<u8> {
        cached(root.path(), Path::new("config.json"), p).unwrap()
    }

    /// The cache's entries, temporaries included.
    fn entries(root: &tempfile::TempDir) -> Vec<PathBuf> {
        let dir = fs::read_dir(root.path().join(DIR)).unwrap();
        dir.map(|e| e.unwrap().path()).collect()
    }

    #[test]
    fn a_profile_is_compiled_once_and_read_back_the_same() {
        let root = tempfile::tempdir().unwrap();
        let p = profile(&["mkdir"]);
        let first = compiled(&root, &p);
        assert_eq!(first.len() % 8, 0);
        assert_eq!(entries(&root).len(), 1, "one entry, no temporaries");
        assert_eq!(compiled(&root, &p), first);
        let other = compiled(&root, &profile(&["rmdir"]));
        assert_ne!(other, first, "another profile gets its own program");
    }

    #[test]
    fn a_damaged_entry_is_recompiled_not_loaded() {
        let root = tempfile::tempdir().unwrap();
        let p = profile(&["mkdir"]);
        let good = compiled(&root, &p);
        let [entry] = &entries(&root)[..] else {
            panic!("one entry expected");
        };
        let mut bytes = fs::read(entry).unwrap();
        bytes[0] ^= 0xff;
        fs::write(entry, &bytes).unwrap();
        assert_eq!(compiled(&root, &p), good);
        fs::write(entry, b"short").unwrap();
        assert_eq!(compiled(&root, &p), good);
        assert_eq!(unseal(&fs::read(entry).unwrap()), Some(&good[..]));
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_profiles() {
        let root = tempfile::tempdir().unwrap();
        let names = [
            "mkdir", "rmdir", "chdir", "chmod", "chown", "link", "unlink",
        ];
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                for c in ["getpid", "getppid"] {
                    compiled(&root, &profile(&[a, b, c]));
                }
            }
        }
        assert_eq!(
            entries(&root).len(),
            KEEP,
            "42 profiles compiled, {KEEP} kept"
        );
    }
}
