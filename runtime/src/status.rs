use std::fmt;

/// Where a container is in its lifecycle, as the OCI state reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// A `create` is still under way (it holds the container's lock).
    Creating,
    /// The init waits for `start`.
    Created,
    Running,
    /// Frozen through the cgroup freezer.
    Paused,
    /// The init has exited (or a create died before it finished).
    Stopped,
}

impl Status {
    /// The lower-case word of the OCI state JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
