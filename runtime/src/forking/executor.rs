//! What the container's init does last: libcontainer's default executor, after putting
//! SIGPIPE back to its default.
//!
//! Rust starts every program with SIGPIPE ignored, and an ignored signal stays ignored across
//! exec: without this, every container process would inherit davit's (a `yes | head` in the
//! container would never end). davit itself keeps ignoring it, so that a hook that exits
//! without reading its state is a failed hook, not a dead runtime.

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::libc;

#[derive(Clone)]
pub(crate) struct ContainerExecutor;

impl Executor for ContainerExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        // SAFETY: the container's init is single-threaded, and it is about to exec.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}
