//! An OCI image layout (a directory, as `skopeo copy … oci:DIR`, `buildah push … oci:DIR`
//! and `umoci` write it) taken into the store: the board's platform picked from the index,
//! every blob verified as it is stored, every layer unpacked once.

mod platform;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

pub use platform::Platform;

use crate::error::{Error, Result};
use crate::layer::{Policy, Unpacked};
use crate::store::{LayerSource, Sha256, Store};

/// Index, manifest and config are small: anything larger is refused before it is parsed.
const MAX_DOCUMENT: u64 = 4 << 20;
/// An index may point at another index (a multi-platform image inside a layout); no deeper.
const MAX_INDEX_DEPTH: usize = 2;

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// An image in the store.
#[derive(Debug)]
pub struct Imported {
    pub manifest: Sha256,
    pub config_digest: Sha256,
    pub config: ImageConfiguration,
    /// The layer directories, lowest first (overlayfs wants them the other way round).
    pub layers: Vec<PathBuf>,
    /// Every blob the image is made of: its manifest, config and compressed layers.
    pub blobs: Vec<Sha256>,
    pub counts: Counts,
}

/// What an import stored and what the store had already.
#[derive(Debug, Default)]
pub struct Counts {
    pub blobs_stored: usize,
    pub blobs_present: usize,
    /// Layers this import unpacked, with what each held.
    pub layers_unpacked: Vec<Unpacked>,
    pub layers_present: usize,
}

