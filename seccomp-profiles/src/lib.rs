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
    #[error("install davit's seccomp filter: {0}")]
    Install(String),
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
/// [`DAVIT_PROFILE`]. Also sets no_new_privs, which installing a filter requires.
pub fn confine_self(mode: Mode) -> Result<(), Error> {
    imp::confine_self(mode)
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod imp {
    use super::{Error, Mode};
    use seccompiler::sock_filter;

    // Written by build.rs: the filter as raw `struct sock_filter` records, little-endian.
    const ENFORCE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/davit-enforce.bpf"));
    const LOG: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/davit-log.bpf"));

    fn program(raw: &[u8]) -> Vec<sock_filter> {
        raw.chunks_exact(8)
            .map(|r| sock_filter {
                code: u16::from_le_bytes([r[0], r[1]]),
                jt: r[2],
                jf: r[3],
                k: u32::from_le_bytes([r[4], r[5], r[6], r[7]]),
            })
            .collect()
    }

    pub(super) fn confine_self(mode: Mode) -> Result<(), Error> {
        let raw = match mode {
            Mode::Enforce => ENFORCE,
            Mode::Log => LOG,
        };
        seccompiler::apply_filter_all_threads(&program(raw))
            .map_err(|e| Error::Install(e.to_string()))
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use super::{DAVIT_PROFILE, Error, Mode};
    use libcontainer::oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

    pub(super) fn confine_self(mode: Mode) -> Result<(), Error> {
        let mut profile: LinuxSeccomp =
            serde_json::from_str(DAVIT_PROFILE).map_err(|source| Error::Profile {
                file: "davit.json",
                source,
            })?;
        if mode == Mode::Log {
            profile.set_default_action(LinuxSeccompAction::ScmpActLog);
        }
        // libseccomp sets no_new_privs itself; its filter covers the calling thread, and
        // davit confines itself before it starts any other.
        libcontainer::seccomp::initialize_seccomp(&profile)
            .map(|_| ())
            .map_err(|e| Error::Install(e.to_string()))
    }
}
