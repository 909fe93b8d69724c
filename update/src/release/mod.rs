//! Releases: a directory with a `release.toml`, the app files of its apps (`apps/NAME.toml`,
//! the supervisor's format with `image` in place of `bundle`) and one OCI image layout
//! (`images/`) holding every app's image, named by `org.opencontainers.image.ref.name`.
//!
//! Installing one is: [`prepare`] (images into the store, a bundle per app, the release's
//! installed app files, all written durably before anything runs from them), then
//! [`activate`] (journaled switch of the config directory's app files, confirm or roll back).

pub mod activate;
pub mod archive;
pub mod gc;
pub mod prepare;
pub mod rootfs;
pub mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use supervisor::app::{App, parse_duration};
use toml::de::{DeTable, DeValue};

use crate::error::{Error, Result};

/// Where everything installed lives, under the supervisor's state directory
/// (`/var/lib/davit` by default).
#[derive(Debug, Clone)]
pub struct Paths {
    pub state_dir: PathBuf,
    /// The supervisor's config directory, where the active release's app files are.
    pub config_dir: PathBuf,
}

impl Paths {
    /// Relative paths are made absolute: they end up in app files, read from elsewhere.
    pub fn new(state_dir: &Path, config_dir: &Path) -> Result<Paths> {
        let abs = |p: &Path| std::path::absolute(p).map_err(|e| Error::io("resolving", p, e));
        Ok(Paths {
            state_dir: abs(state_dir)?,
            config_dir: abs(config_dir)?,
        })
    }

    pub fn store(&self) -> PathBuf {
        self.state_dir.join("store")
    }
    /// `releases/VERSION/` (release.toml, apps/) and `releases/state.json`.
    pub fn releases(&self) -> PathBuf {
        self.state_dir.join("releases")
    }
    pub fn release(&self, version: &str) -> PathBuf {
        self.releases().join(version)
    }
    /// `installed/APP/HASH/`: an app's bundles, one per content, shared by the releases that
    /// leave the app as it was.
    pub fn bundles(&self, app: &str) -> PathBuf {
        self.state_dir.join("installed").join(app)
    }
    /// `locks/APP/`: mounted at [`LOCK_DIR`] in the app's container, where the app
    /// creates `updates.lock` to defer updates (as balena's `/tmp/balena/updates.lock`).
    pub fn locks(&self, app: &str) -> PathBuf {
        self.state_dir.join("locks").join(app)
    }
    /// `volumes/APP/NAME/`: an app's data, kept across its versions.
    pub fn volumes(&self, app: &str) -> PathBuf {
        self.state_dir.join("volumes").join(app)
    }
}

/// A release as read from its directory, every file checked.
#[derive(Debug)]
pub struct Release {
    pub dir: PathBuf,
    pub version: String,
    /// How long each app has to confirm (running; READY=1 with `notify`; healthy with a
    /// healthcheck).
    pub confirm_timeout: Duration,
    /// After confirming, how long the apps must stay up before the release is kept.
    pub watch: Duration,
    /// `confirm = "call"`: besides its apps' own confirmations, the release needs a
    /// `Confirm` call on the supervisor (`davit release confirm`) within `confirm_timeout`.
    pub confirm_by_call: bool,
    pub apps: Vec<ReleaseApp>,
}

#[derive(Debug)]
pub struct ReleaseApp {
    pub name: String,
    /// The ref.name of its image in `images/`.
    pub image: String,
    /// The app file as the release wrote it.
    pub text: String,
    pub app: App,
}

/// Where an app finds its lock directory.
pub const LOCK_DIR: &str = "/tmp/davit";
/// The file an app creates there to hold off updates.
pub const LOCK_FILE: &str = "updates.lock";

pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_WATCH: Duration = Duration::from_secs(30);
const RELEASE_KEYS: &[&str] = &["version", "confirm_timeout", "watch", "confirm"];
/// A release file or app file is a few hundred bytes.
const MAX_FILE: u64 = 1 << 20;

