use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::process::{ProcessId, user_name};
use crate::{Runtime, Status};

/// The OCI runtime-spec state of a container, plus runc's `created` and `owner`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    /// The init, while it lives (`None` once stopped, and while creating). The JSON says 0
    /// then, as runc's does.
    #[serde(serialize_with = "pid_or_zero")]
    pub pid: Option<ProcessId>,
    pub bundle: PathBuf,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

fn pid_or_zero<S: serde::Serializer>(p: &Option<ProcessId>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i32(p.map_or(0, |p| p.pid))
}

impl Runtime {
    /// The container's state, its status checked against the live process. Never waits for
    /// an operation under way on the container.
    pub fn state(&self, id: &str) -> Result<ContainerState> {
        let dir = self.dir(id)?;
        let snap = dir.snapshot()?;
        let Some(s) = snap.state else {
            return Ok(ContainerState {
                oci_version: crate::OCI_VERSION.to_owned(),
                id: id.to_owned(),
                status: snap.status,
                pid: None,
                bundle: PathBuf::new(),
                annotations: HashMap::new(),
                created: None,
                owner: None,
            });
        };
        Ok(ContainerState {
            oci_version: s.oci_version.clone(),
            id: id.to_owned(),
            status: snap.status,
            pid: snap.init,
            bundle: s.bundle.clone(),
            annotations: s.annotations.clone().unwrap_or_default(),
            created: s
                .created
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            owner: s
                .creator
                .map(|uid| user_name(uid).unwrap_or_else(|| uid.to_string())),
        })
    }
}
