//! Fuzz targets on stable Rust (proptest): every parser that reads untrusted bytes gets valid
//! input with random damage (bytes replaced, inserted, removed, the end cut off), many times
//! over: the image index, a manifest and a config (each stored under its new digest, so that
//! the parser and not the digest check meets it), a layer's tar stream, its gzip and zstd
//! compression, and a release's own files. A finding is a panic, a hang (each case is
//! bounded by proptest's timeout) or a write outside the layer directory.
//!
//! `DAVIT_FUZZ_CASES` sets the cases per target (256 by default: CI's bounded run);
//! `testbeds/fuzz.sh` runs them for an hour with fresh random seeds and prints the counts.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use update::image::{Platform, import_layout};
use update::layer::{Compression, Policy, unpack};
use update::release::Release;
use update::store::Store;

fn cases() -> u32 {
    std::env::var("DAVIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // A case that takes this long is a finding (a hang), not a slow input.
        timeout: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One damage: where (a fraction of the length), what, and a byte.
#[derive(Debug, Clone)]
enum Damage {
    Replace(f64, u8),
    Insert(f64, u8),
    Remove(f64),
    Cut(f64),
}

fn damages() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        4 => (0.0..1.0f64, any::<u8>()).prop_map(|(p, b)| Damage::Replace(p, b)),
        2 => (0.0..1.0f64, any::<u8>()).prop_map(|(p, b)| Damage::Insert(p, b)),
        2 => (0.0..1.0f64).prop_map(Damage::Remove),
        1 => (0.0..1.0f64).prop_map(Damage::Cut),
    ];
    prop::collection::vec(one, 1..8)
}

fn damage(base: &[u8], ds: &[Damage]) -> Vec<u8> {
    let mut v = base.to_vec();
    for d in ds {
        let at = |p: f64, len: usize| ((p * len as f64) as usize).min(len.saturating_sub(1));
        match *d {
            Damage::Replace(p, b) if !v.is_empty() => {
                let i = at(p, v.len());
                v[i] = b;
            }
            Damage::Insert(p, b) => {
                let i = at(p, v.len() + 1);
                v.insert(i.min(v.len()), b);
            }
            Damage::Remove(p) if !v.is_empty() => {
                let i = at(p, v.len());
                v.remove(i);
            }
            Damage::Cut(p) => v.truncate(at(p, v.len() + 1)),
            _ => {}
        }
    }
    v
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// A small valid image: one gzip layer (a directory, a file, a symlink), its config, its
/// manifest. The pieces, so that each case can damage one and rebuild the layout around it.
struct Image {
    layer_tar: Vec<u8>,
    layer_gz: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

/// A header as tar(1) writes one: owner, group and time filled in.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn image() -> Image {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    b.append_data(&mut h, "etc/", &[][..]).unwrap();
    let data = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
    b.append_data(&mut h, "etc/passwd", &data[..]).unwrap();
    let mut h = header(tar::EntryType::Symlink, 0o777, 0);
    b.append_link(&mut h, "etc/link", "passwd").unwrap();
    let layer_tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&layer_tar).unwrap();
    let layer_gz = gz.finish().unwrap();
    let arch = Platform::host();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch.architecture,
        "os": "linux",
        "variant": arch.variant,
        "config": {"Cmd": ["/bin/sh"], "Env": ["A=b"], "User": "root", "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [digest(&layer_tar)]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest(&layer_gz), "size": layer_gz.len()}],
    }))
    .unwrap();
    Image {
        layer_tar,
        layer_gz,
        config,
        manifest,
    }
}

fn index_for(manifest: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": digest(manifest), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "app"}}],
    }))
    .unwrap()
}

