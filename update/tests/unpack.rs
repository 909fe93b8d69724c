//! Hostile layers: each escape a tar stream can try, against `layer::unpack`. Every test
//! hashes a directory beside the layer (and the host file a hardlink names) before and after:
//! nothing outside the layer may change, whatever the outcome.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use update::Error;
use update::layer::{Policy, unpack};

/// One tar entry with a name written byte for byte: `tar::Builder` refuses `..` and absolute
/// names, which is what these tests need to send.
struct Raw<'a> {
    name: &'a str,
    kind: tar::EntryType,
    link: &'a str,
    mode: u32,
    data: &'a [u8],
    pax: &'a [(&'a str, &'a [u8])],
}

impl Default for Raw<'_> {
    fn default() -> Self {
        Raw {
            name: "",
            kind: tar::EntryType::Regular,
            link: "",
            mode: 0o644,
            data: b"",
            pax: &[],
        }
    }
}

fn tar_of(entries: &[Raw]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if !e.pax.is_empty() {
            b.append_pax_extensions(e.pax.iter().copied()).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        let bytes = h.as_mut_bytes();
        bytes[..e.name.len()].copy_from_slice(e.name.as_bytes());
        bytes[157..157 + e.link.len()].copy_from_slice(e.link.as_bytes());
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(e.data.len() as u64);
        if matches!(e.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_cksum();
        b.append(&h, e.data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A layer directory with a sibling `outside/` (with a file and a subdirectory) that no
/// entry may touch.
struct Scene {
    _tmp: tempfile::TempDir,
    layer: PathBuf,
    outside: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let layer = tmp.path().join("layer");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&layer).unwrap();
        fs::create_dir_all(outside.join("etc")).unwrap();
        fs::write(outside.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        Scene {
            _tmp: tmp,
            layer,
            outside,
        }
    }

    /// Unpacks and checks that `outside/` and the host's /etc/passwd did not change.
    fn unpack(&self, entries: &[Raw], policy: &Policy) -> Result<update::layer::Unpacked, Error> {
        let before = (snapshot(&self.outside), fs::read("/etc/passwd").unwrap());
        let r = unpack(&tar_of(entries)[..], &self.layer, policy, "sha256:test");
        let after = (snapshot(&self.outside), fs::read("/etc/passwd").unwrap());
        assert_eq!(before, after, "something outside the layer changed");
        r
    }

    fn refused(&self, entries: &[Raw], policy: &Policy, reason: &str) -> String {
        let e = self.unpack(entries, policy).unwrap_err().to_string();
        assert!(e.contains(reason), "{e}");
        e
    }
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walk(dir) {
        let m = fs::symlink_metadata(&e).unwrap();
        let data = if m.is_file() {
            fs::read(&e).unwrap()
        } else {
            Vec::new()
        };
        out.push((e, m.mode(), data));
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_owned()];
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The value of extended attribute `name` of `path` (not following a symlink).
fn xattr(path: &Path, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut value = [0u8; 64];
    // SAFETY: valid C strings and a buffer of the length given.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    (n >= 0).then(|| value[..n as usize].to_vec())
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        data,
        ..Raw::default()
    }
}

fn symlink<'a>(name: &'a str, link: &'a str) -> Raw<'a> {
    Raw {
        name,
        link,
        kind: tar::EntryType::Symlink,
        mode: 0o777,
        ..Raw::default()
    }
}

#[test]
fn dot_dot_in_a_path_is_refused() {
    let s = Scene::new();
    let e = s.refused(
        &[file("../outside/etc/passwd", b"owned\n")],
        &Policy::default(),
        "climbs out",
    );
    assert!(
        e.contains("../outside/etc/passwd"),
        "the entry is named: {e}"
    );
    let e = s.refused(&[file("a/../../x", b"x")], &Policy::default(), "climbs out");
    assert!(e.contains("sha256:test"), "the layer is named: {e}");
}

#[test]
fn an_absolute_path_lands_inside_the_layer() {
    let s = Scene::new();
    s.unpack(&[file("/etc/passwd", b"inside\n")], &Policy::default())
        .unwrap();
    assert_eq!(fs::read(s.layer.join("etc/passwd")).unwrap(), b"inside\n");
}

#[test]
fn a_symlinked_parent_is_refused_not_followed() {
    for target in ["/", "../outside", "../../../../.."] {
        let s = Scene::new();
        s.refused(
            &[symlink("link", target), file("link/etc/passwd", b"owned\n")],
            &Policy::default(),
            "is not a directory of this layer",
        );
        assert!(!s.layer.join("etc").exists());
    }
}

#[test]
fn a_hardlink_to_anything_outside_the_layer_is_refused() {
    let s = Scene::new();
    let link = |name, to| Raw {
        name,
        link: to,
        kind: tar::EntryType::Link,
        ..Raw::default()
    };
    s.refused(
        &[link("h", "/etc/passwd")],
        &Policy::default(),
        "not a file of this layer",
    );
    s.refused(
        &[link("h2", "../outside/etc/passwd")],
        &Policy::default(),
        "climbs out",
    );
    // Within the layer it is a hardlink.
    let s = Scene::new();
    s.unpack(&[file("a", b"same\n"), link("b", "a")], &Policy::default())
        .unwrap();
    let (a, b) = (
        fs::metadata(s.layer.join("a")).unwrap(),
        fs::metadata(s.layer.join("b")).unwrap(),
    );
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
}

#[test]
fn a_file_after_a_symlink_of_its_name_replaces_the_symlink_and_writes_nothing_through_it() {
    // tar's rule: a later entry replaces an earlier one of the same name.
    let s = Scene::new();
    s.unpack(
        &[
            symlink("passwd", "../outside/etc/passwd"),
            file("passwd", b"mine\n"),
        ],
        &Policy::default(),
    )
    .unwrap();
    let m = fs::symlink_metadata(s.layer.join("passwd")).unwrap();
    assert!(m.is_file());
    assert_eq!(fs::read(s.layer.join("passwd")).unwrap(), b"mine\n");
    // A symlink alone is kept as one, pointing wherever it says: it is resolved inside the
    // container's root when used.
    let s = Scene::new();
    s.unpack(&[symlink("l", "/etc/passwd")], &Policy::default())
        .unwrap();
    assert_eq!(
        fs::read_link(s.layer.join("l")).unwrap(),
        Path::new("/etc/passwd")
    );
}

#[test]
fn device_nodes_only_when_the_app_allows_them() {
    let s = Scene::new();
    let dev = Raw {
        name: "dev/null2",
        kind: tar::EntryType::Char,
        mode: 0o666,
        ..Raw::default()
    };
    s.refused(
        std::slice::from_ref(&dev),
        &Policy::default(),
        "device node",
    );
    assert!(!s.layer.join("dev/null2").exists());
    let allowed = Policy {
        allow_devices: true,
        ..Policy::default()
    };
    s.unpack(&[dev], &allowed).unwrap();
    let m = fs::symlink_metadata(s.layer.join("dev/null2")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), libc::makedev(1, 3));
}

#[test]
fn setuid_bits_are_stripped_unless_kept() {
    let s = Scene::new();
    let suid = Raw {
        name: "bin/su",
        mode: 0o4755,
        data: b"#!/bin/sh\n",
        ..Raw::default()
    };
    let done = s
        .unpack(std::slice::from_ref(&suid), &Policy::default())
        .unwrap();
    assert_eq!(done.setuid_stripped, 1);
    let mode = fs::metadata(s.layer.join("bin/su"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
    let s = Scene::new();
    let keep = Policy {
        keep_setuid: true,
        ..Policy::default()
    };
    s.unpack(&[suid], &keep).unwrap();
    let mode = fs::metadata(s.layer.join("bin/su"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o4755);
}

#[test]
fn an_oversize_layer_is_refused_before_it_is_written() {
    let s = Scene::new();
    let small = Policy {
        max_bytes: 10,
        ..Policy::default()
    };
    s.refused(
        &[file("a", b"12345"), file("b", b"1234567")],
        &small,
        "past the 10 bytes",
    );
    assert!(!s.layer.join("b").exists());
}

#[test]
fn overlayfs_attributes_from_the_image_are_refused() {
    let s = Scene::new();
    let opaque = Raw {
        name: "etc/",
        kind: tar::EntryType::Directory,
        mode: 0o755,
        pax: &[("SCHILY.xattr.trusted.overlay.opaque", b"y")],
        ..Raw::default()
    };
    s.refused(&[opaque], &Policy::default(), "overlayfs attribute");
}

#[test]
fn whiteouts_become_overlayfs_whiteouts() {
    let s = Scene::new();
    let dir = Raw {
        name: "etc/",
        kind: tar::EntryType::Directory,
        mode: 0o750,
        ..Raw::default()
    };
    s.unpack(
        &[
            dir,
            file("etc/.wh.shadow", b""),
            file("var/.wh..wh..opq", b""),
        ],
        &Policy::default(),
    )
    .unwrap();
    let w = fs::symlink_metadata(s.layer.join("etc/shadow")).unwrap();
    assert!(w.file_type().is_char_device() && w.rdev() == 0, "{w:?}");
    assert_eq!(w.permissions().mode() & 0o7777, 0);
    assert!(!s.layer.join("etc/.wh.shadow").exists());
    assert_eq!(
        fs::metadata(s.layer.join("etc"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o750
    );
    assert_eq!(
        xattr(&s.layer.join("var"), c"trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
}

#[test]
fn owners_modes_and_xattrs_are_kept() {
    let s = Scene::new();
    let mut f = file("usr/bin/ping", b"\x7fELF");
    f.mode = 0o711;
    f.pax = &[
        ("uid", b"1234"),
        ("gid", b"5678"),
        ("SCHILY.xattr.user.davit", b"kept"),
    ];
    // A file system without user xattrs (tmpfs before Linux 6.6: the boards' root) cannot
    // keep the layer as it is: the unpack must fail, naming the entry and why, not drop it.
    let probe = s.layer.join("probe");
    fs::write(&probe, b"").unwrap();
    let c = std::ffi::CString::new(probe.to_str().unwrap()).unwrap();
    // SAFETY: valid C strings and a value of the length given.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            c"user.probe".as_ptr(),
            b"1".as_ptr().cast(),
            1,
            0,
        )
    };
    fs::remove_file(&probe).unwrap();
    if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EOPNOTSUPP) {
        let e = s.unpack(&[f], &Policy::default()).unwrap_err().to_string();
        assert!(
            e.contains("usr/bin/ping")
                && e.contains("set xattr user.davit")
                && e.contains("not supported"),
            "{e}"
        );
        return;
    }
    s.unpack(&[f], &Policy::default()).unwrap();
    let m = fs::metadata(s.layer.join("usr/bin/ping")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 5678, 0o711));
    assert_eq!(m.mtime(), 1_700_000_000);
    assert_eq!(
        xattr(&s.layer.join("usr/bin/ping"), c"user.davit").as_deref(),
        Some(&b"kept"[..])
    );
}

#[test]
fn a_stream_that_is_not_tar_is_an_error_naming_the_layer() {
    let s = Scene::new();
    let before = snapshot(&s.outside);
    let prose = vec![b'x'; 1024];
    let e = unpack(&prose[..], &s.layer, &Policy::default(), "sha256:test")
        .unwrap_err()
        .to_string();
    assert!(e.contains("sha256:test"), "{e}");
    assert_eq!(before, snapshot(&s.outside));
}
