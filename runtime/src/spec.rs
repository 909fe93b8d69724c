use std::path::PathBuf;

use libcontainer::oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::{Runtime, fsutil, state};

/// runc's default config with davit's hostname and davit's default seccomp profile
/// (`seccomp-profiles/default.json`): busybox `sh` in `rootfs`, the default capabilities,
/// namespaces, mounts, masked and read-only paths.
///
/// `terminal` stays false (runc writes true): `davit run` then shares the caller's terminal
/// instead of refusing for want of a console socket.
pub fn default_spec() -> Result<Spec> {
    let mut spec = Spec::default();
    spec.set_hostname(Some("davit".to_owned()));
    let seccomp = seccomp_profiles::default_profile()?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(Some(seccomp));
    }
    Ok(spec)
}

pub(crate) fn command(_rt: &Runtime, args: liboci_cli::Spec) -> Result<i32> {
    if args.rootless {
        return Err(Error::Unsupported("spec --rootless".into()));
    }
    let dir = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(Error::Usage {
            what: path.display().to_string(),
            reason: "already exists; remove it first".into(),
        });
    }
    let json = state::to_json(&default_spec()?)?;
    fsutil::write_atomic(&path, json.as_bytes()).map_err(|e| Error::io("write", &path, e))?;
    Ok(0)
}
