//! The config.json an app runs from: the bundle's own with the app file's settings applied.
//! The bundle itself is never written to: it may be read-only, or shared by two apps.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::app::{App, PidsLimit};

/// Where the notify socket appears inside the container, as runc puts it.
pub const NOTIFY_SOCKET_IN_CONTAINER: &str = "/run/notify/notify.sock";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{}: cannot read the bundle's config: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a JSON object: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    #[error("{}: cannot write the app's config: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `dir/config.json` for `app`; `notify_dir` (with `notify`) is the host directory
/// holding the app's notify socket. `second`: for the app's second container (a hand-over),
/// which must not share the first one's cgroup.
pub fn write(
    app: &App,
    dir: &Path,
    notify_dir: Option<&Path>,
    second: bool,
) -> Result<(), BundleError> {
    let src = app.bundle.join("config.json");
    let text = std::fs::read(&src).map_err(|source| BundleError::Read {
        path: src.clone(),
        source,
    })?;
    let mut spec: Value = serde_json::from_slice(&text).map_err(|e| BundleError::Parse {
        path: src.clone(),
        reason: e.to_string(),
    })?;
    if !spec.is_object() {
        return Err(BundleError::Parse {
            path: src,
            reason: "the top level is not an object".into(),
        });
    }
    apply(app, &mut spec, notify_dir);
    // Two containers in one cgroup would freeze, kill and count each other: the second one
    // gets `PATH-2` (unset, the runtime names the cgroup after the container id anyway).
    if second && let Some(path) = spec["linux"]["cgroupsPath"].as_str() {
        spec["linux"]["cgroupsPath"] = json!(format!("{path}-2"));
    }
    std::fs::create_dir_all(dir).map_err(|source| BundleError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let out = dir.join("config.json");
    let bytes = serde_json::to_vec_pretty(&spec).unwrap_or_default();
    runtime::write_atomic(&out, &bytes).map_err(|source| BundleError::Write { path: out, source })
}

fn apply(app: &App, spec: &mut Value, notify_dir: Option<&Path>) {
    // root.path is relative to the bundle, which is not where this config lives.
    let root = spec["root"]["path"].as_str().unwrap_or("rootfs").to_owned();
    let root = Path::new(&root);
    if root.is_relative() {
        spec["root"]["path"] = json!(app.bundle.join(root));
    }
    let mut env: Vec<String> = spec["process"]["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut set = |key: &str, value: &str| {
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(format!("{key}={value}"));
    };
    for (k, v) in &app.environment {
        set(k, v);
    }
    if let Some(dir) = notify_dir.filter(|_| app.notify) {
        set("NOTIFY_SOCKET", NOTIFY_SOCKET_IN_CONTAINER);
        if let Some(w) = app.watchdog {
            set("WATCHDOG_USEC", &w.as_micros().to_string());
        }
        let mounts = spec["mounts"].as_array_mut();
        let mount = json!({
            "destination": Path::new(NOTIFY_SOCKET_IN_CONTAINER).parent().unwrap_or(Path::new("/")),
            "type": "bind",
            "source": dir,
            "options": ["bind", "rw", "nosuid", "nodev", "noexec"],
        });
        match mounts {
            Some(m) => m.push(mount),
            None => spec["mounts"] = json!([mount]),
        }
    }
    spec["process"]["env"] = json!(env);
    let res = &mut spec["linux"]["resources"];
    if let Some(mem) = app.mem_limit {
        res["memory"]["limit"] = json!(mem);
    }
    match app.pids_limit {
        PidsLimit::Max(n) => res["pids"]["limit"] = json!(n),
        PidsLimit::Unlimited => {}
    }
    if let Some(cpus) = app.cpus {
        // As docker: a period of 100 ms and the quota that many CPUs' worth of it.
        let period = 100_000u64;
        res["cpu"]["period"] = json!(period);
        res["cpu"]["quota"] = json!((cpus * period as f64).round() as i64);
    }
    if res.as_object().is_some_and(|o| o.is_empty()) {
        res.take();
        if let Some(linux) = spec["linux"].as_object_mut() {
            linux.remove("resources");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_file_settings_land_in_the_generated_config() {
        let d = tempfile::tempdir().unwrap();
        let bundle = d.path().join("b");
        std::fs::create_dir(&bundle).unwrap();
        std::fs::write(
            bundle.join("config.json"),
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"env":["PATH=/bin","MODE=old"]},"linux":{}}"#,
        )
        .unwrap();
        std::fs::write(
            d.path().join("web.toml"),
            format!(
                "bundle = {:?}\nenvironment = {{ MODE = \"new\" }}\nmem_limit = \"64m\"\npids_limit = 20\ncpus = 0.5\nnotify = true\nwatchdog = \"2s\"\n",
                bundle.display().to_string()
            ),
        )
        .unwrap();
        let app = crate::app::load_file(&d.path().join("web.toml")).unwrap();
        let out = d.path().join("gen");
        write(&app, &out, Some(Path::new("/state/notify/web")), false).unwrap();
        let v: Value =
            serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(v["root"]["path"], json!(bundle.join("rootfs")));
        let env: Vec<&str> = v["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            env.contains(&"MODE=new") && !env.contains(&"MODE=old"),
            "{env:?}"
        );
        assert!(
            env.contains(&"NOTIFY_SOCKET=/run/notify/notify.sock"),
            "{env:?}"
        );
        assert!(env.contains(&"WATCHDOG_USEC=2000000"), "{env:?}");
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], json!(64 << 20));
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], json!(20));
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], json!(50_000));
        assert_eq!(v["mounts"][0]["destination"], json!("/run/notify"));
        assert_eq!(v["mounts"][0]["source"], json!("/state/notify/web"));
        // The bundle itself is untouched.
        assert!(
            !std::fs::read_to_string(bundle.join("config.json"))
                .unwrap()
                .contains("NOTIFY")
        );
    }

    #[test]
    fn the_second_container_of_a_hand_over_gets_a_cgroup_of_its_own() {
        let d = tempfile::tempdir().unwrap();
        let bundle = d.path().join("b");
        std::fs::create_dir(&bundle).unwrap();
        std::fs::write(
            bundle.join("config.json"),
            r#"{"ociVersion":"1.0.2","process":{"args":["sh"]},"linux":{"cgroupsPath":"/davit/web"}}"#,
        )
        .unwrap();
        std::fs::write(
            d.path().join("web.toml"),
            format!("bundle = {:?}\n", bundle.display().to_string()),
        )
        .unwrap();
        let app = crate::app::load_file(&d.path().join("web.toml")).unwrap();
        let cgroup = |second| {
            let out = d.path().join("gen");
            write(&app, &out, None, second).unwrap();
            let v: Value =
                serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
            v["linux"]["cgroupsPath"].clone()
        };
        assert_eq!(cgroup(false), json!("/davit/web"));
        assert_eq!(cgroup(true), json!("/davit/web-2"));
    }

    #[test]
    fn a_bundle_without_config_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x.toml"), "bundle = \"nowhere\"\n").unwrap();
        let app = crate::app::load_file(&d.path().join("x.toml")).unwrap();
        let e = write(&app, &d.path().join("gen"), None, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nowhere/config.json") && e.contains("cannot read"),
            "{e}"
        );
    }
}
