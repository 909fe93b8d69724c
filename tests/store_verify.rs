//! `davit store verify [--repair]` as a user runs it, on a store filled by the update
//! library: clean, then a flipped byte in a blob, then repaired.
#![cfg(feature = "update")]

mod common;

use std::fs;
use std::process::Command;

use sha2::{Digest, Sha256 as Hasher};
use update::store::{Sha256, Store};

fn verify(store: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(common::davit_bin())
        .args(["store", "--store", store.to_str().unwrap(), "verify"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_reports_a_damaged_blob_and_repair_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let data = b"a blob of the store, 31530";
    let hex: String = Hasher::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let digest = Sha256::parse(&format!("sha256:{hex}")).unwrap();
    {
        let store = Store::open(&root).unwrap();
        store.ingest(&data[..], &digest, data.len() as u64).unwrap();
    }

    let (code, out, err) = verify(&root, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("1 blobs, 0 layers checked, 0 damaged"),
        "{out}"
    );

    let blob = root.join("blobs/sha256").join(&hex);
    let mut bytes = fs::read(&blob).unwrap();
    bytes[0] ^= 0x20;
    fs::write(&blob, bytes).unwrap();
    let (code, out, _) = verify(&root, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "damaged: blob sha256:{hex}: its content hashes to sha256:"
        )),
        "{out}"
    );
    assert!(blob.exists(), "verify without --repair removed something");

    let (code, out, _) = verify(&root, &["--repair"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("(removed)"), "{out}");
    assert!(!blob.exists());
    let (code, out, _) = verify(&root, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 blobs, 0 layers checked, 0 damaged"),
        "{out}"
    );
}

#[test]
fn a_store_that_cannot_be_opened_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, "x").unwrap();
    let (code, _, err) = verify(&file, &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("davit: error: store ") && err.contains("not-a-dir"),
        "{err}"
    );
}
