//! The runtime config of an image: what `docker run IMAGE` would run, as an OCI spec on
//! davit's defaults (its seccomp profile, runc's capabilities, namespaces and masked paths,
//! a read-only root). The app file's settings go on top of it (supervisor/, as for any
//! bundle).
//!
//! From the image config: `Entrypoint` + `Cmd` as the arguments, `Env` over the default
//! `PATH`/`TERM`, `WorkingDir`, `User` (numeric, or a name looked up in the image's own
//! `/etc/passwd` and `/etc/group`), and `Volumes`, returned for the app's named volumes.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// The spec for an image, and the paths its config declares as volumes.
pub struct ImageSpec {
    pub spec: Spec,
    pub volumes: Vec<String>,
}

/// `layers` are the image's layer directories, lowest first (as `import_layout` returns
/// them): names in `User` are looked up in the files the top-most layer holding them has.
pub fn spec_for_image(config: &ImageConfiguration, layers: &[PathBuf]) -> Result<ImageSpec> {
    let invalid = |field: &str, reason: String| Error::Document {
        path: format!("image config: config.{field}"),
        reason,
    };
    let mut spec = runtime::default_spec().map_err(|e| Error::Document {
        path: "davit's default spec".into(),
        reason: e.to_string(),
    })?;
    let c = config.config().clone().unwrap_or_default();

    let args: Vec<String> = c
        .entrypoint()
        .iter()
        .flatten()
        .chain(c.cmd().iter().flatten())
        .cloned()
        .collect();
    if args.is_empty() {
        return Err(invalid(
            "Cmd",
            "the image has neither Entrypoint nor Cmd: nothing to run".into(),
        ));
    }

    let mut process = spec.process().clone().unwrap_or_default();
    let mut env = process.env().clone().unwrap_or_default();
    for var in c.env().iter().flatten() {
        let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(var.clone());
    }

    let cwd = match c.working_dir().as_deref() {
        None | Some("") => PathBuf::from("/"),
        Some(dir) if dir.starts_with('/') => PathBuf::from(dir),
        Some(dir) => {
            return Err(invalid(
                "WorkingDir",
                format!("{dir:?} is not an absolute path"),
            ));
        }
    };

    let mut user = process.user().clone();
    if let Some(spec_user) = c.user().as_deref().filter(|u| !u.is_empty()) {
        let (uid, gid) = resolve_user(spec_user, layers).map_err(|r| invalid("User", r))?;
        user.set_uid(uid);
        user.set_gid(gid);
    }

    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(cwd);
    process.set_user(user);
    process.set_terminal(Some(false));
    spec.set_process(Some(process));

    let volumes = c.volumes().clone().unwrap_or_default();
    for v in &volumes {
        if !v.starts_with('/') {
            return Err(invalid("Volumes", format!("{v:?} is not an absolute path")));
        }
    }
    Ok(ImageSpec { spec, volumes })
}

/// `uid`, `uid:gid`, `name`, `name:group`, `uid:group`, `name:gid`. A user without a group
/// gets the primary group its passwd entry gives (0 for a bare uid the image does not list).
fn resolve_user(user: &str, layers: &[PathBuf]) -> Result<(u32, u32), String> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = image_file(layers, "etc/passwd");
    // passwd: name:x:uid:gid:...
    let entry = |pred: &dyn Fn(&[&str]) -> bool| -> Option<(u32, u32)> {
        passwd.as_deref()?.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 || !pred(&f) {
                return None;
            }
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        })
    };
    let (uid, primary) = match u.parse::<u32>() {
        Ok(uid) => (uid, entry(&|f| f[2] == u).map_or(0, |(_, g)| g)),
        Err(_) => entry(&|f| f[0] == u)
            .ok_or_else(|| format!("user {u:?} is not in the image's /etc/passwd"))?,
    };
    let gid = match g {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => image_file(layers, "etc/group")
                .as_deref()
                .and_then(|text| {
                    text.lines().find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() >= 3 && f[0] == g)
                            .then(|| f[2].parse().ok())
                            .flatten()
                    })
                })
                .ok_or_else(|| format!("group {g:?} is not in the image's /etc/group"))?,
        },
    };
    Ok((uid, gid))
}

