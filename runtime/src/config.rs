//! Reading a bundle's config.json with errors that name the file, the field and the reason,
//! before libcontainer sees it (libcontainer's own messages say only "oci spec error").

use std::fs;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::Spec;

use crate::error::{Error, Result};

pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
}

impl Bundle {
    /// Loads and checks `<dir>/config.json` for what `create` needs.
    pub fn load(dir: &Path) -> Result<Bundle> {
        if !dir.is_dir() {
            return Err(Error::BundleMissing {
                path: dir.to_owned(),
            });
        }
        let path = dir.join("config.json");
        let bytes = fs::read(&path).map_err(|source| Error::ConfigRead {
            path: path.clone(),
            source,
        })?;
        let spec = parse(&path, &bytes)?;
        check(&path, dir, &spec)?;
        Ok(Bundle {
            dir: dir.to_owned(),
            spec,
        })
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn cgroups_path(&self, id: &str) -> PathBuf {
        let configured = self
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone());
        libcontainer::utils::get_cgroup_path(&configured, id)
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = match e.path().to_string() {
            // serde_path_to_error says "." or "?" where no field was reached (JSON syntax).
            p if p == "." || p == "?" => "(document)".to_owned(),
            p => p,
        };
        invalid(path, &field, e.into_inner().to_string())
    })
}

fn invalid(path: &Path, field: &str, reason: impl Into<String>) -> Error {
    Error::ConfigInvalid {
        path: path.to_owned(),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn check(path: &Path, dir: &Path, spec: &Spec) -> Result<()> {
    if !spec.version().starts_with("1.") {
        return Err(invalid(
            path,
            "ociVersion",
            format!(
                "{:?} is not supported: davit runs runtime-spec 1.x",
                spec.version()
            ),
        ));
    }
    let Some(process) = spec.process() else {
        return Err(invalid(path, "process", "missing: nothing to run"));
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid(path, "process.args", "empty: nothing to run"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            path,
            "process.cwd",
            format!("{:?} must be an absolute path", process.cwd()),
        ));
    }
    if process
        .apparmor_profile()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
        && !apparmor_enabled()
    {
        return Err(invalid(
            path,
            "process.apparmorProfile",
            "AppArmor is not enabled on this host",
        ));
    }
    let Some(root) = spec.root() else {
        return Err(invalid(path, "root", "missing: no root filesystem"));
    };
    let rootfs = dir.join(root.path());
    if !rootfs.is_dir() {
        return Err(invalid(
            path,
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    if spec.linux().is_none() {
        return Err(invalid(
            path,
            "linux",
            "missing: davit runs Linux containers",
        ));
    }
    Ok(())
}

pub(crate) fn apparmor_enabled() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.starts_with('Y'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: &str) -> (tempfile::TempDir, Result<Bundle>) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("rootfs")).unwrap();
        fs::write(dir.path().join("config.json"), config).unwrap();
        let r = Bundle::load(dir.path());
        (dir, r)
    }

    fn valid() -> serde_json::Value {
        serde_json::to_value(crate::spec::default_spec().unwrap()).unwrap()
    }

    fn message(r: Result<Bundle>) -> String {
        match r {
            Err(e) => e.to_string(),
            Ok(_) => panic!("config accepted"),
        }
    }

    #[test]
    fn the_default_spec_is_accepted() {
        let (_d, r) = bundle_with(&valid().to_string());
        assert!(r.is_ok());
    }

    #[test]
    fn a_wrong_type_names_the_field_path() {
        let mut v = valid();
        v["linux"]["resources"] = serde_json::json!({"memory": {"limit": "lots"}});
        let (_d, r) = bundle_with(&v.to_string());
        let m = message(r);
        assert!(
            m.contains("config.json: linux.resources.memory.limit: "),
            "{m}"
        );
    }

    #[test]
    fn broken_json_names_the_line() {
        let (_d, r) = bundle_with("{\"ociVersion\": \"1.0.2\",\n  oops");
        let m = message(r);
        assert!(m.contains("config.json") && m.contains("line 2"), "{m}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let cases: [(&str, serde_json::Value, &str); 4] = [
            ("/ociVersion", serde_json::json!("2.0.0"), "ociVersion"),
            ("/process/args", serde_json::json!([]), "process.args"),
            ("/process/cwd", serde_json::json!("relative"), "process.cwd"),
            ("/root/path", serde_json::json!("nope"), "root.path"),
        ];
        for (pointer, value, field) in cases {
            let mut v = valid();
            *v.pointer_mut(pointer).unwrap() = value;
            let (_d, r) = bundle_with(&v.to_string());
            let m = message(r);
            assert!(m.contains(&format!(": {field}: ")), "{pointer}: {m}");
        }
    }

    #[test]
    fn a_missing_bundle_or_config_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let m = message(Bundle::load(&dir.path().join("absent")));
        assert!(
            m.contains("absent") && m.contains("no such directory"),
            "{m}"
        );
        let m = message(Bundle::load(dir.path()));
        assert!(m.contains("config.json"), "{m}");
    }
}
