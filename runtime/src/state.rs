use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::{ContainerStatus, Runtime, status_word};

/// The OCI runtime-spec state of a container, plus runc's `created` and `owner`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    #[serde(serialize_with = "status_as_word")]
    pub status: ContainerStatus,
    /// 0 once the container has stopped, as runc reports it.
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

fn status_as_word<S: serde::Serializer>(s: &ContainerStatus, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(status_word(*s))
}

impl Runtime {
    /// The container's state, with its status checked against the live process.
    pub fn state(&self, id: &str) -> Result<ContainerState> {
        let (c, _lock) = self.load(id)?;
        let status = c.status();
        let pid = match status {
            ContainerStatus::Stopped => 0,
            _ => c.pid().map(|p| p.as_raw()).unwrap_or(0),
        };
        Ok(ContainerState {
            oci_version: c.state.oci_version.clone(),
            id: c.id().to_owned(),
            status,
            pid,
            bundle: c.bundle().clone(),
            annotations: c.state.annotations.clone().unwrap_or_default(),
            created: c
                .created()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            owner: c.creator().map(|o| o.to_string_lossy().into_owned()),
        })
    }
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::Json(e.to_string()))
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::State) -> Result<i32> {
    println!("{}", to_json(&rt.state(&args.container_id)?)?);
    Ok(0)
}
