//! The store: blobs checked as they arrive, layers shared, `verify` and `--repair`.

use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256 as Hasher};
use update::layer::Policy;
use update::store::{LayerSource, Sha256, Store};

fn digest_of(data: &[u8]) -> Sha256 {
    let hex: String = Hasher::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Sha256::parse(&format!("sha256:{hex}")).unwrap()
}

fn tmp_is_empty(store: &Store) -> bool {
    fs::read_dir(store.root().join("tmp")).unwrap().count() == 0
}

#[test]
fn a_blob_is_kept_only_when_its_bytes_match_digest_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let data = b"{\"schemaVersion\": 2}";
    let d = digest_of(data);

    let mut flipped = data.to_vec();
    flipped[3] ^= 1;
    let e = store
        .ingest(&flipped[..], &d, data.len() as u64)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&d.to_string()) && e.contains("does not match its digest"),
        "{e}"
    );

    let e = store
        .ingest(&data[..10], &d, data.len() as u64)
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated"), "{e}");

    let mut longer = data.to_vec();
    longer.push(b'\n');
    let e = store
        .ingest(&longer[..], &d, data.len() as u64)
        .unwrap_err()
        .to_string();
    assert!(e.contains("larger than"), "{e}");

    assert!(!store.has_blob(&d), "a refused blob was kept");
    assert!(tmp_is_empty(&store), "a refused blob left its temporary");

    assert_eq!(
        store.ingest(&data[..], &d, data.len() as u64).unwrap(),
        update::store::Ingested::Stored
    );
    assert_eq!(fs::read(store.blob_path(&d)).unwrap(), data);
    // Stored once: the second ingest does not read its input at all.
    assert_eq!(
        store
            .ingest(&b"anything"[..], &d, data.len() as u64)
            .unwrap(),
        update::store::Ingested::AlreadyPresent
    );
}

#[test]
fn digests_that_are_not_sha256_or_not_well_formed_are_refused() {
    for bad in [
        "sha512:00",
        "sha256:../../etc/passwd",
        "sha256:ABCDEF",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    ] {
        assert!(Sha256::parse(bad).is_err(), "{bad}");
    }
}

/// A layer tar (one file) and its gzip form: (blob, diff_id of the tar).
fn layer_blob(name: &str, content: &[u8]) -> (Vec<u8>, Sha256) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, name, content).unwrap();
    let tar = b.into_inner().unwrap();
    let diff_id = digest_of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    (gz.finish().unwrap(), diff_id)
}

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[test]
fn a_layer_whose_content_is_not_its_diff_id_is_refused_and_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (blob, _) = layer_blob("etc/hostname", b"board\n");
    let blob_digest = digest_of(&blob);
    store
        .ingest(&blob[..], &blob_digest, blob.len() as u64)
        .unwrap();
    let (_, other_diff_id) = layer_blob("etc/hostname", b"other\n");
    let e = store
        .unpack_layer(
            LayerSource {
                blob: &blob_digest,
                media_type: GZIP,
                diff_id: &other_diff_id,
            },
            &Policy::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("the image config says"), "{e}");
    assert!(!store.has_layer(&other_diff_id));
    assert!(!store.layer_path(&other_diff_id).exists());
    assert!(tmp_is_empty(&store));
}

#[test]
fn a_layer_is_unpacked_once_and_verify_finds_and_repairs_damage() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (blob, diff_id) = layer_blob("etc/hostname", b"board\n");
    let blob_digest = digest_of(&blob);
    store
        .ingest(&blob[..], &blob_digest, blob.len() as u64)
        .unwrap();
    let src = LayerSource {
        blob: &blob_digest,
        media_type: GZIP,
        diff_id: &diff_id,
    };
    let (path, first) = store.unpack_layer(src, &Policy::default()).unwrap();
    assert!(first.is_some());
    assert_eq!(fs::read(path.join("etc/hostname")).unwrap(), b"board\n");
    let (_, second) = store.unpack_layer(src, &Policy::default()).unwrap();
    assert!(second.is_none(), "the same layer was unpacked twice");

    let clean = store.verify(false).unwrap();
    assert_eq!((clean.blobs, clean.layers, clean.damaged.len()), (1, 1, 0));

    // A flipped byte in the blob, a changed file in the layer.
    let mut bytes = fs::read(store.blob_path(&blob_digest)).unwrap();
    bytes[20] ^= 0x40;
    fs::write(store.blob_path(&blob_digest), &bytes).unwrap();
    fs::write(path.join("etc/hostname"), "tampered\n").unwrap();
    let found = store.verify(false).unwrap();
    let what: Vec<&str> = found.damaged.iter().map(|d| d.what.as_str()).collect();
    assert_eq!(
        what,
        [
            format!("blob {blob_digest}").as_str(),
            format!("layer {diff_id}").as_str()
        ],
        "{found:?}"
    );
    assert!(found.damaged.iter().all(|d| !d.removed));
    assert!(store.has_blob(&blob_digest) && store.has_layer(&diff_id));

    let repaired = store.verify(true).unwrap();
    assert_eq!(repaired.damaged.len(), 2);
    assert!(repaired.damaged.iter().all(|d| d.removed));
    assert!(!store.has_blob(&blob_digest) && !store.has_layer(&diff_id));
    let after = store.verify(false).unwrap();
    assert_eq!((after.blobs, after.layers, after.damaged.len()), (0, 0, 0));
}

#[test]
fn leftovers_of_an_interrupted_write_are_removed_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        fs::write(store.root().join("tmp/blob-half"), b"half a blob").unwrap();
        fs::create_dir_all(store.root().join("tmp/layer-half/etc")).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(tmp_is_empty(&store));
    assert!(Path::new(&store.root().join("blobs/sha256")).is_dir());
}