impl Release {
    /// Reads `dir/release.toml` and `dir/apps/*.toml`; every problem of every file is
    /// reported, each naming its file.
    pub fn read(dir: &Path) -> Result<Release> {
        let file = dir.join("release.toml");
        let text = read_small(&file)?;
        let bad = |reason: String| Error::Document {
            path: file.display().to_string(),
            reason,
        };
        let doc = DeTable::parse(&text).map_err(|e| bad(e.message().to_owned()))?;
        let doc = doc.get_ref();
        for key in doc.keys() {
            if !RELEASE_KEYS.contains(&key.get_ref().as_ref()) {
                return Err(bad(format!(
                    "{}: unknown key (known: {})",
                    key.get_ref(),
                    RELEASE_KEYS.join(", ")
                )));
            }
        }
        let string = |key: &str| -> Result<Option<String>> {
            match doc.get(key).map(|v| v.get_ref()) {
                None => Ok(None),
                Some(DeValue::String(s)) => Ok(Some(s.to_string())),
                Some(_) => Err(bad(format!("{key}: expected a string"))),
            }
        };
        let version = string("version")?
            .ok_or_else(|| bad("version: missing: the release's name, such as \"1.4.2\"".into()))?;
        check_version(&version).map_err(|r| bad(format!("version: {version:?} {r}")))?;
        let duration = |key: &str, default: Duration| -> Result<Duration> {
            match string(key)? {
                None => Ok(default),
                Some(s) => parse_duration(&s)
                    .map_err(|e| bad(format!("{key}: {s:?} is not a duration: {e}"))),
            }
        };
        let confirm_timeout = duration("confirm_timeout", DEFAULT_CONFIRM_TIMEOUT)?;
        let watch = duration("watch", DEFAULT_WATCH)?;
        let confirm_by_call = match string("confirm")?.as_deref() {
            None | Some("apps") => false,
            Some("call") => true,
            Some(other) => {
                return Err(bad(format!(
                    "confirm: {other:?}: expected \"apps\" (their readiness and health) or \"call\" \
                     (a Confirm call as well)"
                )));
            }
        };

        let apps_dir = dir.join("apps");
        let mut apps = Vec::new();
        let mut problems = Vec::new();
        let entries = std::fs::read_dir(&apps_dir)
            .map_err(|e| Error::io("reading the release's app files", &apps_dir, e))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "toml")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        for path in files {
            let text = read_small(&path)?;
            match App::parse_release(&path, &text) {
                Ok(app) => apps.push(ReleaseApp {
                    name: app.name.clone(),
                    image: app.image.clone().unwrap_or_default(),
                    text,
                    app,
                }),
                Err(errors) => problems.extend(errors.iter().map(|e| e.to_string())),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Document {
                path: apps_dir.display().to_string(),
                reason: format!("bad app files:\n  {}", problems.join("\n  ")),
            });
        }
        if apps.is_empty() {
            return Err(Error::Document {
                path: apps_dir.display().to_string(),
                reason: "no app files (NAME.toml): a release holds at least one app".into(),
            });
        }
        Ok(Release {
            dir: dir.to_owned(),
            version,
            confirm_timeout,
            watch,
            confirm_by_call,
            apps,
        })
    }

    pub fn images(&self) -> PathBuf {
        self.dir.join("images")
    }
}

/// A version becomes a directory name: the alphabet of container ids, at most 128.
pub fn check_version(v: &str) -> std::result::Result<(), String> {
    if v.is_empty() || v.len() > 128 {
        return Err("must have 1 to 128 characters".into());
    }
    if v == "." || v == ".." || v.starts_with('.') {
        return Err("must not start with a dot".into());
    }
    if let Some(c) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_+-.".contains(*c)))
    {
        return Err(format!(
            "has {c:?}: use letters, digits and _ + - . only (it names a directory)"
        ));
    }
    Ok(())
}

