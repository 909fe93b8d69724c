//! davit's update engine. This first part is the store every release lands in:
//!
//! - [`store::Store`]: content-addressed blobs under `blobs/sha256/`, each streamed through
//!   sha256 and checked against its descriptor before it is kept (no unverified byte is ever
//!   used), written durably (temporary, fsync, rename, fsync of the directory), and stored
//!   once however many images name it;
//! - layers unpacked once each into their own read-only directory under `layers/sha256/`,
//!   named by their uncompressed digest (the image config's `diff_ids`), so that every app
//!   version on the same base shares them as overlayfs lower directories;
//! - [`layer::unpack`]: the tar stream of a layer written in-root (openat2 through pathrs), so
//!   that no entry of a hostile layer can write outside its directory;
//! - [`image::import_layout`]: an OCI image layout (`skopeo copy … oci:DIR`, `buildah push`,
//!   `umoci`) into the store, for this board's platform;
//! - [`store::Store::verify`]: every blob and layer hashed again, damaged ones reported or
//!   dropped;
//! - [`bundle::spec_for_image`]: the runtime config an image asks for (Entrypoint, Cmd, Env,
//!   WorkingDir, User, Volumes) on davit's defaults.

pub mod bundle;
pub mod error;
pub mod image;
pub mod layer;
pub mod release;
pub mod store;

pub use error::{Error, Result};

/// A file of at most `max` bytes, or `None` when it is larger: only `max + 1` bytes are read to
/// know it, so a hostile file never makes us allocate its size.
pub(crate) fn read_at_most(path: &std::path::Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut out)?;
    Ok((out.len() as u64 <= max).then_some(out))
}

/// Arms the fail points `FAILPOINTS` names (`name=panic;other=panic`) while the returned value
/// lives; builds without the `failpoints` feature have none.
#[cfg(feature = "failpoints")]
pub fn failpoints() -> fail::FailScenario<'static> {
    fail::FailScenario::setup()
}

/// Builds without the `failpoints` feature have no fail points.
#[cfg(not(feature = "failpoints"))]
pub fn failpoints() -> NoFailpoints {
    NoFailpoints
}

#[cfg(not(feature = "failpoints"))]
pub struct NoFailpoints;
