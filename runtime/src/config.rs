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
        let spec = parse(&path)?;
        check(&path, dir, &spec)?;
        warn_unknown_capabilities(&path);
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

fn parse(path: &Path) -> Result<Spec> {
    // The same deserializer instantiation as libcontainer's own `Spec::load` (a reader over a
    // file): a second one for these errors alone cost ~300 kB of binary. The field is found
    // from serde_json's line and column instead (`field_at`), in the text read again only
    // then.
    use libcontainer::oci_spec::OciSpecError;
    let read_error = |source| Error::ConfigRead {
        path: path.to_owned(),
        source,
    };
    match Spec::load(path) {
        Ok(spec) => Ok(spec),
        Err(OciSpecError::SerDe(e)) if e.is_io() => Err(read_error(e.into())),
        Err(OciSpecError::SerDe(e)) => {
            let text = fs::read(path).unwrap_or_default();
            let field = field_at(&text, e.line(), e.column());
            let field = if field.is_empty() {
                "(document)".to_owned()
            } else {
                field
            };
            Err(invalid(path, &field, e.to_string()))
        }
        Err(OciSpecError::Io(source)) => Err(read_error(source)),
        Err(e) => Err(invalid(path, "(document)", e.to_string())),
    }
}

/// The path of the JSON value at a 1-based line and column (as serde_json reports an error),
/// `linux.resources.pids.limit` or `process.args[1]`: the object keys and array indexes that
/// enclose that point. Empty at the top level or where no key was read yet.
fn field_at(text: &[u8], line: usize, column: usize) -> String {
    enum Frame {
        Object { key: Option<String>, want_key: bool },
        Array { index: usize },
    }
    let line_start = if line <= 1 {
        0
    } else {
        let mut newlines = 0;
        text.iter()
            .position(|&b| {
                newlines += usize::from(b == b'\n');
                newlines == line - 1
            })
            .map_or(text.len(), |i| i + 1)
    };
    let end = (line_start + column).min(text.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match text[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, want_key }) => (*key, *want_key) = (None, true),
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b'"' => {
                let start = i + 1;
                i = start;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { key, want_key }) = stack.last_mut()
                    && *want_key
                {
                    let raw = &text[start..i.min(text.len())];
                    *key = Some(String::from_utf8_lossy(raw).into_owned());
                    *want_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(k), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Object { key: None, .. } => break,
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
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

/// Logs each capability name the config asks for that davit does not know. runtime-spec 1.1
/// wants a warning and no failure (runc's "ignoring unknown or unavailable capabilities");
/// the set itself was read without them (oci-spec patch 0002).
fn warn_unknown_capabilities(path: &Path) {
    #[derive(serde::Deserialize)]
    struct Config {
        process: Option<Process>,
    }
    #[derive(serde::Deserialize)]
    struct Process {
        capabilities: Option<std::collections::BTreeMap<String, Option<Vec<String>>>>,
    }
    let Ok(text) = fs::read(path) else { return };
    let Ok(Config {
        process: Some(Process {
            capabilities: Some(sets),
        }),
    }) = serde_json::from_slice(&text)
    else {
        return;
    };
    for (set, names) in &sets {
        let names = names.iter().flatten().map(String::as_str);
        for name in libcontainer::oci_spec::runtime::unknown_capability_names(names) {
            tracing::warn!(
                "{}: process.capabilities.{set}: unknown capability {name:?} ignored",
                path.display()
            );
        }
    }
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
    fn field_at_follows_keys_and_indexes() {
        let text = "{\"a\": {\"b\": [1, {\"c\": \"x,\\\"}\"}], \"d\": 2},\n \"e\": ";
        // serde_json's column is that of the last byte it read: the closing quote of "x,\"}"
        // (inside a.b[1].c), the 2 (a.d), the space after "e": on line 2.
        let after_x = text.find("\"}]").unwrap() + 1;
        assert_eq!(field_at(text.as_bytes(), 1, after_x), "a.b[1].c");
        assert_eq!(
            field_at(text.as_bytes(), 1, text.find("2}").unwrap() + 1),
            "a.d"
        );
        assert_eq!(field_at(text.as_bytes(), 2, 6), "e");
        assert_eq!(field_at(text.as_bytes(), 1, 1), "");
    }

    #[test]
    fn a_missing_field_names_its_object() {
        let mut v = valid();
        v["process"].as_object_mut().unwrap().remove("cwd");
        let (_d, r) = bundle_with(&serde_json::to_string_pretty(&v).unwrap());
        let m = message(r);
        assert!(
            m.contains("config.json: process: missing field `cwd`"),
            "{m}"
        );
    }

    #[test]
    fn a_wrong_type_in_an_array_names_the_array() {
        // serde_json places an error inside an array after the array's end.
        let mut v = valid();
        v["process"]["args"] = serde_json::json!(["sh", 5]);
        let (_d, r) = bundle_with(&v.to_string());
        let m = message(r);
        assert!(m.contains("config.json: process.args: invalid type"), "{m}");
    }

    #[test]
    fn an_unknown_capability_is_left_out_not_refused() {
        let mut c = valid();
        c["process"]["capabilities"]["bounding"] =
            serde_json::json!(["CAP_CHOWN", "CAP_LAUNCH_MISSILES"]);
        let (_dir, r) = bundle_with(&c.to_string());
        let b = r.unwrap();
        let caps = b.spec.process().as_ref().unwrap().capabilities().clone();
        let bounding = caps.unwrap().bounding().clone().unwrap();
        assert_eq!(bounding.len(), 1, "{bounding:?}");
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
