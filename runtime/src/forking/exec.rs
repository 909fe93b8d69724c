use std::collections::HashMap;
use std::path::PathBuf;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;

use super::{Forking, create, run};
use crate::error::{Error, Result};
use crate::process::ProcessId;
use crate::{Status, seccomp_cache};

/// A process to start inside a running container: runc's `exec` flags.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// A runtime-spec `process` JSON file; when set, `args`, `env` and `cwd` are not used.
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: HashMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub capabilities: Vec<String>,
    pub no_new_privs: bool,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
    pub detach: bool,
    pub ignore_paused: bool,
}

impl Forking {
    /// Starts a process in the container. Detached, returns once it runs; otherwise waits
    /// and returns its exit code too (128+signal when killed, as a shell reports it).
    ///
    /// Takes no lock: an exec changes no state, and its process (a clone of this one that
    /// may sit in a frozen cgroup until `resume`) must not keep others from the container.
    pub fn exec(&self, id: &str, opts: ExecOptions) -> Result<(ProcessId, Option<i32>)> {
        let dir = self.rt.dir(id)?;
        let snap = dir.snapshot()?;
        let ok = match snap.status {
            Status::Running => true,
            Status::Paused => opts.ignore_paused,
            _ => false,
        };
        if !ok {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                status: snap.status,
                action: "exec",
                needed: "running",
            });
        }
        let state = snap.state.ok_or_else(|| Error::NotFound(id.to_owned()))?;
        if opts.process.is_none() && opts.args.is_empty() {
            return Err(Error::Usage {
                what: "exec".into(),
                reason: "no command to run and no process file".into(),
            });
        }
        if let Some(p) = &opts.process
            && !p.is_file()
        {
            return Err(Error::Usage {
                what: format!("process file {}", p.display()),
                reason: "no such file".into(),
            });
        }
        // The exec'd process is libcontainer's grandchild: only as its subreaper can we wait.
        if !opts.detach {
            run::become_subreaper()?;
        }
        // The exec'd process gets the container's profile, which libcontainer reads from the
        // bundle again. A config that cannot be read here is left for libcontainer to report.
        let config = state.bundle.join("config.json");
        let seccomp_program = match Spec::load(&config) {
            Ok(spec) => seccomp_cache::program(self.rt.root(), &config, &spec)?,
            Err(_) => None,
        };
        let pid = ContainerBuilder::new(id.to_owned(), SyscallType::default())
            .with_executor(super::executor::ContainerExecutor)
            .with_root_path(self.rt.root())
            .map(|b| {
                b.with_console_socket(opts.console_socket.as_ref())
                    .with_preserved_fds(opts.preserve_fds)
                    .with_seccomp_program(seccomp_program)
                    .as_tenant()
                    .with_detach(opts.detach)
                    .with_cwd(opts.cwd.as_ref())
                    .with_env(opts.env.clone())
                    .with_process(opts.process.as_ref())
                    .with_no_new_privs(opts.no_new_privs)
                    .with_container_args(opts.args.clone())
                    .with_additional_gids(opts.additional_gids.clone())
                    .with_user(opts.user.map(|(u, _)| u))
                    .with_group(opts.user.and_then(|(_, g)| g))
                    .with_capabilities(opts.capabilities.clone())
                    .with_ignore_paused(opts.ignore_paused)
            })
            .and_then(|b| b.build())
            .map_err(|e| Error::container("exec in", id, e))?;
        let process = ProcessId::of(pid.as_raw()).unwrap_or(ProcessId {
            pid: pid.as_raw(),
            start_time: 0,
        });
        if let Some(path) = &opts.pid_file {
            create::write_pid_file(path, pid)?;
        }
        if opts.detach {
            return Ok((process, None));
        }
        // The process was forked with the caller's signal mask; only now can davit block.
        let code = run::SignalsBlocked::new()?.wait_forwarding(pid)?;
        Ok((process, Some(code)))
    }
}
