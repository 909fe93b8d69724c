//! OCI image layouts built the way users build them: with umoci (and skopeo), from Debian's
//! busybox-static. testbeds/setup.sh installs both tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn run(tool: &str, args: &[&str]) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e} (testbeds/setup.sh installs it)"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An OCI layout under construction with umoci.
pub struct Umoci {
    pub layout: PathBuf,
}

impl Umoci {
    pub fn init(layout: PathBuf) -> Umoci {
        run("umoci", &["init", "--layout", layout.to_str().unwrap()]);
        Umoci { layout }
    }

    /// `LAYOUT:TAG`, as umoci and skopeo name an image.
    pub fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.layout.display())
    }

    pub fn new_image(&self, tag: &str) {
        run("umoci", &["new", "--image", &self.image(tag)]);
    }

    /// Unpacks image `tag` into the bundle `dir` (its files under `dir/rootfs`).
    pub fn unpack(&self, tag: &str, dir: &Path) {
        run(
            "umoci",
            &["unpack", "--image", &self.image(tag), dir.to_str().unwrap()],
        );
    }

    /// A new layer from what changed in `dir`, as image `tag`.
    pub fn repack(&self, tag: &str, dir: &Path) {
        run(
            "umoci",
            &["repack", "--image", &self.image(tag), dir.to_str().unwrap()],
        );
    }

    /// Image `tag`: an empty image plus one layer with busybox (`/bin/busybox`, `/bin/sh`).
    pub fn busybox(&self, tag: &str, work: &Path) {
        self.new_image(tag);
        let b = work.join(format!("bundle-{tag}-busybox"));
        self.unpack(tag, &b);
        std::fs::create_dir_all(b.join("rootfs/bin")).unwrap();
        std::fs::copy("/bin/busybox", b.join("rootfs/bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", b.join("rootfs/bin/sh")).unwrap();
        self.repack(tag, &b);
    }

    /// Image `tag`: image `from` plus one layer that `add` writes into the rootfs.
    pub fn layer_on(&self, from: &str, tag: &str, work: &Path, add: impl FnOnce(&Path)) {
        let b = work.join(format!("bundle-{tag}"));
        self.unpack(from, &b);
        add(&b.join("rootfs"));
        self.repack(tag, &b);
    }
}