fn read_small(path: &Path) -> Result<String> {
    let bad = |reason: String| Error::Document {
        path: path.display().to_string(),
        reason,
    };
    let bytes = crate::read_at_most(path, MAX_FILE)
        .map_err(|e| Error::io("reading", path, e))?
        .ok_or_else(|| bad(format!("larger than {MAX_FILE} bytes")))?;
    String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))
}

/// The apps of an installed release: `releases/VERSION/apps/NAME.toml`, name to file text.
pub fn installed_apps(paths: &Paths, version: &str) -> Result<BTreeMap<String, String>> {
    let dir = paths.release(version).join("apps");
    let mut apps = BTreeMap::new();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| Error::io("reading an installed release", &dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io("reading an installed release", &dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(app) = name
            .strip_suffix(".toml")
            .filter(|_| !name.starts_with('.'))
        {
            apps.insert(app.to_owned(), read_small(&e.path())?);
        }
    }
    Ok(apps)
}

/// Parses an installed app file, its problems joined into one error naming the file.
pub fn parse_installed(file: &Path, text: &str) -> Result<App> {
    App::parse(file, text).map_err(|e| Error::Document {
        path: file.display().to_string(),
        reason: e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(toml: &str, apps: &[(&str, &str)]) -> Result<Release> {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("release.toml"), toml).unwrap();
        std::fs::create_dir(d.path().join("apps")).unwrap();
        for (name, text) in apps {
            std::fs::write(d.path().join("apps").join(format!("{name}.toml")), text).unwrap();
        }
        Release::read(d.path())
    }

    fn error(toml: &str, apps: &[(&str, &str)]) -> String {
        release(toml, apps).unwrap_err().to_string()
    }

    #[test]
    fn a_release_reads_its_settings_and_apps() {
        let r = release(
            "version = \"1.4.2\"\nconfirm_timeout = \"1m\"\nwatch = \"5s\"\n",
            &[("web", "image = \"web:1\"\n"), ("db", "image = \"db:1\"\n")],
        )
        .unwrap();
        assert_eq!(r.version, "1.4.2");
        assert_eq!(r.confirm_timeout, Duration::from_secs(60));
        assert_eq!(r.watch, Duration::from_secs(5));
        let names: Vec<(&str, &str)> = r
            .apps
            .iter()
            .map(|a| (a.name.as_str(), a.image.as_str()))
            .collect();
        assert_eq!(names, [("db", "db:1"), ("web", "web:1")]);
        let r = release("version = \"2\"\n", &[("web", "image = \"w\"\n")]).unwrap();
        assert_eq!(
            (r.confirm_timeout, r.watch),
            (DEFAULT_CONFIRM_TIMEOUT, DEFAULT_WATCH)
        );
    }

    #[test]
    fn each_bad_release_says_which_file_and_why() {
        let app = [("web", "image = \"w\"\n")];
        let e = error("", &app);
        assert!(e.contains("release.toml: version: missing"), "{e}");
        let e = error("version = \"../x\"\n", &app);
        assert!(
            e.contains("version: \"../x\" must not start with a dot"),
            "{e}"
        );
        let e = error("version = \"a/b\"\n", &app);
        assert!(e.contains("has '/'"), "{e}");
        let e = error("version = \"1\"\nwatch = \"5 min\"\n", &app);
        assert!(e.contains("watch: \"5 min\" is not a duration"), "{e}");
        let e = error("version = \"1\"\nname = \"x\"\n", &app);
        assert!(e.contains("name: unknown key"), "{e}");
        let e = error("version = \"1\"\n", &[]);
        assert!(e.contains("no app files"), "{e}");
        let e = error("version = \"1\"\n", &[("web", "bundle = \"/b\"\n")]);
        assert!(
            e.contains("apps/web.toml:1: bundle") && e.contains("image: missing"),
            "{e}"
        );
    }
}
