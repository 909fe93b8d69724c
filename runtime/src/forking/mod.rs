//! The operations that fork into a container: create, start, run, exec.
//!
//! libcontainer makes a container's processes with a raw clone3 (no fork handlers run, so a
//! lock another thread held stays held forever in the child) and changes the working
//! directory of the whole process while it does. Both are unsound in a process with more
//! than one thread, so [`Forking`] can only be had by promising a single-threaded process:
//! the `davit` command line, which a daemon runs as a short-lived child for each of them and
//! which tells that daemon what came of it in a [`Report`].

mod create;
mod exec;
mod executor;
mod fds;
mod report;
mod run;
pub mod selfexe;
mod start;
mod terminal;

pub use create::CreateOptions;
pub use exec::ExecOptions;
pub use fds::close_inherited_fds;
pub use report::{REPORT_FD_ENV, Report};

use crate::Runtime;

/// A [`Runtime`] that may also fork into containers.
pub struct Forking {
    rt: Runtime,
}

impl Forking {
    /// # Safety
    ///
    /// The process must have one thread, and keep to one while this value is used: see the
    /// module documentation. Its working directory may change during any call.
    pub unsafe fn new(rt: Runtime) -> Forking {
        Forking { rt }
    }

    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }
}
