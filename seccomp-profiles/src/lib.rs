//! davit's seccomp profiles, kept as data in the OCI `linux.seccomp` format.
//!
//! - [`DEFAULT_PROFILE`] (`default.json`): a default-deny allowlist for apps, which
//!   `davit spec` writes into new bundles.
//! - [`DAVIT_PROFILE`] (`davit.json`): what davit's own long-running process may call.
//!   [`confine_self`] installs it. On x86_64 and aarch64 it was compiled to BPF by `build.rs`
//!   with seccompiler, so nothing is parsed or compiled at start; on armv7, which seccompiler
//!   does not know, libseccomp compiles the same profile at start.

use libcontainer::oci_spec::runtime::{Arch, LinuxSeccomp};

/// The default profile for apps (OCI `linux.seccomp` JSON).
pub const DEFAULT_PROFILE: &str = include_str!("../default.json");

/// The profile of davit's own daemon (OCI `linux.seccomp` JSON).
pub const DAVIT_PROFILE: &str = include_str!("../davit.json");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp-profiles/{file}: {source}")]
    Profile {
        file: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("compile davit's seccomp filter with libseccomp")]
    Compile(#[source] libcontainer::seccomp::SeccompError),
    #[error("compile davit's seccomp filter: keep the program in memory")]
    Io(#[source] std::io::Error),
    #[error("davit's seccomp filter has {0} instructions (1 to 65535 can be loaded)")]
    BadProgram(usize),
    #[error("set no_new_privs")]
    NoNewPrivs(#[source] std::io::Error),
    #[error("install davit's seccomp filter")]
    Install(#[source] std::io::Error),
    #[error("install davit's seccomp filter: thread {0} cannot take it (TSYNC)")]
    ThreadSync(libc::c_long),
}

/// What a call outside davit's profile does once the filter is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Kill the whole process (production).
    Enforce,
    /// Let the call through and have the kernel log it (SECCOMP_RET_LOG, in the audit log or
    /// dmesg): for profiling a new deployment before enforcing.
    Log,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "enforce" => Ok(Mode::Enforce),
            "log" => Ok(Mode::Log),
            other => Err(format!("{other:?}: expected \"enforce\" or \"log\"")),
        }
    }
}

/// The default profile for apps, parsed, for the architectures this build runs on.
///
/// default.json lists every architecture davit supports, but libseccomp compiles a branch for
/// each one in a config at every create: with all five, loading the filter cost about 35 ms a
/// container here (x86_64), with this target's three about 18 ms.
pub fn default_profile() -> Result<LinuxSeccomp, Error> {
    let mut profile: LinuxSeccomp =
        serde_json::from_str(DEFAULT_PROFILE).map_err(|source| Error::Profile {
            file: "default.json",
            source,
        })?;
    let native = native_architectures();
    let archs = profile
        .architectures()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| native.contains(a))
        .collect();
    profile.set_architectures(Some(archs));
    Ok(profile)
}

/// The target's architecture and those whose binaries its kernel also runs.
fn native_architectures() -> &'static [Arch] {
    if cfg!(target_arch = "x86_64") {
        &[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    } else if cfg!(target_arch = "aarch64") {
        &[Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else if cfg!(target_arch = "arm") {
        &[Arch::ScmpArchArm]
    } else {
        &[]
    }
}

/// Confines the calling process, all its threads and every child it makes later to
/// [`DAVIT_PROFILE`]. Sets no_new_privs first, which installing a filter without
/// CAP_SYS_ADMIN requires and which the kernel then gives every thread the filter reaches.
pub fn confine_self(mode: Mode) -> Result<(), Error> {
    install_on_all_threads(&imp::program(mode)?)
}

/// Sets no_new_privs and installs `program` with seccomp(2) and SECCOMP_FILTER_FLAG_TSYNC, so
/// that the kernel applies it to every thread of the process at once, or to none.
fn install_on_all_threads(program: &[libc::sock_filter]) -> Result<(), Error> {
    let len = u16::try_from(program.len())
        .ok()
        .filter(|&n| n > 0)
        .ok_or(Error::BadProgram(program.len()))?;
    let (one, zero): (libc::c_ulong, libc::c_ulong) = (1, 0);
    // SAFETY: PR_SET_NO_NEW_PRIVS takes no pointers: the call only sets a flag of this thread.
    // (The arguments are unsigned longs, as the kernel reads them: it wants the unused ones 0.)
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, one, zero, zero, zero) } != 0 {
        return Err(Error::NoNewPrivs(std::io::Error::last_os_error()));
    }
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `len` initialized instructions that outlive the call, and the
    // kernel only reads them (it copies the program).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &prog as *const libc::sock_fprog,
        )
    };
    match rc {
        0 => Ok(()),
        // With TSYNC, a positive result is the id of a thread that could not be synchronized
        // (it has a filter of its own that is not an ancestor of ours); nothing was installed.
        tid if tid > 0 => Err(Error::ThreadSync(tid)),
        _ => Err(Error::Install(std::io::Error::last_os_error())),
    }
}

