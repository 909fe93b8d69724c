//! An import killed (SIGKILL) at a random moment, again and again into one store: after
//! each kill the store opens, `verify` finds nothing damaged, and every blob and layer in it
//! is whole (a half-written one would fail verify). Then an import runs to its end.
//!
//! The importer is this test binary run again with `DAVIT_CRASH_CHILD` set: the one test
//! below then imports and exits instead of killing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use update::image::{Platform, import_layout};
use update::layer::Policy;
use update::store::Store;

use common::Umoci;

const CHILD: &str = "DAVIT_CRASH_CHILD";

/// An image of two layers: busybox, and a few hundred small files.
fn image(dir: &Path) -> PathBuf {
    let u = Umoci::init(dir.join("layout"));
    u.busybox("app", dir);
    u.layer_on("app", "app", dir, |rootfs| {
        for i in 0..400 {
            let d = rootfs.join(format!("data/{}", i % 20));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join(format!("f{i}")),
                format!("file {i}\n").repeat(i % 50 + 1),
            )
            .unwrap();
        }
    });
    u.layout
}

/// A pseudo-random delay from the trial number (no clock, no crate: the same trials each run).
fn delay(trial: u64, max_ms: u64) -> Duration {
    let mut x = trial.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    Duration::from_micros(x % (max_ms * 1000))
}

#[test]
fn an_import_killed_at_any_moment_leaves_a_store_that_verifies() {
    if let Ok(spec) = std::env::var(CHILD) {
        let (layout, store) = spec.split_once('\n').unwrap();
        let store = Store::open(Path::new(store)).unwrap();
        import_layout(
            &store,
            Path::new(layout),
            &Platform::host(),
            None,
            &Policy::default(),
        )
        .unwrap();
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = image(tmp.path());
    let root = tmp.path().join("store");
    let exe = std::env::current_exe().unwrap();
    let child = |store: &Path| {
        Command::new(&exe)
            .args([
                "--exact",
                "an_import_killed_at_any_moment_leaves_a_store_that_verifies",
                "--nocapture",
            ])
            .env(CHILD, format!("{}\n{}", layout.display(), store.display()))
            .spawn()
            .unwrap()
    };

    // How long an import into an empty store takes here (the second of two: the first
    // also warms the page cache): the kills spread over it.
    let mut full_ms = 0;
    for round in 0..2 {
        let fresh = tmp.path().join(format!("timing-store-{round}"));
        let t = Instant::now();
        assert!(child(&fresh).wait().unwrap().success());
        full_ms = (t.elapsed().as_millis() as u64).max(5);
    }

    let trials = std::env::var("DAVIT_CRASH_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40u64);
    let (mut killed, mut finished) = (0, 0);
    let mut whole_in_store = false;
    for trial in 0..trials {
        if whole_in_store {
            // Once an import finished, the next would find everything there and never be
            // cut: start over with an empty store. Until then, each trial continues what
            // the killed ones left.
            std::fs::remove_dir_all(&root).unwrap();
            whole_in_store = false;
        }
        let mut c = child(&root);
        // While no kill has landed (a machine busier now than when timed), the delays
        // shrink: halved every 8 trials.
        let span = if killed == 0 {
            (full_ms >> (trial / 8).min(6)).max(1)
        } else {
            full_ms
        };
        std::thread::sleep(delay(trial, span));
        // SAFETY: kill(2) on the pid of our own child, which we have not reaped.
        unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
        let status = c.wait().unwrap();
        if status.success() {
            finished += 1;
            whole_in_store = true;
        } else {
            killed += 1;
        }
        let store = Store::open(&root).unwrap();
        let v = store.verify(false).unwrap();
        assert!(v.damaged.is_empty(), "after trial {trial}: {:?}", v.damaged);
        if whole_in_store {
            assert_eq!(v.layers, 2, "after trial {trial}");
        }
    }
    eprintln!("crash trials: {trials} ({killed} killed mid-import, {finished} finished first)");
    assert!(
        killed > 0,
        "no trial killed an import: the delays are too long"
    );

    let store = Store::open(&root).unwrap();
    let done = import_layout(&store, &layout, &Platform::host(), None, &Policy::default()).unwrap();
    assert_eq!(done.layers.len(), 2);
    assert!(store.verify(false).unwrap().damaged.is_empty());
}
