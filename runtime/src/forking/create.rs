use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::{Signal, kill};

use super::Forking;
use crate::config::Bundle;
use crate::dir::{ContainerDir, NewDir};
use crate::error::{Error, Result};
use crate::hooks::{ExecFifo, LateHooks};
use crate::process::ProcessId;
use crate::{fsutil, hooks, seccomp_cache, validate_id};

/// How to create a container: runc's `create` flags.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// `run` in the foreground keeps the container attached to the caller's stdio.
    pub foreground: bool,
}

impl Forking {
    /// Creates a container from a bundle and leaves its process waiting for `start`.
    ///
    /// The id is claimed atomically and held, locked, for the whole create: of several
    /// concurrent creates of one id exactly one proceeds, and readers see it `creating`. On
    /// failure nothing stays behind: no state directory, no cgroup, no process.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<ProcessId> {
        validate_id(id)?;
        self.create_from(id, opts, &Bundle::load(&opts.bundle)?)
    }

    /// [`Forking::create`] with the bundle already read (`run` looks into it first).
    pub(super) fn create_from(
        &self,
        id: &str,
        opts: &CreateOptions,
        bundle: &Bundle,
    ) -> Result<ProcessId> {
        let root = self.rt.root();
        // Private to root, as runc's: state names every container's bundle and pid.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| Error::io("create state root", root, e))?;
        let seccomp_program = seccomp_cache::program(root, &bundle.config_path(), &bundle.spec)?;

        let mut exec_fifo = None;
        let claimed = NewDir::claim(root, id, |dir| {
            if hooks::wants_exec_fifo(&bundle.spec) {
                exec_fifo = Some(ExecFifo::new(dir)?);
            }
            Ok(())
        })?;
        let built = ContainerBuilder::new(id.to_owned(), SyscallType::default())
            .with_executor(super::executor::ContainerExecutor)
            .with_root_path(root)
            .map(|b| {
                b.with_console_socket(opts.console_socket.as_ref())
                    .with_preserved_fds(opts.preserve_fds)
                    .with_seccomp_program(seccomp_program)
                    .as_init(&bundle.dir)
                    .with_prepared_dir(true)
                    .with_systemd(false)
                    .with_detach(!opts.foreground)
                    .with_no_pivot(opts.no_pivot)
            })
            .and_then(|b| b.build());
        // The init holds its own copy now; ours must go so that it is the last writer.
        drop(exec_fifo);
        let result = built
            .map_err(|e| Error::container("create", id, e))
            .and_then(|c| {
                c.pid()
                    .ok_or_else(|| Error::Internal("container has no pid after create".into()))
            })
            .and_then(|pid| finish(&claimed.dir, pid, opts));
        match result {
            Ok(init) => {
                drop(claimed.lock);
                Ok(init)
            }
            Err(e) => {
                discard(&claimed.dir, bundle, id);
                Err(e)
            }
        }
    }
}

/// davit's own steps once libcontainer has made the container.
fn finish(dir: &ContainerDir, pid: nix::unistd::Pid, opts: &CreateOptions) -> Result<ProcessId> {
    let init = ProcessId::of(pid.as_raw()).ok_or_else(|| {
        Error::Internal(format!(
            "the container's init (pid {pid}) exited before create finished"
        ))
    })?;
    dir.record_init(init)?;
    LateHooks::take_over(&dir.path)?;
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    Ok(init)
}

/// Undoes a failed create. libcontainer cleans up after failures inside its own process
/// setup, but not after those between making the state directory and forking, nor after
/// davit's own later steps.
fn discard(dir: &ContainerDir, bundle: &Bundle, id: &str) {
    if let Ok(state) = libcontainer::container::State::load(&dir.path)
        && let Some(pid) = state.pid
    {
        // Our own grandchild, made moments ago and waiting for `start`: not a reused pid.
        let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
    let config = libcgroups::common::CgroupConfig {
        cgroup_path: bundle.cgroups_path(id),
        systemd_cgroup: false,
        container_name: id.to_owned(),
    };
    if let Ok(manager) = libcgroups::common::create_cgroup_manager(config) {
        use libcgroups::common::CgroupManager;
        let _ = manager.remove();
    }
    let _ = fs::remove_dir_all(&dir.path);
}

pub(crate) fn write_pid_file(path: &Path, pid: nix::unistd::Pid) -> Result<()> {
    fsutil::replace(path, pid.to_string().as_bytes())
        .map_err(|e| Error::io("write pid file", path, e))
}
