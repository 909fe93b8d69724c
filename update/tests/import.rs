//! Images as the tools in Debian write them: umoci builds an OCI layout with a busybox base
//! (Debian's busybox-static) and two apps on it, skopeo recompresses one with zstd; each is
//! imported into a store for this machine's platform.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use update::image::{Platform, import_layout};
use update::layer::Policy;
use update::store::Store;

use common::{Umoci, run};

/// An OCI layout with images `a` and `b`: one busybox layer shared, one layer each.
fn two_apps_on_one_base(dir: &Path) -> PathBuf {
    let u = Umoci::init(dir.join("layout"));
    u.busybox("base", dir);
    for app in ["a", "b"] {
        u.layer_on("base", app, dir, |rootfs| {
            std::fs::create_dir_all(rootfs.join("app")).unwrap();
            fs::write(
                rootfs.join(format!("app/{app}.txt")),
                format!("app {app}\n"),
            )
            .unwrap();
        });
    }
    u.layout
}

fn du(path: &Path) -> u64 {
    let out = Command::new("du").args(["-sk"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|k| k.parse().ok())
        .unwrap_or(0)
}

#[test]
fn two_apps_on_one_base_share_its_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = two_apps_on_one_base(tmp.path());
    let store = Store::open(&tmp.path().join("store")).unwrap();
    let host = Platform::host();

    let a = import_layout(&store, &layout, &host, Some("a"), &Policy::default()).unwrap();
    assert_eq!(a.layers.len(), 2, "{a:?}");
    assert_eq!(a.counts.layers_unpacked.len(), 2);
    assert_eq!(
        fs::read(a.layers[0].join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        fs::read_link(a.layers[0].join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        fs::read_to_string(a.layers[1].join("app/a.txt")).unwrap(),
        "app a\n"
    );
    let one = du(store.root());

    let b = import_layout(&store, &layout, &host, Some("b"), &Policy::default()).unwrap();
    assert_eq!(b.layers[0], a.layers[0], "the base layer is one directory");
    assert_eq!(b.counts.layers_present, 1);
    assert_eq!(b.counts.layers_unpacked.len(), 1);
    assert!(b.counts.blobs_present >= 1, "{:?}", b.counts);
    let two = du(store.root());
    eprintln!(
        "store: one app {one} KiB, two apps on one base {two} KiB (busybox alone {} KiB)",
        fs::metadata("/bin/busybox").unwrap().len() / 1024
    );
    // The second app adds its own small layer and documents, not a second busybox.
    assert!(
        two - one < fs::metadata("/bin/busybox").unwrap().len() / 1024 / 2,
        "{one} KiB then {two} KiB"
    );
    let v = store.verify(false).unwrap();
    assert!(v.damaged.is_empty(), "{v:?}");

    // With several images and no name, the user must say which.
    let e = import_layout(&store, &layout, &host, None, &Policy::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("name one"), "{e}");
    let e = import_layout(&store, &layout, &host, Some("c"), &Policy::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no image named \"c\""), "{e}");
}

#[test]
fn a_zstd_image_from_skopeo_unpacks_to_the_same_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = two_apps_on_one_base(tmp.path());
    let zstd = tmp.path().join("zstd");
    run(
        "skopeo",
        &[
            "copy",
            "--dest-compress-format",
            "zstd",
            &format!("oci:{}:a", layout.display()),
            &format!("oci:{}:a", zstd.display()),
        ],
    );
    let index = fs::read_to_string(zstd.join("index.json")).unwrap();
    let manifests: Vec<String> = fs::read_dir(zstd.join("blobs/sha256"))
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .filter(|t| {
            t.contains("application/vnd.oci.image.manifest.v1+json") || t.contains("\"layers\"")
        })
        .collect();
    assert!(
        manifests.iter().any(|m| m.contains("tar+zstd")),
        "skopeo wrote no zstd layer: {index}"
    );
    let host = Platform::host();
    let gz_store = Store::open(&tmp.path().join("gz-store")).unwrap();
    let zst_store = Store::open(&tmp.path().join("zst-store")).unwrap();
    let gz = import_layout(&gz_store, &layout, &host, Some("a"), &Policy::default()).unwrap();
    let zst = import_layout(&zst_store, &zstd, &host, None, &Policy::default()).unwrap();
    let names = |layers: &[PathBuf]| -> Vec<String> {
        layers
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    // The same uncompressed layers, whatever the compression.
    assert_eq!(names(&gz.layers), names(&zst.layers));
    assert_eq!(
        fs::read(zst.layers[0].join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
}

/// The blob of a single-image layout that is its manifest, its config or its (gzip) layer.
fn blob_named(layout: &Path, want: &str) -> PathBuf {
    for e in fs::read_dir(layout.join("blobs/sha256")).unwrap().flatten() {
        let bytes = fs::read(e.path()).unwrap();
        let doc: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        let has = |key: &str| doc.as_ref().is_some_and(|d| d.get(key).is_some());
        let is = match want {
            "manifest" => has("layers") && has("config"),
            "config" => has("rootfs"),
            "layer" => bytes.starts_with(&[0x1f, 0x8b]) && bytes.len() < 4096,
            _ => false,
        };
        if is {
            return e.path();
        }
    }
    panic!("no {want} blob in {}", layout.display());
}

#[test]
fn a_tampered_or_missing_blob_is_refused_naming_it_and_nothing_is_unpacked() {
    let host = Platform::host();
    for (what, damage) in [
        ("manifest", "flip"),
        ("config", "flip"),
        ("layer", "flip"),
        ("layer", "truncate"),
        ("layer", "remove"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("one");
        fs::create_dir_all(&dir).unwrap();
        let layout = two_apps_on_one_base(&dir);
        // Only image a remains, so that the tampered blob is certainly one of its own.
        run(
            "umoci",
            &["rm", "--image", &format!("{}:b", layout.display())],
        );
        run(
            "umoci",
            &["rm", "--image", &format!("{}:base", layout.display())],
        );
        run("umoci", &["gc", "--layout", layout.to_str().unwrap()]);
        let blob = blob_named(&layout, what);
        let name = blob.file_name().unwrap().to_string_lossy().into_owned();
        match damage {
            "flip" => {
                let mut bytes = fs::read(&blob).unwrap();
                let i = bytes.len() / 2;
                bytes[i] ^= 0x01;
                fs::write(&blob, bytes).unwrap();
            }
            "truncate" => {
                let bytes = fs::read(&blob).unwrap();
                fs::write(&blob, &bytes[..bytes.len() - 7]).unwrap();
            }
            _ => fs::remove_file(&blob).unwrap(),
        }
        let store = Store::open(&tmp.path().join("store")).unwrap();
        let e = import_layout(&store, &layout, &host, Some("a"), &Policy::default())
            .unwrap_err()
            .to_string();
        let why = match damage {
            "flip" => "does not match its digest",
            "truncate" => "truncated",
            _ => "missing from the image",
        };
        assert!(e.contains(&name) && e.contains(why), "{what} {damage}: {e}");
        let v = store.verify(false).unwrap();
        assert!(v.damaged.is_empty(), "{v:?}");
        assert!(
            !fs::read_dir(store.root().join("blobs/sha256"))
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy() == name),
            "the damaged blob was stored"
        );
        assert!(
            fs::read_dir(store.root().join("tmp"))
                .unwrap()
                .next()
                .is_none()
        );
    }
}

#[test]
fn an_image_for_another_machine_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = two_apps_on_one_base(tmp.path());
    let other = if Platform::host().architecture == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    run(
        "umoci",
        &[
            "config",
            "--image",
            &format!("{}:a", layout.display()),
            "--architecture",
            other,
        ],
    );
    let store = Store::open(&tmp.path().join("store")).unwrap();
    let e = import_layout(
        &store,
        &layout,
        &Platform::host(),
        Some("a"),
        &Policy::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&format!("built for linux/{other}")) && e.contains("this board runs"),
        "{e}"
    );
}