/// Takes the image for `platform` from the OCI layout at `dir` into `store`. With several
/// images in the layout, `reference` picks one by its `org.opencontainers.image.ref.name`.
pub fn import_layout(
    store: &Store,
    dir: &Path,
    platform: &Platform,
    reference: Option<&str>,
    policy: &Policy,
) -> Result<Imported> {
    let layout = Layout { dir, store };
    layout.check_layout_file()?;
    let index_path = dir.join("index.json");
    let index: ImageIndex = parse(
        &read_limited(&index_path)?,
        &index_path.display().to_string(),
    )?;
    let mut counts = Counts::default();
    let manifest_desc = layout.pick(&index, platform, reference, 0, &mut counts)?;
    let manifest_digest = layout.ingest_document(&manifest_desc, &mut counts)?;
    let manifest: ImageManifest = parse(
        &store.read_blob(&manifest_digest, MAX_DOCUMENT)?,
        &format!("manifest {manifest_digest}"),
    )?;
    let config_digest = layout.ingest_document(manifest.config(), &mut counts)?;
    let config: ImageConfiguration = parse(
        &store.read_blob(&config_digest, MAX_DOCUMENT)?,
        &format!("config {config_digest}"),
    )?;
    platform.check_config(&config, dir)?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(Error::Image {
            path: dir.to_owned(),
            reason: format!(
                "the manifest lists {} layers, the config's rootfs.diff_ids {}",
                manifest.layers().len(),
                diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::new();
    let mut blobs = vec![manifest_digest.clone(), config_digest.clone()];
    for (desc, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let blob = layout.ingest(desc, &mut counts)?;
        blobs.push(blob.clone());
        let diff_id = Sha256::parse(diff_id).map_err(|reason| Error::Document {
            path: format!("config {config_digest}: rootfs.diff_ids"),
            reason,
        })?;
        let media_type = desc.media_type().to_string();
        let (path, unpacked) = store.unpack_layer(
            LayerSource {
                blob: &blob,
                media_type: &media_type,
                diff_id: &diff_id,
            },
            policy,
        )?;
        match unpacked {
            Some(u) => counts.layers_unpacked.push(u),
            None => counts.layers_present += 1,
        }
        layers.push(path);
    }
    Ok(Imported {
        blobs,
        manifest: manifest_digest,
        config_digest,
        config,
        layers,
        counts,
    })
}

struct Layout<'a> {
    dir: &'a Path,
    store: &'a Store,
}

impl Layout<'_> {
    fn check_layout_file(&self) -> Result<()> {
        let path = self.dir.join("oci-layout");
        let text = read_limited(&path)?;
        let v: serde_json::Value = parse(&text, &path.display().to_string())?;
        match v.get("imageLayoutVersion").and_then(|v| v.as_str()) {
            Some(ver) if ver.starts_with("1.") => Ok(()),
            other => Err(Error::Document {
                path: path.display().to_string(),
                reason: format!("imageLayoutVersion {other:?} is not 1.x: not an OCI image layout"),
            }),
        }
    }

    /// The manifest for the platform, following one nested index at most.
    fn pick(
        &self,
        index: &ImageIndex,
        platform: &Platform,
        reference: Option<&str>,
        depth: usize,
        counts: &mut Counts,
    ) -> Result<Descriptor> {
        let mut candidates: Vec<&Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| {
                reference.is_none_or(|want| {
                    depth > 0
                        || d.annotations().as_ref().is_some_and(|a| {
                            a.get("org.opencontainers.image.ref.name")
                                .is_some_and(|r| r == want)
                        })
                })
            })
            .collect();
        if candidates.is_empty() {
            return Err(self.image_error(match reference {
                Some(r) => format!("no image named {r:?} in index.json"),
                None => "index.json lists no image".to_owned(),
            }));
        }
        let with_platform: Vec<&Descriptor> = candidates
            .iter()
            .copied()
            .filter(|d| d.platform().as_ref().is_some_and(|p| platform.matches(p)))
            .collect();
        if !with_platform.is_empty() {
            candidates = with_platform;
        } else if candidates.iter().any(|d| d.platform().is_some()) {
            let offered: Vec<String> = candidates
                .iter()
                .filter_map(|d| d.platform().as_ref().map(Platform::describe))
                .collect();
            return Err(self.image_error(format!(
                "no image for {platform}; the index offers {}",
                offered.join(", ")
            )));
        }
        if candidates.len() > 1 && reference.is_none() && depth == 0 {
            return Err(self.image_error(format!(
                "index.json lists {} images for {platform}: name one",
                candidates.len()
            )));
        }
        let desc = candidates[0].clone();
        let media_type = desc.media_type().to_string();
        if INDEX_TYPES.contains(&media_type.as_str()) {
            if depth + 1 >= MAX_INDEX_DEPTH {
                return Err(self.image_error("indexes nested too deep".to_owned()));
            }
            let digest = self.ingest_document(&desc, counts)?;
            let nested: ImageIndex = parse(
                &self.store.read_blob(&digest, MAX_DOCUMENT)?,
                &format!("index {digest}"),
            )?;
            return self.pick(&nested, platform, reference, depth + 1, counts);
        }
        if !MANIFEST_TYPES.contains(&media_type.as_str()) {
            return Err(self.image_error(format!(
                "{} has media type {media_type:?}, not an image manifest",
                desc.digest()
            )));
        }
        Ok(desc)
    }

    /// As `ingest`, for a document (index, manifest, config): refused by its descriptor's
    /// size before a byte is read if it is larger than any document should be.
    fn ingest_document(&self, desc: &Descriptor, counts: &mut Counts) -> Result<Sha256> {
        if desc.size() > MAX_DOCUMENT {
            return Err(Error::Blob {
                digest: desc.digest().to_string(),
                reason: format!(
                    "its descriptor says {} bytes, more than the {MAX_DOCUMENT} a document may have",
                    desc.size()
                ),
            });
        }
        self.ingest(desc, counts)
    }

    /// Stores the blob a descriptor names, read from the layout and verified on the way.
    fn ingest(&self, desc: &Descriptor, counts: &mut Counts) -> Result<Sha256> {
        let name = desc.digest().to_string();
        let digest = Sha256::parse(&name).map_err(|reason| Error::Blob {
            digest: name.clone(),
            reason,
        })?;
        if self.store.has_blob(&digest) {
            counts.blobs_present += 1;
            return Ok(digest);
        }
        let path = self.dir.join("blobs/sha256").join(digest.hex());
        // Not through a symlink, and not a fifo or device that would never end.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| Error::Blob {
                digest: name.clone(),
                reason: format!("missing from the image ({}): {e}", path.display()),
            })?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(Error::Blob {
                digest: name,
                reason: format!("{} is not a regular file", path.display()),
            });
        }
        self.store.ingest(file, &digest, desc.size())?;
        counts.blobs_stored += 1;
        Ok(digest)
    }

    fn image_error(&self, reason: String) -> Error {
        Error::Image {
            path: self.dir.to_owned(),
            reason,
        }
    }
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    crate::read_at_most(path, MAX_DOCUMENT)
        .map_err(|e| Error::io("read", path, e))?
        .ok_or_else(|| Error::Document {
            path: path.display().to_string(),
            reason: format!("larger than {MAX_DOCUMENT} bytes"),
        })
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Document {
        path: what.to_owned(),
        reason: e.to_string(),
    })
}
