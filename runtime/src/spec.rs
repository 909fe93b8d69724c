use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::fsutil;

/// runc's default config with davit's hostname and davit's default seccomp profile
/// (`seccomp-profiles/default.json`): busybox `sh` in `rootfs`, the default capabilities
/// (no inheritable set), namespaces, mounts, masked and read-only paths.
///
/// `terminal` stays false (runc writes true): `davit run` then shares the caller's terminal
/// instead of refusing for want of a console socket.
pub fn default_spec() -> Result<Spec> {
    let mut spec = Spec::default();
    spec.set_hostname(Some("davit".to_owned()));
    // No inheritable set, as runc writes since 1.1.2 (CVE-2022-29162): with one, a program
    // with file inheritable capabilities run by a non-root user in the container gained
    // them.
    if let Some(process) = spec.process_mut() {
        let caps = process.capabilities().clone().map(|mut c| {
            c.set_inheritable(None);
            c
        });
        process.set_capabilities(caps);
    }
    let seccomp = seccomp_profiles::default_profile()?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(Some(seccomp));
    }
    Ok(spec)
}

/// Writes [`default_spec`] as `<dir>/config.json`, refusing to replace one.
pub fn write_default_spec(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("config.json");
    if path.exists() {
        return Err(Error::Usage {
            what: path.display().to_string(),
            reason: "already exists; remove it first".into(),
        });
    }
    let json =
        serde_json::to_string_pretty(&default_spec()?).map_err(|e| Error::Json(e.to_string()))?;
    fsutil::write_atomic(&path, json.as_bytes()).map_err(|e| Error::io("write", &path, e))?;
    Ok(path)
}
