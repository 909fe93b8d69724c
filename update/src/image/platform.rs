//! The board's platform in OCI terms (`linux/arm64`, `linux/arm/v7`, `linux/amd64`), to pick
//! an image from a multi-platform index and to refuse one built for another machine.

use std::fmt;
use std::path::Path;

use oci_spec::image::{ImageConfiguration, Platform as OciPlatform};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    /// `v7` for 32-bit ARM boards; None where the architecture has no variants that matter.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform davit was built for: the one its containers run on.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(Into::into),
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?;
        let architecture = parts.next().filter(|p| !p.is_empty())?;
        let variant = parts.next().map(str::to_owned);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant,
        })
    }

    pub(crate) fn matches(&self, p: &OciPlatform) -> bool {
        p.os().to_string() == self.os
            && p.architecture().to_string() == self.architecture
            && self.variant_matches(p.variant().as_deref())
    }

    fn variant_matches(&self, theirs: Option<&str>) -> bool {
        match (self.variant.as_deref(), theirs) {
            (_, None) => true,
            (Some(mine), Some(theirs)) => mine == theirs,
            // arm64 images are sometimes labelled v8: any variant is the one this board runs.
            (None, Some(_)) => self.architecture != "arm",
        }
    }

    pub(crate) fn describe(p: &OciPlatform) -> String {
        match p.variant() {
            Some(v) => format!("{}/{}/{v}", p.os(), p.architecture()),
            None => format!("{}/{}", p.os(), p.architecture()),
        }
    }

    /// Refuses an image whose config says it is for another machine.
    pub(crate) fn check_config(&self, config: &ImageConfiguration, dir: &Path) -> Result<()> {
        let os = config.os().to_string();
        let arch = config.architecture().to_string();
        let variant = config.variant().as_deref();
        if os == self.os && arch == self.architecture && self.variant_matches(variant) {
            return Ok(());
        }
        let theirs = match variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        };
        Err(Error::Image {
            path: dir.to_owned(),
            reason: format!("the image is built for {theirs}, this board runs {self}"),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.variant {
            Some(v) => write!(f, "{}/{}/{v}", self.os, self.architecture),
            None => write!(f, "{}/{}", self.os, self.architecture),
        }
    }
}
