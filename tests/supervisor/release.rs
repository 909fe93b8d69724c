//! `davit release install|status|rollback` against a running daemon (update/README.md,
//! "Releases"): releases built with umoci from Debian's busybox-static, installed into the
//! daemon's state directory, their apps run from overlayfs roots over the store's layers.
//! Each app appends its version to `/data/runs`, a volume: the host reads which version ran,
//! in which order, and that the data outlived each switch.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::*;
use crate::harness::*;

/// Bound of one install or rollback (a release's confirm_timeout plus its watch, and slack).
const INSTALL_SECS: u64 = 120;

/// A daemon, the OCI layout its releases' images are built in, and a guard that unmounts the
/// apps' roots (overlayfs, under the state directory) before the daemon's directory goes.
struct Board {
    d: Daemon,
    work: tempfile::TempDir,
    layout: PathBuf,
}

impl Drop for Board {
    fn drop(&mut self) {
        let installed = self.d.state_dir.join("installed");
        let _ = nix::mount::umount2(&self.d.state_dir, nix::mount::MntFlags::MNT_DETACH);
        let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        for line in info.lines() {
            if let Some(mp) = line.split(' ').nth(4)
                && Path::new(mp).starts_with(&installed)
            {
                let _ = nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

fn umoci(args: &[&str]) {
    let out = Command::new("umoci")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("umoci: {e} (testbeds/setup.sh installs it)"));
    assert!(out.status.success(), "umoci {args:?}: {}", stderr(&out));
}

impl Board {
    fn new() -> Board {
        Board::build(None, Daemon::new())
    }

    /// With the daemon's state directory (store, bundles, volumes) on a tmpfs of `size`.
    fn with_small_disk(size: &str) -> Board {
        Board::build(Some(size), Daemon::new())
    }

    /// With the daemon on a bus of its own as well (for `busctl monitor`).
    fn with_bus() -> Board {
        Board::build(None, Daemon::with_bus())
    }

    fn build(tmpfs: Option<&str>, mut d: Daemon) -> Board {
        let work = tempfile::Builder::new()
            .prefix("davit-release")
            .tempdir()
            .unwrap();
        let layout = work.path().join("images");
        let l = layout.to_str().unwrap();
        umoci(&["init", "--layout", l]);
        umoci(&["new", "--image", &format!("{l}:base")]);
        let b = work.path().join("base-bundle");
        umoci(&[
            "unpack",
            "--image",
            &format!("{l}:base"),
            b.to_str().unwrap(),
        ]);
        fs::create_dir_all(b.join("rootfs/bin")).unwrap();
        fs::copy("/bin/busybox", b.join("rootfs/bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", b.join("rootfs/bin/sh")).unwrap();
        umoci(&[
            "repack",
            "--image",
            &format!("{l}:base"),
            b.to_str().unwrap(),
        ]);
        if let Some(size) = tmpfs {
            nix::mount::mount(
                Some("tmpfs"),
                &d.state_dir,
                Some("tmpfs"),
                nix::mount::MsFlags::empty(),
                Some(format!("size={size}").as_str()),
            )
            .unwrap();
        }
        d.start();
        Board { d, work, layout }
    }

    /// Image `tag`: image `from` plus a layer with `/blob`, `size` random bytes.
    fn layered_image(&self, from: &str, tag: &str, size: usize) {
        let l = self.layout.to_str().unwrap();
        let b = self.work.path().join(format!("bundle-{tag}"));
        umoci(&[
            "unpack",
            "--image",
            &format!("{l}:{from}"),
            b.to_str().unwrap(),
        ]);
        let mut data = vec![0u8; size];
        File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut data)
            .unwrap();
        fs::write(b.join("rootfs/blob"), data).unwrap();
        umoci(&[
            "repack",
            "--image",
            &format!("{l}:{tag}"),
            b.to_str().unwrap(),
        ]);
    }

    /// Image `tag`: image `from` configured as a steady app (see [`Board::steady_image`]).
    fn image_from(&self, from: &str, tag: &str) {
        let l = self.layout.to_str().unwrap();
        let script = format!("trap 'exit 0' TERM; echo {tag} >> /data/runs; sleep 31603 & wait");
        umoci(&[
            "config",
            "--image",
            &format!("{l}:{from}"),
            "--tag",
            tag,
            "--config.entrypoint",
            "sh",
            "--config.cmd",
            "-c",
            "--config.cmd",
            &script,
            "--config.volume",
            "/data",
        ]);
    }

    /// Image `tag`: the busybox base running `sh -c SCRIPT`, with a volume at /data.
    fn image(&self, tag: &str, script: &str) {
        let l = self.layout.to_str().unwrap();
        umoci(&[
            "config",
            "--image",
            &format!("{l}:base"),
            "--tag",
            tag,
            "--config.entrypoint",
            "sh",
            "--config.cmd",
            "-c",
            "--config.cmd",
            script,
            "--config.volume",
            "/data",
        ]);
    }

    /// An app that records `tag` in /data/runs, tries to write its root, and runs until
    /// SIGTERM.
    fn steady_image(&self, tag: &str) {
        self.image(
            tag,
            &format!(
                "trap 'exit 0' TERM; echo {tag} >> /data/runs; \
                 if touch /written 2>/dev/null; then echo {tag} >> /data/root-writable; fi; \
                 sleep 31601 & wait"
            ),
        );
    }

    /// A release of one app on `image`.
    fn release_of(&self, version: &str, extra: &str, app: &str, image: &str) -> PathBuf {
        self.release(version, extra, &[(app, &format!("image = \"{image}\"\n"))])
    }

    /// A release directory: release.toml (`version` and `extra`), one app file per
    /// `(name, text)`, and the images.
    fn release(&self, version: &str, extra: &str, apps: &[(&str, &str)]) -> PathBuf {
        let dir = self.work.path().join(format!("release-{version}"));
        fs::create_dir_all(dir.join("apps")).unwrap();
        fs::write(
            dir.join("release.toml"),
            format!("version = \"{version}\"\n{extra}"),
        )
        .unwrap();
        for (name, text) in apps {
            fs::write(dir.join("apps").join(format!("{name}.toml")), text).unwrap();
        }
        std::os::unix::fs::symlink(&self.layout, dir.join("images")).unwrap();
        dir
    }

    fn davit_release(&self, args: &[&str]) -> Command {
        let mut c = Command::new(davit_bin());
        c.arg("release")
            .arg("--state-dir")
            .arg(&self.d.state_dir)
            .arg("--config-dir")
            .arg(&self.d.config_dir)
            .arg("--socket")
            .arg(&self.d.socket)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        output_within(
            self.davit_release(args),
            INSTALL_SECS,
            &format!("davit release {args:?}"),
        )
    }

    fn install(&self, dir: &Path) -> Output {
        self.run(&["install", dir.to_str().unwrap()])
    }

    fn install_ok(&self, dir: &Path) -> String {
        let out = self.install(dir);
        assert!(
            out.status.success(),
            "install {}: {}{}\ndaemon:\n{}",
            dir.display(),
            stdout(&out),
            stderr(&out),
            self.d.log_tail()
        );
        stdout(&out)
    }

    /// The install must fail, with the app rolled back; its stderr.
    fn install_fails(&self, dir: &Path) -> String {
        let out = self.install(dir);
        assert!(
            !out.status.success(),
            "install {} should have failed: {}",
            dir.display(),
            stdout(&out)
        );
        format!("{}{}", stdout(&out), stderr(&out))
    }

    fn state(&self) -> Value {
        let out = self.run(&["status", "--json"]);
        assert!(out.status.success(), "release status: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn volume(&self, app: &str) -> PathBuf {
        self.d.state_dir.join("volumes").join(app).join("data")
    }

    fn runs(&self, app: &str) -> Vec<String> {
        fs::read_to_string(self.volume(app).join("runs"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until app `name` runs (state running) with `runs` as its volume's record.
    fn wait_runs(&self, name: &str, runs: &[&str]) -> Value {
        let s = self.d.wait_state(name, "running", 30);
        wait_until(30, &format!("{name}'s runs to be {runs:?}"), || {
            self.runs(name) == runs
        });
        s
    }
}

#[test]
fn an_installed_release_runs_its_app_from_the_image_on_a_read_only_root() {
    let b = Board::new();
    let web = unique("web");
    b.steady_image("web-1");
    let r1 = b.release(
        "1",
        "watch = \"1s\"\n",
        &[(web.as_str(), "image = \"web-1\"\n")],
    );
    let out = b.install_ok(&r1);
    assert!(
        out.contains(&format!("release 1 is current (restarted: {web})")),
        "{out}"
    );

    let s = b.wait_runs(web.as_str(), &["web-1"]);
    let bundle = PathBuf::from(s["bundle"].as_str().unwrap());
    assert!(
        bundle.starts_with(b.d.state_dir.join("installed").join(&web)),
        "{bundle:?}"
    );
    // The root is the image's layers under an overlay, and the app cannot write to it.
    assert!(!b.volume(&web).join("root-writable").exists());
    assert_eq!(
        fs::read(bundle.join("rootfs/bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    let state = b.state();
    assert_eq!(state["current"], "1", "{state}");
    assert_eq!(state["pending"], Value::Null, "{state}");
    // The config directory holds the installed app file, which names its image.
    let file = fs::read_to_string(b.d.config_dir.join(format!("{web}.toml"))).unwrap();
    assert!(file.contains("image = \"web-1\""), "{file}");

    // Installing it again is refused: it is current.
    let again = b.install(&r1);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already the current one"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_version_that_exits_at_once_rolls_back_and_is_not_installed_again_unasked() {
    let b = Board::new();
    let web = unique("web");
    b.steady_image("web-1");
    b.image("web-2", "echo web-2 >> /data/runs; exit 3");
    let r1 = b.release(
        "1",
        "watch = \"1s\"\n",
        &[(web.as_str(), "image = \"web-1\"\n")],
    );
    let r2 = b.release(
        "2",
        "confirm_timeout = \"30s\"\nwatch = \"5s\"\n",
        &[(
            web.as_str(),
            "image = \"web-2\"\nrestart = \"on-failure\"\n",
        )],
    );
    b.install_ok(&r1);
    let before = b.wait_runs(web.as_str(), &["web-1"]);

    let err = b.install_fails(&r2);
    assert!(
        err.contains("release 2 failed and was rolled back to 1") && err.contains("exited 3"),
        "{err}"
    );
    // The old version runs again, from its own bundle, with the data the new one wrote.
    let after = b.wait_runs(web.as_str(), &["web-1", "web-2", "web-1"]);
    assert_eq!(after["bundle"], before["bundle"]);
    let state = b.state();
    assert_eq!(state["current"], "1", "{state}");
    assert_eq!(state["failed"][0]["version"], "2", "{state}");

    // Not again unless asked.
    let err = b.install_fails(&r2);
    assert!(
        err.contains("failed before") && err.contains("--retry"),
        "{err}"
    );
    assert_eq!(b.runs(&web).len(), 3);
}

#[test]
fn a_version_that_never_gets_healthy_or_ready_rolls_back() {
    let b = Board::new();
    let web = unique("web");
    b.steady_image("web-1");
    b.steady_image("web-2");
    let r1 = b.release(
        "1",
        "watch = \"1s\"\n",
        &[(web.as_str(), "image = \"web-1\"\n")],
    );
    b.install_ok(&r1);
    b.wait_runs(web.as_str(), &["web-1"]);

    let unhealthy = b.release(
        "2-unhealthy",
        "confirm_timeout = \"60s\"\n",
        &[(
            web.as_str(),
            "image = \"web-2\"\n[healthcheck]\ntest = [\"CMD\", \"false\"]\ninterval = \"200ms\"\nretries = 1\n",
        )],
    );
    let err = b.install_fails(&unhealthy);
    assert!(err.contains(&format!("{web} is unhealthy")), "{err}");
    b.wait_runs(web.as_str(), &["web-1", "web-2", "web-1"]);

    let never_ready = b.release(
        "2-never-ready",
        "confirm_timeout = \"2s\"\n",
        &[(web.as_str(), "image = \"web-2\"\nnotify = true\n")],
    );
    let err = b.install_fails(&never_ready);
    assert!(
        err.contains(&format!("not confirmed within 2 s: {web} (starting)")),
        "{err}"
    );
    b.wait_runs(web.as_str(), &["web-1", "web-2", "web-1", "web-2", "web-1"]);
    let state = b.state();
    let failed: Vec<&str> = state["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["version"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["2-unhealthy", "2-never-ready"], "{state}");
}

#[test]
fn a_version_that_crashes_within_the_watch_window_rolls_back() {
    let b = Board::new();
    let web = unique("web");
    b.steady_image("web-1");
    b.image("web-2", "echo web-2 >> /data/runs; sleep 1; exit 4");
    let r1 = b.release(
        "1",
        "watch = \"1s\"\n",
        &[(web.as_str(), "image = \"web-1\"\n")],
    );
    let r2 = b.release(
        "2",
        "watch = \"20s\"\n",
        &[(web.as_str(), "image = \"web-2\"\n")],
    );
    b.install_ok(&r1);
    b.wait_runs(web.as_str(), &["web-1"]);
    let err = b.install_fails(&r2);
    assert!(err.contains("exited 4"), "{err}");
    b.wait_runs(web.as_str(), &["web-1", "web-2", "web-1"]);
    assert_eq!(b.state()["current"], "1");
}

#[test]
fn the_apps_of_a_release_switch_together_and_roll_back_together() {
    let b = Board::new();
    let (app_a, app_b) = (unique("a"), unique("b"));
    for tag in ["a-1", "b-1", "a-2", "a-3"] {
        b.steady_image(tag);
    }
    b.image("b-2", "echo b-2 >> /data/runs; exit 5");
    let r1 = b.release(
        "1",
        "watch = \"1s\"\n",
        &[
            (app_a.as_str(), "image = \"a-1\"\n"),
            (app_b.as_str(), "image = \"b-1\"\n"),
        ],
    );
    b.install_ok(&r1);
    let a1 = b.wait_runs(app_a.as_str(), &["a-1"]);
    let b1 = b.wait_runs(app_b.as_str(), &["b-1"]);

    // a would be fine, b is not: both go back.
    let r2 = b.release(
        "2",
        "watch = \"2s\"\n",
        &[
            (app_a.as_str(), "image = \"a-2\"\n"),
            (app_b.as_str(), "image = \"b-2\"\n"),
        ],
    );
    let err = b.install_fails(&r2);
    assert!(
        err.contains(&format!("{app_b} is")) && err.contains("exited 5"),
        "{err}"
    );
    let a = b.wait_runs(app_a.as_str(), &["a-1", "a-2", "a-1"]);
    let bb = b.wait_runs(app_b.as_str(), &["b-1", "b-2", "b-1"]);
    assert_eq!(a["bundle"], a1["bundle"]);
    assert_eq!(bb["bundle"], b1["bundle"]);

    // An app a release leaves as it was keeps running, untouched.
    let b_pid = bb["pid"].clone();
    let r3 = b.release(
        "3",
        "watch = \"1s\"\n",
        &[
            (app_a.as_str(), "image = \"a-3\"\n"),
            (app_b.as_str(), "image = \"b-1\"\n"),
        ],
    );
    let out = b.install_ok(&r3);
    assert!(out.contains(&format!("restarted: {app_a})")), "{out}");
    b.wait_runs(app_a.as_str(), &["a-1", "a-2", "a-1", "a-3"]);
    let bb = b.d.status(&app_b);
    assert_eq!(bb["pid"], b_pid, "b was restarted: {bb}");
    assert_eq!(b.runs(&app_b), ["b-1", "b-2", "b-1"]);

    // Back to the previous release on request; the one left is marked failed.
    let out = b.run(&["rollback", "--watch", "1s"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    b.wait_runs(app_a.as_str(), &["a-1", "a-2", "a-1", "a-3", "a-1"]);
    let state = b.state();
    assert_eq!(state["current"], "1", "{state}");
    assert!(
        state["failed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["version"] == "3" && f["reason"] == "rolled back by request"),
        "{state}"
    );
}

#[test]
fn an_app_file_no_release_installed_is_not_overwritten() {
    let mut b = Board::new();
    let web = unique("web");
    b.d.add_app(web.as_str(), "sleep 31602", "");
    let mine = fs::read_to_string(b.d.config_dir.join(format!("{web}.toml"))).unwrap();
    b.steady_image("web-1");
    let r1 = b.release("1", "", &[(web.as_str(), "image = \"web-1\"\n")]);
    let err = b.install_fails(&r1);
    assert!(err.contains("was not installed by a release"), "{err}");
    assert_eq!(
        fs::read_to_string(b.d.config_dir.join(format!("{web}.toml"))).unwrap(),
        mine
    );
    assert_eq!(b.state()["current"], Value::Null);
}

#[test]
fn an_install_cut_short_is_undone_when_the_supervisor_starts_again() {
    let mut b = Board::new();
    let web = unique("web");
    b.steady_image("web-1");
    b.steady_image("web-2");
    let r1 = b.release(
        "1",
        "watch = \"1s\"\n",
        &[(web.as_str(), "image = \"web-1\"\n")],
    );
    b.install_ok(&r1);
    let before = b.wait_runs(web.as_str(), &["web-1"]);
    // Version 2 never confirms (no READY=1): the installer waits while it runs.
    let r2 = b.release(
        "2",
        "confirm_timeout = \"10m\"\n",
        &[(web.as_str(), "image = \"web-2\"\nnotify = true\n")],
    );
    let mut installer = b
        .davit_release(&["install", r2.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(60, "web-2 to run", || b.runs(&web) == ["web-1", "web-2"]);
    assert_eq!(b.state()["pending"]["phase"], "confirming");
    // A power cut, as far as the installer and the daemon know.
    installer.kill().unwrap();
    installer.wait().unwrap();
    b.d.kill9();

    b.d.start();
    let after = b.wait_runs(web.as_str(), &["web-1", "web-2", "web-1"]);
    assert_eq!(after["bundle"], before["bundle"]);
    let state = b.state();
    assert_eq!(state["current"], "1", "{state}");
    assert_eq!(state["pending"], Value::Null, "{state}");
    assert_eq!(state["failed"][0]["version"], "2", "{state}");
    assert!(
        state["failed"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("interrupted while confirming"),
        "{state}"
    );
    assert!(
        b.d.log_tail().contains("release 2: interrupted"),
        "{}",
        b.d.log_tail()
    );
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn free_bytes(dir: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(dir).unwrap();
    st.blocks_available() as u64 * st.fragment_size() as u64
}

fn store_verifies(store: &Path) {
    let mut c = Command::new(davit_bin());
    c.args(["store", "--store"]).arg(store).arg("verify");
    let out = output_within(c, 60, "davit store verify");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn collection_keeps_the_current_and_previous_releases_or_as_many_as_asked() {
    let b = Board::new();
    let web = unique("web");
    // Each version adds a 256 KiB layer of its own to the busybox base.
    for v in ["1", "2", "3"] {
        b.layered_image("base", &format!("web-{v}-files"), 256 << 10);
        b.image_from(&format!("web-{v}-files"), &format!("web-{v}"));
    }
    let store = b.d.state_dir.join("store");
    let mut bundles = Vec::new();
    for v in ["1", "2", "3"] {
        let text = format!("image = \"web-{v}\"\n");
        let r = b.release(v, "watch = \"0s\"\n", &[(web.as_str(), &text)]);
        b.install_ok(&r);
        let runs: Vec<String> = ["1", "2", "3"][..v.parse::<usize>().unwrap()]
            .iter()
            .map(|v| format!("web-{v}"))
            .collect();
        let runs: Vec<&str> = runs.iter().map(String::as_str).collect();
        let s = b.wait_runs(&web, &runs);
        bundles.push(s["bundle"].as_str().unwrap().to_owned());
    }
    // Release 1 is gone: its directory, its bundle, its own layer and blobs (manifest, config,
    // layer); the shared base layer stays.
    let releases = b.d.state_dir.join("releases");
    assert!(!releases.join("1").exists());
    assert!(releases.join("2").exists() && releases.join("3").exists());
    assert!(!Path::new(&bundles[0]).exists(), "{}", bundles[0]);
    assert!(Path::new(&bundles[1]).exists() && Path::new(&bundles[2]).exists());
    // base + one layer each for 2 and 3 (a directory and its .tree record each).
    assert_eq!(count(&store.join("layers/sha256")), 3 * 2);
    // 2 and 3: a manifest, a config and a layer each, and the base layer they share.
    assert_eq!(count(&store.join("blobs/sha256")), 1 + 2 * 3);
    store_verifies(&store);
    let out = b.run(&["gc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("collected 0 releases, 0 bundles, 0 layers, 0 blobs"),
        "{}",
        stdout(&out)
    );

    // `--keep 3`: from now on the release before the previous one stays too.
    b.layered_image("base", "web-4-files", 256 << 10);
    b.image_from("web-4-files", "web-4");
    let r4 = b.release_of("4", "watch = \"0s\"\n", &web, "web-4");
    let out = b.run(&["install", r4.to_str().unwrap(), "--keep", "3"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let kept = || -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&releases)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(kept(), ["2", "3", "4"]);
    assert_eq!(b.state()["keep"], 3);
    // Down to one: the previous release goes, and a rollback says why it cannot be.
    let out = b.run(&["gc", "--keep", "1"]);
    assert!(
        stdout(&out).contains("collected 2 releases"),
        "{}",
        stdout(&out)
    );
    assert_eq!(kept(), ["4"]);
    store_verifies(&store);
    let out = b.run(&["rollback"]);
    assert!(
        !out.status.success()
            && stderr(&out).contains("the previous release 3 was collected (keep = 1)"),
        "{}",
        stderr(&out)
    );
    let out = b.run(&["gc", "--keep", "0"]);
    assert!(
        !out.status.success() && stderr(&out).contains("--keep"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_install_stops_at_the_free_space_watermark_and_fails_cleanly_on_a_full_disk() {
    let b = Board::with_small_disk("48m");
    let web = unique("web");
    b.steady_image("web-1");
    b.layered_image("base", "web-2-files", 30 << 20);
    b.image_from("web-2-files", "web-2");
    let r1 = b.release(
        "1",
        "watch = \"0s\"\n",
        &[(web.as_str(), "image = \"web-1\"\n")],
    );
    b.install_ok(&r1);
    let before = b.wait_runs(&web, &["web-1"]);
    let store = b.d.state_dir.join("store");
    let blobs = count(&store.join("blobs/sha256"));
    let free = free_bytes(&b.d.state_dir);

    let r2 = b.release(
        "2",
        "watch = \"0s\"\n",
        &[(web.as_str(), "image = \"web-2\"\n")],
    );
    let out = b.run(&["install", "--min-free", "1g", r2.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("MiB free, and an install leaves at least 1024 MiB"),
        "{err}"
    );
    assert_eq!(
        count(&store.join("blobs/sha256")),
        blobs,
        "the refused install stored blobs"
    );

    // 30 MiB of random data in a layer: its blob fits, its unpacked copy does not.
    let out = b.run(&["install", "--min-free", "1m", r2.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("No space left on device"), "{err}");
    let s = b.d.status(&web);
    assert_eq!(s["state"], "running");
    assert_eq!(s["pid"], before["pid"], "the running version was touched");
    assert_eq!(b.state()["current"], "1");
    assert_eq!(b.state()["pending"], Value::Null);
    // What the failed install stored is collected: the space is back.
    let after = free_bytes(&b.d.state_dir);
    assert!(
        after + (1 << 20) >= free,
        "{free} bytes free before the install, {after} after"
    );
    store_verifies(&store);
}

#[test]
fn a_factory_reset_brings_back_the_shipped_release_without_the_network() {
    let b = Board::new();
    let web = unique("web");
    for v in ["1", "2", "3", "4"] {
        b.steady_image(&format!("web-{v}"));
    }
    let release = |v: &str| {
        let text = format!("image = \"web-{v}\"\n");
        b.release(v, "watch = \"0s\"\n", &[(web.as_str(), &text)])
    };
    let out = b.run(&["install", "--factory", release("1").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    b.wait_runs(&web, &["web-1"]);
    for v in ["2", "3", "4"] {
        b.install_ok(&release(v));
    }
    b.wait_runs(&web, &["web-1", "web-2", "web-3", "web-4"]);
    // Two releases later, collection kept the factory one.
    let releases = b.d.state_dir.join("releases");
    assert!(releases.join("1").exists() && !releases.join("2").exists());

    // In a network namespace of its own: no network at all.
    let reset = |args: &[&str]| {
        let mut c = Command::new("unshare");
        c.arg("--net").arg(davit_bin()).arg("reset");
        for a in b.davit_release(&[]).get_args().skip(1) {
            c.arg(a);
        }
        c.args(["--watch", "0s"]).args(args);
        output_within(c, INSTALL_SECS, "davit reset")
    };
    let out = reset(&["--keep-data"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    b.wait_runs(&web, &["web-1", "web-2", "web-3", "web-4", "web-1"]);
    let state = b.state();
    assert_eq!(state["current"], "1", "{state}");
    assert_eq!(state["factory"], "1", "{state}");

    // Without --keep-data the volumes start empty.
    let out = reset(&[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("emptied the volumes of"),
        "{}",
        stdout(&out)
    );
    b.wait_runs(&web, &["web-1"]);
    assert_eq!(b.state()["current"], "1");
}

#[test]
fn an_app_holding_its_update_lock_defers_the_switch() {
    let b = Board::new();
    let web = unique("web");
    b.steady_image("web-1");
    b.steady_image("web-2");
    let r1 = b.release(
        "1",
        "watch = \"0s\"\n",
        &[(web.as_str(), "image = \"web-1\"\n")],
    );
    b.install_ok(&r1);
    let before = b.wait_runs(&web, &["web-1"]);
    // The app takes its lock from inside its container, as an app would.
    let out = b.d.runtime(&[
        "exec",
        &format!("app.{web}"),
        "sh",
        "-c",
        "touch /tmp/davit/updates.lock",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let r2 = b.release(
        "2",
        "watch = \"0s\"\n",
        &[(web.as_str(), "image = \"web-2\"\n")],
    );
    let err = b.install_fails(&r2);
    assert!(
        err.contains("holds its update lock") && err.contains("updates.lock"),
        "{err}"
    );
    assert_eq!(b.d.status(&web)["pid"], before["pid"]);
    assert_eq!(b.state()["current"], "1");
    // Not a failed release: it may be installed again, and --force takes it past the lock.
    let out = b.run(&["install", "--force", r2.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    b.wait_runs(&web, &["web-1", "web-2"]);
}

#[test]
fn a_release_can_come_as_one_compressed_tar_holding_only_files() {
    let b = Board::new();
    let web = unique("web");
    b.steady_image("web-1");
    let r1 = b.release(
        "1",
        "watch = \"0s\"\n",
        &[(web.as_str(), "image = \"web-1\"\n")],
    );
    let tarball = b.work.path().join("release-1.tar.gz");
    // -h: the layout, which the release directory links to, goes in as files.
    let out = Command::new("tar")
        .arg("-C")
        .arg(&r1)
        .arg("-czhf")
        .arg(&tarball)
        .arg(".")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    b.install_ok(&tarball);
    b.wait_runs(&web, &["web-1"]);
    assert_eq!(b.state()["current"], "1");
    // Nothing of the unpacked copy stays behind.
    let left: Vec<String> = fs::read_dir(b.d.state_dir.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".incoming"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A symlink in a release could point the install at files outside it.
    let evil = b.work.path().join("evil");
    fs::create_dir_all(evil.join("apps")).unwrap();
    fs::write(evil.join("release.toml"), "version = \"2\"\n").unwrap();
    fs::write(
        evil.join("apps").join(format!("{web}.toml")),
        "image = \"web-1\"\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&b.layout, evil.join("images")).unwrap();
    let evil_tar = b.work.path().join("evil.tar");
    let out = Command::new("tar")
        .arg("-C")
        .arg(&evil)
        .arg("-cf")
        .arg(&evil_tar)
        .arg(".")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = b.install_fails(&evil_tar);
    assert!(
        err.contains("images is not a regular file or directory"),
        "{err}"
    );
    assert_eq!(b.state()["current"], "1");
}

/// Power cuts during installs: the installer (and with it the daemon) stopped dead at a fail
/// point or killed at a random moment, then the daemon started again. Every trial must end
/// with no install pending, each app running from the bundle of the release `state.json`
/// calls current (the old one or the new one), and the store verifying clean.
#[cfg(feature = "failpoints")]
mod power_cuts {
    use super::*;

    /// Two apps, `a` and `b`, alternating between image sets X and Y, so that every release
    /// changes both; `b-bad` exits at once. `a` is kill-then-download (stopped before the
    /// release is stored), `b` download-then-kill.
    struct Trials {
        b: Board,
        apps: [String; 2],
        seq: usize,
    }

    impl Trials {
        fn new() -> Trials {
            // The fail points are compiled into cargo's build only: the installer is always
            // that binary; the daemon is the one under test.
            let b = Board::new();
            for tag in ["a-X", "b-X", "a-Y", "b-Y"] {
                b.steady_image(tag);
            }
            b.image("b-bad", "exit 7");
            let apps = [unique("a"), unique("b")];
            let t = Trials { b, apps, seq: 0 };
            let r0 = t.release("X", "X");
            t.b.install_ok(&r0);
            t
        }

        /// The next release: `a` on image set `a_set`, `b` on `b_set` (or "bad").
        fn release(&self, a_set: &str, b_set: &str) -> PathBuf {
            let [a, bb] = &self.apps;
            self.b.release(
                &format!("t{}-{a_set}{b_set}", self.seq),
                "confirm_timeout = \"30s\"\nwatch = \"0s\"\n",
                &[
                    (
                        a.as_str(),
                        &format!("image = \"a-{a_set}\"\n{KILL_THEN_DOWNLOAD}"),
                    ),
                    (
                        bb.as_str(),
                        &format!("image = \"b-{b_set}\"\nrestart = \"on-failure\"\n"),
                    ),
                ],
            )
        }

        fn installer(&self, dir: &Path, failpoints: &str) -> std::process::Child {
            let mut c = Command::new(env!("CARGO_BIN_EXE_davit"));
            c.args(
                self.b
                    .davit_release(&["install", dir.to_str().unwrap()])
                    .get_args(),
            );
            c.env("FAILPOINTS", failpoints)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            c.spawn().unwrap()
        }

        /// The cut: the daemon killed too, then started again; then the invariant.
        fn restart_and_check(&mut self) -> Value {
            // What a cut between a durable write's create and its rename leaves (found on the
            // arm64 board): hidden temporaries, which the restart must clear.
            let config = self.b.d.config_dir.clone();
            let leftovers = [
                config.join(format!(".{}.toml.tmp4242", self.apps[0])),
                self.b.d.state_dir.join("releases/.state.json.tmp4242"),
            ];
            for l in &leftovers {
                fs::write(l, "half").unwrap();
            }
            self.b.d.kill9();
            self.b.d.start();
            let state = self.b.state();
            assert_eq!(state["pending"], Value::Null, "{state}");
            let current = state["current"]
                .as_str()
                .expect("a current release")
                .to_owned();
            for app in &self.apps {
                let file = self
                    .b
                    .d
                    .state_dir
                    .join("releases")
                    .join(&current)
                    .join("apps")
                    .join(format!("{app}.toml"));
                let text = fs::read_to_string(&file).unwrap();
                let bundle = text
                    .lines()
                    .find_map(|l| l.strip_prefix("bundle = "))
                    .unwrap()
                    .trim_matches('"')
                    .to_owned();
                self.b
                    .d
                    .wait_status(app, 30, &format!("{app} running {bundle}"), |s| {
                        s["state"] == "running" && s["bundle"] == bundle.as_str()
                    });
            }
            let verify = output_within(
                {
                    let mut c = Command::new(env!("CARGO_BIN_EXE_davit"));
                    c.args(["store", "--store"])
                        .arg(self.b.d.state_dir.join("store"))
                        .arg("verify");
                    c
                },
                60,
                "davit store verify",
            );
            assert!(
                verify.status.success(),
                "store verify: {}{}",
                stdout(&verify),
                stderr(&verify)
            );
            let mut files: Vec<String> = fs::read_dir(&config)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            files.sort();
            let mut want: Vec<String> = self.apps.iter().map(|a| format!("{a}.toml")).collect();
            want.sort();
            assert_eq!(
                files, want,
                "the config directory holds more than the release"
            );
            assert!(!leftovers[1].exists(), "{} left", leftovers[1].display());
            state
        }
    }

    /// A reset stopped dead right after it emptied the volumes: the release that ran comes
    /// back, with its volumes as the wipe left them (empty), nothing pending, the store clean.
    #[test]
    fn a_reset_stopped_after_its_data_wipe_ends_on_the_release_that_ran() {
        let mut t = Trials::new();
        t.seq += 1;
        let factory = t.release("Y", "Y");
        let out =
            t.b.run(&["install", "--factory", factory.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        t.seq += 1;
        let last = t.release("X", "X");
        t.b.install_ok(&last);
        let before = t.b.state()["current"].as_str().unwrap().to_owned();
        let a = t.apps[0].clone();
        t.b.wait_runs(&a, &["a-X", "a-Y", "a-X"]);

        let mut c = Command::new(env!("CARGO_BIN_EXE_davit"));
        c.arg("reset")
            .args(t.b.davit_release(&[]).get_args().skip(1))
            .env("FAILPOINTS", "release-data-wiped=panic");
        let out = output_within(c, INSTALL_SECS, "davit reset");
        assert!(
            !out.status.success() && stderr(&out).contains("release-data-wiped"),
            "the reset was not stopped at its data wipe: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let state = t.restart_and_check();
        assert_eq!(state["current"], before.as_str(), "{state}");
        // Emptied by the wipe; the release that came back has run once since.
        t.b.wait_runs(&a, &["a-X"]);
    }

    #[test]
    fn a_stop_at_any_journaled_step_ends_on_the_old_or_the_new_release() {
        let mut t = Trials::new();
        // (fail point, fail's action, whether the release is one that must roll back,
        // whether the stop comes after the install was journaled: then the release is
        // recorded as failed unless it became current)
        let points = [
            ("release-killing", "panic", false, true),
            ("release-bundle-written", "panic", false, false),
            ("release-written", "panic", false, false),
            ("release-state-save", "panic", false, false),
            ("release-journaled", "panic", false, true),
            ("release-app-file-written", "panic", false, true),
            // One app's file switched, the other's not yet.
            ("release-app-file-written", "1*off->panic", false, true),
            ("release-switched", "panic", false, true),
            ("release-confirming", "panic", false, true),
            ("release-confirmed", "panic", false, true),
            ("release-state-save", "2*off->panic", false, true),
            ("release-rolling-back", "panic", true, true),
            ("release-app-file-written", "2*off->panic", true, true),
            ("release-switched-back", "panic", true, true),
            ("release-state-save", "3*off->panic", true, true),
        ];
        let (mut old, mut new) = (0, 0);
        let mut set = "X";
        for (point, action, fails, journaled) in points {
            t.seq += 1;
            let before = t.b.state()["current"].as_str().unwrap().to_owned();
            set = if set == "X" { "Y" } else { "X" };
            let dir = t.release(set, if fails { "bad" } else { set });
            let version = dir.file_name().unwrap().to_str().unwrap()["release-".len()..].to_owned();
            let child = t.installer(&dir, &format!("{point}={action}"));
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(
                !out.status.success() && err.contains(point),
                "{point}={action}: the installer was not stopped there: {err}"
            );
            let state = t.restart_and_check();
            let now = state["current"].as_str().unwrap();
            if now == version {
                new += 1;
            } else {
                assert_eq!(now, before, "{point}={action}: {state}");
                old += 1;
            }
            if now != version && journaled {
                // A release cut short is not retried unasked; it is recorded as failed.
                assert!(
                    state["failed"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|f| f["version"] == version.as_str()),
                    "{point}={action}: {state}"
                );
            }
        }
        println!(
            "fail points: {} trials, {old} ended on the old release, {new} on the new one",
            points.len()
        );
        assert!(old > 0);
    }

    #[test]
    fn random_kills_during_installs_end_on_the_old_or_the_new_release() {
        let trials: usize = std::env::var("DAVIT_RELEASE_TRIALS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        let mut t = Trials::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ std::process::id() as u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // The delays span one whole install: measured, then shrunk while kills miss.
        let t0 = std::time::Instant::now();
        t.seq += 1;
        let dir = t.release("Y", "Y");
        t.b.install_ok(&dir);
        let mut span = t0.elapsed().as_millis() as u64 + 1;
        let (mut finished, mut preparing, mut activating, mut old, mut new) = (0, 0, 0, 0, 0);
        let mut set = "Y";
        for _ in 0..trials {
            t.seq += 1;
            set = if set == "X" { "Y" } else { "X" };
            let before = t.b.state()["current"].as_str().unwrap().to_owned();
            let dir = t.release(set, set);
            let version = dir.file_name().unwrap().to_str().unwrap()["release-".len()..].to_owned();
            let mut child = t.installer(&dir, "");
            let delay = std::time::Duration::from_millis(rand() % span);
            let deadline = std::time::Instant::now() + delay;
            let mut done = None;
            while std::time::Instant::now() < deadline {
                if let Some(st) = child.try_wait().unwrap() {
                    done = Some(st);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            if done.is_none() {
                let _ = child.kill();
            }
            child.wait().unwrap();
            let pending = t.b.state()["pending"].clone();
            match (&done, pending.is_null()) {
                (Some(_), _) => {
                    finished += 1;
                    span = (span * 9 / 10).max(5);
                }
                (None, true) => preparing += 1,
                (None, false) => activating += 1,
            }
            let state = t.restart_and_check();
            let now = state["current"].as_str().unwrap();
            if now == version {
                new += 1;
            } else {
                assert_eq!(now, before, "{state}");
                old += 1;
            }
        }
        println!(
            "kill trials: {trials}: {preparing} killed while preparing, {activating} while \
             activating, {finished} finished first; {old} ended on the old release, {new} on \
             the new one"
        );
        assert!(
            preparing + activating > 0,
            "no trial killed an install: the trials proved nothing"
        );
    }
}

const KILL_THEN_DOWNLOAD: &str =
    "labels = { \"io.davit.update.strategy\" = \"kill-then-download\" }\n";

/// `kill-then-download`: the app stops before its new image is stored. Seen through a
/// prepare that fails at the free-space watermark, before storing anything: the old version
/// was stopped and runs again (a new process), while a download-then-kill app beside it is
/// untouched (same process); the release is not marked failed, and installs next time.
#[test]
fn a_kill_then_download_app_stops_before_its_image_is_stored() {
    let b = Board::new();
    let kill = unique("kweb");
    let keep = unique("kkeep");
    b.steady_image("kweb-1");
    b.steady_image("kweb-2");
    let app = |tag: &str, extra: &str| format!("image = \"{tag}\"\n{extra}");
    let r1 = b.release(
        "1",
        "watch = \"0s\"\n",
        &[
            (kill.as_str(), &app("kweb-1", KILL_THEN_DOWNLOAD)),
            (keep.as_str(), &app("kweb-1", "")),
        ],
    );
    let r2 = b.release(
        "2",
        "watch = \"0s\"\n",
        &[
            (kill.as_str(), &app("kweb-2", KILL_THEN_DOWNLOAD)),
            (keep.as_str(), &app("kweb-2", "")),
        ],
    );
    b.install_ok(&r1);
    let k1 = num(&b.wait_runs(&kill, &["kweb-1"]), "pid");
    let p1 = num(&b.wait_runs(&keep, &["kweb-1"]), "pid");

    let out = b.run(&["install", r2.to_str().unwrap(), "--min-free", "100000g"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "stopped {kill} before storing anything (kill-then-download)"
        )) && text.contains("the apps it stopped run again"),
        "{text}"
    );
    let s = b.wait_runs(&kill, &["kweb-1", "kweb-1"]);
    assert_ne!(num(&s, "pid"), k1, "{s}");
    assert_eq!(
        num(&b.d.status(&keep), "pid"),
        p1,
        "the other app was touched"
    );
    let state = b.state();
    assert_eq!(state["current"], "1", "{state}");
    assert_eq!(state["pending"], Value::Null, "{state}");
    assert_eq!(state["failed"], serde_json::json!([]), "{state}");

    let out = b.install_ok(&r2);
    assert!(
        out.contains(&format!("stopped {kill} before storing")),
        "{out}"
    );
    b.wait_runs(&kill, &["kweb-1", "kweb-1", "kweb-2"]);
    b.wait_runs(&keep, &["kweb-1", "kweb-2"]);
}

/// `Install(path, flags)` on the daemon's bus, with busctl.
fn install_over_bus(b: &Board, path: &str, flags: &[&str]) -> Output {
    let n = flags.len().to_string();
    let mut args = vec![
        "call",
        "org.davit.Supervisor1",
        "/org/davit/Supervisor1",
        "org.davit.Supervisor1.Release",
        "Install",
        "sas",
        path,
        &n,
    ];
    args.extend_from_slice(flags);
    b.d.busctl(&args)
}

/// The Release properties over D-Bus: `busctl get-property` of one.
fn release_property(b: &Board, prop: &str) -> String {
    let v = b.d.busctl_json(&[
        "get-property",
        "org.davit.Supervisor1",
        "/org/davit/Supervisor1",
        "org.davit.Supervisor1.Release",
        prop,
    ]);
    v[0]["data"].as_str().unwrap_or_default().to_owned()
}

fn wait_phase(b: &Board, phases: &[&str], secs: u64) -> String {
    let mut last = String::new();
    wait_until(secs, &format!("release phase {phases:?}"), || {
        last = release_property(b, "Phase");
        phases.contains(&last.as_str())
    });
    last
}

/// Every Phase in the Release PropertiesChanged signals the monitor saw, repeats dropped.
fn phases_seen(m: &Monitor) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for msg in m.messages() {
        if msg["member"] != "PropertiesChanged"
            || msg["path"] != "/org/davit/Supervisor1"
            || msg["payload"]["data"][0] != "org.davit.Supervisor1.Release"
        {
            continue;
        }
        if let Some(p) = msg["payload"]["data"][1]["Phase"]["data"].as_str()
            && seen.last().map(String::as_str) != Some(p)
        {
            seen.push(p.to_owned());
        }
    }
    seen
}

/// `Install` over D-Bus: the daemon runs the installer, and the Release properties and their
/// PropertiesChanged signals follow each phase to the outcome, for a release that confirms
/// and for one that rolls back. Only root may install.
#[test]
fn a_release_installed_over_d_bus_shows_each_phase() {
    let b = Board::with_bus();
    let web = unique("dweb");
    b.steady_image("dweb-1");
    b.image("dweb-bad", "exit 7");
    let r1 = b.release_of("1", "watch = \"1s\"\n", &web, "dweb-1");
    let r2 = b.release_of("2", "watch = \"1s\"\n", &web, "dweb-bad");
    let r1s = r1.to_str().unwrap();

    let denied = b.d.dbus_send_as_nobody(&[
        "--dest=org.davit.Supervisor1",
        "/org/davit/Supervisor1",
        "org.davit.Supervisor1.Release.Install",
        &format!("string:{r1s}"),
        "array:string:",
    ]);
    assert!(
        stderr(&denied).contains("AccessDenied") && stderr(&denied).contains("only root"),
        "{denied:?}"
    );
    let bad = install_over_bus(&b, r1s, &["yes"]);
    assert!(
        !bad.status.success() && stderr(&bad).contains("\"yes\" is not an install flag"),
        "{bad:?}"
    );
    assert_eq!(release_property(&b, "Phase"), "", "nothing installed yet");

    let m = b.d.monitor();
    let out = install_over_bus(&b, r1s, &[]);
    assert!(out.status.success(), "Install: {}", stderr(&out));
    assert_eq!(
        wait_phase(&b, &["installed", "rolled-back", "failed"], INSTALL_SECS),
        "installed",
        "message: {}",
        release_property(&b, "Message")
    );
    assert_eq!(release_property(&b, "Current"), "1");
    assert_eq!(release_property(&b, "Version"), "1");
    b.wait_runs(web.as_str(), &["dweb-1"]);
    assert_eq!(b.state()["current"], "1");
    wait_until(10, "the monitor to see the last signal", || {
        phases_seen(&m).last().map(String::as_str) == Some("installed")
    });
    assert_eq!(
        phases_seen(&m),
        [
            "starting",
            "preparing",
            "switching",
            "confirming",
            "watching",
            "installed"
        ]
    );

    let m = b.d.monitor();
    let out = install_over_bus(&b, r2.to_str().unwrap(), &[]);
    assert!(out.status.success(), "Install: {}", stderr(&out));
    assert_eq!(
        wait_phase(&b, &["installed", "rolled-back", "failed"], INSTALL_SECS),
        "rolled-back"
    );
    let msg = release_property(&b, "Message");
    assert!(msg.contains("exited 7"), "{msg}");
    assert_eq!(release_property(&b, "Current"), "1");
    assert_eq!(release_property(&b, "Version"), "2");
    wait_until(10, "the monitor to see the last signal", || {
        phases_seen(&m).last().map(String::as_str) == Some("rolled-back")
    });
    assert_eq!(
        phases_seen(&m),
        [
            "starting",
            "preparing",
            "switching",
            "confirming",
            "rolling-back",
            "rolled-back"
        ]
    );

    // Refused before it prepares anything (failed before, no --retry): "failed", and why.
    let out = install_over_bus(&b, r2.to_str().unwrap(), &[]);
    assert!(out.status.success(), "Install: {}", stderr(&out));
    assert_eq!(wait_phase(&b, &["failed"], INSTALL_SECS), "failed");
    let msg = release_property(&b, "Message");
    assert!(msg.contains("--retry"), "{msg}");
}

/// A release with `confirm = "call"` is kept only after a `Confirm` call
/// (`davit release confirm`), and rolls back without one.
#[test]
fn a_release_that_asks_for_a_confirm_call_waits_for_it() {
    let b = Board::with_bus();
    let web = unique("cweb");
    b.steady_image("cweb-1");
    b.steady_image("cweb-2");
    b.steady_image("cweb-3");
    let r1 = b.release_of("1", "", &web, "cweb-1");
    let call = "confirm = \"call\"\n";
    let r2 = b.release_of(
        "2",
        &format!("{call}confirm_timeout = \"60s\"\nwatch = \"1s\"\n"),
        &web,
        "cweb-2",
    );
    let r3 = b.release_of(
        "3",
        &format!("{call}confirm_timeout = \"2s\"\n"),
        &web,
        "cweb-3",
    );
    b.install_ok(&r1);

    let install = b.davit_release(&["install", r2.to_str().unwrap()]);
    let installing = std::thread::spawn(move || output_within(install, INSTALL_SECS, "install 2"));
    wait_until(INSTALL_SECS, "release 2 to wait for a Confirm call", || {
        release_property(&b, "Message") == "waiting for a Confirm call"
    });
    assert_eq!(release_property(&b, "Phase"), "confirming");
    b.wait_runs(web.as_str(), &["cweb-1", "cweb-2"]);
    let wrong = b.run(&["confirm", "3"]);
    assert!(
        !wrong.status.success()
            && stderr(&wrong).contains("release 3 is not waiting for confirmation"),
        "{wrong:?}"
    );
    let ok = b.run(&["confirm", "2"]);
    assert!(ok.status.success(), "confirm 2: {}", stderr(&ok));
    let out = installing.join().unwrap();
    assert!(
        out.status.success(),
        "install 2: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("release 2: confirmed by a call"),
        "{}",
        stdout(&out)
    );
    assert_eq!(b.state()["current"], "2");
    assert_eq!(release_property(&b, "Confirmed"), "2");

    let err = b.install_fails(&r3);
    assert!(err.contains("no Confirm call within 2 s"), "{err}");
    assert_eq!(b.state()["current"], "2");
    b.wait_runs(web.as_str(), &["cweb-1", "cweb-2", "cweb-3", "cweb-2"]);
}

const HAND_OVER: &str = "labels = { \"io.davit.update.strategy\" = \"hand-over\" }\n";

/// `hand-over`: the new version starts in the app's other container beside the old one,
/// which runs on until the new one is healthy; a release that rolls back before that takes
/// the old one back as it runs (same process), whether the new one exited or still ran.
#[test]
fn a_hand_over_app_runs_beside_its_old_version_until_the_new_one_is_up() {
    let b = Board::new();
    let web = unique("hweb");
    let (first, second) = (format!("app.{web}"), format!("app2.{web}"));
    b.steady_image("hweb-1");
    b.steady_image("hweb-2");
    b.image("hweb-3", "echo hweb-3 >> /data/runs; exit 5");
    b.steady_image("hweb-4");
    let app = |tag: &str, extra: &str| format!("image = \"{tag}\"\n{HAND_OVER}{extra}");
    // Healthy once the test says so; failures before do not count (start_period).
    let healthy_on_go = "[healthcheck]\ntest = \"test -e /data/go\"\ninterval = \"200ms\"\n\
                         retries = 1\nstart_period = \"10m\"\n";
    let r1 = b.release_of("1", "watch = \"0s\"\n", &web, "hweb-1");
    b.install_ok(&r1);
    let s1 = b.wait_runs(&web, &["hweb-1"]);
    assert_eq!(s1["container"], first.as_str(), "{s1}");
    let pid1 = num(&s1, "pid") as i32;

    let r2 = b.release(
        "2",
        "confirm_timeout = \"2m\"\nwatch = \"0s\"\n",
        &[(web.as_str(), &app("hweb-2", healthy_on_go))],
    );
    let installer = b
        .davit_release(&["install", r2.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let s2 = b.d.wait_status(&web, 60, "the new version started", |s| {
        s["container"] == second.as_str() && s["state"] == "running"
    });
    let pid2 = num(&s2, "pid") as i32;
    wait_until(30, "hweb-2 to run", || b.runs(&web) == ["hweb-1", "hweb-2"]);
    // Not healthy yet: both run.
    assert_eq!(s2["health"], "starting", "{s2}");
    assert!(
        alive(pid1),
        "the old version stopped before the new one was up"
    );
    let mut both = b.d.containers();
    both.sort();
    assert_eq!(both, [first.clone(), second.clone()]);

    fs::write(b.volume(&web).join("go"), "").unwrap();
    assert!(
        exits_within(installer.id() as i32, INSTALL_SECS),
        "install of release 2 still running"
    );
    let out = installer.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}\ndaemon:\n{}",
        stdout(&out),
        stderr(&out),
        b.d.log_tail()
    );
    wait_until(30, "the old version to stop", || !alive(pid1));
    wait_until(30, "the old container to be deleted", || {
        b.d.containers() == [second.clone()]
    });
    let s = b.d.status(&web);
    assert_eq!(
        (num(&s, "pid") as i32, &s["health"]),
        (pid2, &"healthy".into()),
        "{s}"
    );
    // Neither version started twice.
    assert_eq!(b.runs(&web), ["hweb-1", "hweb-2"]);

    // A new version that exits before it is up (READY=1): the rollback takes hweb-2 back as
    // it runs. (One with neither `notify` nor a healthcheck is up as soon as it runs.)
    let r3 = b.release(
        "3",
        "confirm_timeout = \"1m\"\n",
        &[(web.as_str(), &app("hweb-3", "notify = true\n"))],
    );
    let err = b.install_fails(&r3);
    assert!(err.contains("exited 5"), "{err}");
    let s = b.wait_runs(&web, &["hweb-1", "hweb-2", "hweb-3"]);
    assert_eq!(
        (num(&s, "pid") as i32, &s["container"]),
        (pid2, &second.as_str().into()),
        "{s}"
    );
    assert_eq!(b.d.containers(), [second.as_str()]);

    // One that runs and is unhealthy: it is stopped, and hweb-2 taken back again.
    let r4 = b.release(
        "4",
        "confirm_timeout = \"1m\"\n",
        &[(
            web.as_str(),
            &app(
                "hweb-4",
                "[healthcheck]\ntest = \"false\"\ninterval = \"200ms\"\nretries = 1\n",
            ),
        )],
    );
    let err = b.install_fails(&r4);
    assert!(err.contains(&format!("{web} is unhealthy")), "{err}");
    let s = b.d.wait_state(&web, "running", 30);
    assert_eq!(num(&s, "pid") as i32, pid2, "{s}");
    wait_until(30, "hweb-4's container to be deleted", || {
        b.d.containers() == [second.clone()]
    });
    let runs = b.runs(&web);
    assert_eq!(
        runs.iter().filter(|r| *r == "hweb-2").count(),
        1,
        "hweb-2 started again: {runs:?}"
    );
    assert_eq!(b.state()["current"], "2");
}