/// The content of `rel` as the image's merged root shows it: the top-most layer that has
/// it decides (a whiteout there, or a non-file, means the image has none).
fn image_file(layers: &[PathBuf], rel: &str) -> Option<String> {
    for layer in layers.iter().rev() {
        let path: &Path = &layer.join(rel);
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_file() => return fs::read_to_string(path).ok(),
            Ok(_) => return None,
            Err(_) => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> ImageConfiguration {
        serde_json::from_str(json).unwrap()
    }

    fn layers_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let (low, high) = (dir.path().join("low"), dir.path().join("high"));
        fs::create_dir_all(low.join("etc")).unwrap();
        fs::create_dir_all(high.join("etc")).unwrap();
        for (rel, text) in files {
            let (layer, rel) = rel.split_once('/').unwrap();
            fs::write(dir.path().join(layer).join(rel), text).unwrap();
        }
        (dir, vec![low, high])
    }

    const BASE: &str = r#""architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []}"#;

    #[test]
    fn entrypoint_cmd_env_cwd_and_volumes_come_from_the_image() {
        let c = config(&format!(
            r#"{{{BASE}, "config": {{
                "Entrypoint": ["/bin/app", "--serve"], "Cmd": ["--port", "80"],
                "Env": ["PATH=/opt/bin:/bin", "MODE=edge"], "WorkingDir": "/srv",
                "Volumes": {{"/data": {{}}}} }}}}"#
        ));
        let s = spec_for_image(&c, &[]).unwrap();
        let p = s.spec.process().as_ref().unwrap();
        assert_eq!(
            p.args().as_deref().unwrap(),
            ["/bin/app", "--serve", "--port", "80"]
        );
        let env = p.env().as_deref().unwrap();
        assert!(env.contains(&"PATH=/opt/bin:/bin".to_owned()), "{env:?}");
        assert_eq!(env.iter().filter(|e| e.starts_with("PATH=")).count(), 1);
        assert!(env.contains(&"MODE=edge".to_owned()));
        assert_eq!(p.cwd(), Path::new("/srv"));
        assert_eq!(s.volumes, ["/data"]);
        assert_eq!(s.spec.root().as_ref().unwrap().readonly(), Some(true));
        assert!(
            s.spec.linux().as_ref().unwrap().seccomp().is_some(),
            "davit's default seccomp profile"
        );
    }

    #[test]
    fn an_image_with_nothing_to_run_or_a_relative_workdir_is_an_error_naming_the_field() {
        let e = spec_for_image(&config(&format!("{{{BASE}}}")), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("config.Cmd") && e.contains("nothing to run"),
            "{e}"
        );
        let c = config(&format!(
            r#"{{{BASE}, "config": {{"Cmd": ["sh"], "WorkingDir": "srv"}}}}"#
        ));
        let e = spec_for_image(&c, &[]).err().unwrap().to_string();
        assert!(
            e.contains("config.WorkingDir") && e.contains("absolute"),
            "{e}"
        );
    }

    #[test]
    fn users_by_number_and_by_name_from_the_top_most_layer() {
        let (_dir, layers) = layers_with(&[
            (
                "low/etc/passwd",
                "root:x:0:0::/root:/bin/sh\napp:x:500:500::/:/bin/sh\n",
            ),
            (
                "high/etc/passwd",
                "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
            ),
            ("high/etc/group", "root:x:0:\nvideo:x:44:app\n"),
        ]);
        let user = |u: &str| {
            let c = config(&format!(
                r#"{{{BASE}, "config": {{"Cmd": ["sh"], "User": "{u}"}}}}"#
            ));
            spec_for_image(&c, &layers).map(|s| {
                let p = s.spec.process().clone().unwrap();
                (p.user().uid(), p.user().gid())
            })
        };
        assert_eq!(user("app").unwrap(), (1000, 1001));
        assert_eq!(user("app:video").unwrap(), (1000, 44));
        assert_eq!(user("1000").unwrap(), (1000, 1001));
        assert_eq!(user("4242").unwrap(), (4242, 0));
        assert_eq!(user("4242:7").unwrap(), (4242, 7));
        let e = user("nobody").err().unwrap().to_string();
        assert!(e.contains("config.User") && e.contains("\"nobody\""), "{e}");
        let e = user("app:audio").err().unwrap().to_string();
        assert!(e.contains("group \"audio\""), "{e}");
    }
}