/// The BPF instructions in `raw`, `struct sock_filter` records of 8 bytes.
fn decode(
    raw: &[u8],
    u16_from: fn([u8; 2]) -> u16,
    u32_from: fn([u8; 4]) -> u32,
) -> Vec<libc::sock_filter> {
    raw.chunks_exact(8)
        .map(|r| libc::sock_filter {
            code: u16_from([r[0], r[1]]),
            jt: r[2],
            jf: r[3],
            k: u32_from([r[4], r[5], r[6], r[7]]),
        })
        .collect()
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod imp {
    use super::{Error, Mode, decode};

    // Written by build.rs: the filter as raw `struct sock_filter` records, little-endian.
    const ENFORCE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/davit-enforce.bpf"));
    const LOG: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/davit-log.bpf"));

    pub(super) fn program(mode: Mode) -> Result<Vec<libc::sock_filter>, Error> {
        let raw = match mode {
            Mode::Enforce => ENFORCE,
            Mode::Log => LOG,
        };
        Ok(decode(raw, u16::from_le_bytes, u32::from_le_bytes))
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use std::fs::File;
    use std::io::{Read, Seek, SeekFrom};
    use std::os::fd::FromRawFd;

    use libcontainer::oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

    use super::{DAVIT_PROFILE, Error, Mode, decode};

    /// Compiles davit.json with libseccomp (seccompiler does not know this architecture) and
    /// takes the program it would load, in the byte order of this machine.
    pub(super) fn program(mode: Mode) -> Result<Vec<libc::sock_filter>, Error> {
        let mut profile: LinuxSeccomp =
            serde_json::from_str(DAVIT_PROFILE).map_err(|source| Error::Profile {
                file: "davit.json",
                source,
            })?;
        if mode == Mode::Log {
            profile.set_default_action(LinuxSeccompAction::ScmpActLog);
        }
        // SAFETY: the name is a NUL-terminated string; memfd_create returns a new descriptor
        // or -1.
        let fd = unsafe { libc::memfd_create(c"davit-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::Io(std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just opened by memfd_create and nothing else owns it.
        let mut file = unsafe { File::from_raw_fd(fd) };
        libcontainer::seccomp::export_bpf(&profile, &file).map_err(Error::Compile)?;
        let mut raw = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut raw))
            .map_err(Error::Io)?;
        Ok(decode(&raw, u16::from_ne_bytes, u32::from_ne_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::{Mode, confine_self};

    const CHILD: &str = "DAVIT_SECCOMP_PROFILES_TEST_CHILD";

    /// This test binary again, running only `test` with `CHILD` set: a filter stays on a
    /// process for good, so only a child may confine itself.
    fn in_child(test: &str) -> String {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{test} in a child: {:?}\n{text}",
            out.status
        );
        text
    }

    /// Each thread of this process: its id, and its Seccomp, NoNewPrivs and Seccomp_filters
    /// fields in /proc.
    fn threads() -> Vec<(String, [String; 3])> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .map(|t| {
                let t = t.unwrap();
                let status = std::fs::read_to_string(t.path().join("status")).unwrap();
                let field = |name: &str| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .unwrap_or_default()
                        .trim()
                        .to_owned()
                };
                (
                    t.file_name().to_string_lossy().into_owned(),
                    ["Seccomp:", "NoNewPrivs:", "Seccomp_filters:"].map(field),
                )
            })
            .collect()
    }

    #[test]
    fn confine_self_covers_threads_started_before_it() {
        if std::env::var_os(CHILD).is_none() {
            let text = in_child("tests::confine_self_covers_threads_started_before_it");
            assert!(text.contains("confined threads: "), "{text}");
            return;
        }
        // Log mode: a call outside davit's profile is only logged, so the test harness lives.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        let before = threads();
        assert!(before.len() >= 2, "{before:?}");
        confine_self(Mode::Log).unwrap();
        let after = threads();
        for (tid, [_, _, filters]) in &before {
            let one_more = (filters.parse::<u32>().unwrap() + 1).to_string();
            let now = &after.iter().find(|(t, _)| t == tid).unwrap().1;
            assert_eq!(
                now,
                &["2", "1", one_more.as_str()],
                "thread {tid}: {before:?} {after:?}"
            );
        }
        println!("confined threads: {}", before.len());
        tx.send(()).unwrap();
        other.join().unwrap().unwrap();
    }
}
