use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use nix::sys::signal::{Signal, kill};

use crate::config::Bundle;
use crate::error::{Error, Result};
use crate::hooks::{ExecFifo, LateHooks};
use crate::{Runtime, fsutil, hooks, seccomp_cache, validate_id};

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

impl Runtime {
    /// Creates a container from a bundle and leaves its process waiting for `start`.
    ///
    /// On failure nothing stays behind: no state directory, no cgroup, no process.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<Container> {
        validate_id(id)?;
        if self.container_dir(id).exists() {
            return Err(Error::Exists(id.to_owned()));
        }
        let bundle = Bundle::load(&opts.bundle)?;
        // Private to root, as runc's: state names every container's bundle and pid.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|e| Error::io("create state root", &self.root, e))?;

        let seccomp_program =
            seccomp_cache::program(&self.root, &bundle.config_path(), &bundle.spec)?;
        let exec_fifo = if hooks::wants_exec_fifo(&bundle.spec) {
            Some(ExecFifo::new(&self.root, id)?)
        } else {
            None
        };
        let built = ContainerBuilder::new(id.to_owned(), SyscallType::default())
            .with_executor(DefaultExecutor {})
            .with_root_path(&self.root)
            .map(|b| {
                b.with_console_socket(opts.console_socket.as_ref())
                    .with_preserved_fds(opts.preserve_fds)
                    .with_seccomp_program(seccomp_program)
                    .as_init(&bundle.dir)
                    .with_systemd(false)
                    .with_detach(!opts.foreground)
                    .with_no_pivot(opts.no_pivot)
            })
            .and_then(|b| b.build());
        let container = match built {
            Ok(c) => c,
            // Another create of the same id won the race: its directory is not ours to remove.
            Err(LibcontainerError::Exist) => {
                if let Some(fifo) = exec_fifo {
                    fifo.discard();
                }
                return Err(Error::Exists(id.to_owned()));
            }
            Err(e) => {
                if let Some(fifo) = exec_fifo {
                    fifo.discard();
                }
                self.discard(id, &bundle);
                return Err(Error::container("create", id, e));
            }
        };
        if let Err(e) = self.finish_create(&container, exec_fifo, opts) {
            self.discard(id, &bundle);
            return Err(e);
        }
        Ok(container)
    }

    /// davit's own steps once libcontainer has made the container.
    fn finish_create(
        &self,
        container: &Container,
        exec_fifo: Option<ExecFifo>,
        opts: &CreateOptions,
    ) -> Result<()> {
        let dir = self.container_dir(container.id());
        if let Some(fifo) = exec_fifo {
            fifo.install(&dir)?;
        }
        LateHooks::take_over(&dir)?;
        if let Some(pid_file) = &opts.pid_file {
            let pid = container
                .pid()
                .ok_or_else(|| Error::Internal("container has no pid after create".into()))?;
            write_pid_file(pid_file, pid)?;
        }
        Ok(())
    }

    /// Undoes a failed create. libcontainer cleans up after failures inside its own process
    /// setup, but not after those between making the state directory and forking, nor after
    /// davit's own later steps.
    fn discard(&self, id: &str, bundle: &Bundle) {
        let dir = self.container_dir(id);
        if let Ok(c) = Container::load(dir.clone())
            && let Some(pid) = c.pid()
        {
            let _ = kill(pid, Signal::SIGKILL);
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
        let _ = fs::remove_dir_all(dir);
    }
}

pub(crate) fn write_pid_file(path: &Path, pid: nix::unistd::Pid) -> Result<()> {
    fsutil::write_atomic(path, pid.to_string().as_bytes())
        .map_err(|e| Error::io("write pid file", path, e))
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::Create) -> Result<i32> {
    // libcontainer never makes a session keyring, which is what --no-new-keyring asks for.
    let _ = args.no_new_keyring;
    let opts = CreateOptions {
        bundle: args.bundle,
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        no_pivot: args.no_pivot,
        preserve_fds: args.preserve_fds,
        foreground: false,
    };
    rt.create(&args.container_id, &opts)?;
    Ok(0)
}