/// Writes an OCI layout holding `blobs` and `index`; returns its directory.
fn layout(dir: &Path, index: &[u8], blobs: &[&[u8]]) -> PathBuf {
    let l = dir.join("layout");
    fs::create_dir_all(l.join("blobs/sha256")).unwrap();
    fs::write(l.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(l.join("index.json"), index).unwrap();
    for b in blobs {
        let name = hex(&Sha256::digest(b));
        fs::write(l.join("blobs/sha256").join(name), b).unwrap();
    }
    l
}

/// Imports, which may fail but must return.
fn import(dir: &Path, l: &Path) {
    let store = Store::open(&dir.join("store")).unwrap();
    let _ = import_layout(&store, l, &Platform::host(), None, &Policy::default());
}

#[test]
fn the_valid_image_imports() {
    let img = image();
    let d = tempfile::tempdir().unwrap();
    let l = layout(
        d.path(),
        &index_for(&img.manifest),
        &[&img.manifest, &img.config, &img.layer_gz],
    );
    let store = Store::open(&d.path().join("store")).unwrap();
    let img = import_layout(&store, &l, &Platform::host(), None, &Policy::default()).unwrap();
    assert_eq!(
        fs::read(img.layers[0].join("etc/passwd")).unwrap(),
        b"root:x:0:0:root:/root:/bin/sh\n"
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_damaged_index(ds in damages()) {
        let img = image();
        let d = tempfile::tempdir().unwrap();
        let index = damage(&index_for(&img.manifest), &ds);
        let l = layout(d.path(), &index, &[&img.manifest, &img.config, &img.layer_gz]);
        import(d.path(), &l);
    }

    #[test]
    fn a_damaged_manifest(ds in damages()) {
        let img = image();
        let d = tempfile::tempdir().unwrap();
        let manifest = damage(&img.manifest, &ds);
        let l = layout(d.path(), &index_for(&manifest), &[&manifest, &img.config, &img.layer_gz]);
        import(d.path(), &l);
    }

    #[test]
    fn a_damaged_config(ds in damages()) {
        let img = image();
        let d = tempfile::tempdir().unwrap();
        let config = damage(&img.config, &ds);
        let manifest = String::from_utf8(img.manifest.clone()).unwrap().replace(
            &format!("\"digest\":\"{}\",\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":{}",
                digest(&img.config), img.config.len()),
            &format!("\"digest\":\"{}\",\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":{}",
                digest(&config), config.len()),
        ).into_bytes();
        let l = layout(d.path(), &index_for(&manifest), &[&manifest, &config, &img.layer_gz]);
        import(d.path(), &l);
    }

    #[test]
    fn a_damaged_layer_tar_writes_nothing_outside(ds in damages()) {
        let img = image();
        let d = tempfile::tempdir().unwrap();
        let (into, beside) = (d.path().join("layer"), d.path().join("beside"));
        fs::create_dir(&into).unwrap();
        fs::create_dir(&beside).unwrap();
        fs::write(beside.join("canary"), b"canary").unwrap();
        let tar = damage(&img.layer_tar, &ds);
        let _ = unpack(&tar[..], &into, &Policy::default(), "fuzz");
        prop_assert_eq!(fs::read_dir(&beside).unwrap().count(), 1);
        prop_assert_eq!(fs::read(beside.join("canary")).unwrap(), b"canary");
        prop_assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_damaged_compressed_stream(ds in damages(), zstd in any::<bool>()) {
        let img = image();
        let (base, c) = if zstd {
            (ruzstd::encoding::compress_to_vec(&img.layer_tar[..], ruzstd::encoding::CompressionLevel::Fastest), Compression::Zstd)
        } else {
            (img.layer_gz.clone(), Compression::Gzip)
        };
        let bytes = damage(&base, &ds);
        if let Ok(mut r) = c.decoder(&bytes[..]) {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::Read::take(&mut r, 1 << 20), &mut sink);
        }
    }

    #[test]
    fn damaged_release_files(ds in damages(), which in 0..2usize) {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("apps")).unwrap();
        let release = b"version = \"1.2\"\nconfirm_timeout = \"1m\"\nwatch = \"5s\"\n".to_vec();
        let app = b"image = \"web\"\nrestart = \"on-failure:3\"\nenvironment = { A = \"b\" }\n\
            [healthcheck]\ntest = [\"CMD\", \"true\"]\ninterval = \"1s\"\n[depends_on]\ndb = { condition = \"service_started\" }\n".to_vec();
        let (release, app) = if which == 0 { (damage(&release, &ds), app) } else { (release, damage(&app, &ds)) };
        fs::write(d.path().join("release.toml"), release).unwrap();
        fs::write(d.path().join("apps/web.toml"), app).unwrap();
        let _ = Release::read(d.path());
    }
}
