use std::collections::HashMap;
use std::path::PathBuf;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;

use crate::error::{Error, Result};
use crate::{ContainerStatus, Runtime, create, run, seccomp_cache};

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

impl Runtime {
    /// Starts a process in the container. Detached, returns 0 once it runs; otherwise waits
    /// and returns its exit code (128+signal when killed, as a shell reports it).
    pub fn exec(&self, id: &str, opts: ExecOptions) -> Result<i32> {
        let (container, lock) = self.load(id)?;
        let ok = match container.status() {
            ContainerStatus::Running => true,
            ContainerStatus::Paused => opts.ignore_paused,
            _ => false,
        };
        if !ok {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                status: container.status(),
                action: "exec",
                needed: "running",
            });
        }
        if opts.process.is_none() && opts.args.is_empty() {
            return Err(Error::Usage {
                what: "exec".into(),
                reason: "give a command to run, or --process".into(),
            });
        }
        if let Some(p) = &opts.process
            && !p.is_file()
        {
            return Err(Error::Usage {
                what: format!("--process {}", p.display()),
                reason: "no such file".into(),
            });
        }
        // The exec'd process is libcontainer's grandchild: only as its subreaper can we wait.
        if !opts.detach {
            run::become_subreaper()?;
        }
        // The exec'd process gets the container's profile, which libcontainer reads from the
        // bundle again. A config that cannot be read here is left for libcontainer to report.
        let config = container.bundle().join("config.json");
        let seccomp_program = match Spec::load(&config) {
            Ok(spec) => seccomp_cache::program(&self.root, &config, &spec)?,
            Err(_) => None,
        };
        let pid = ContainerBuilder::new(id.to_owned(), SyscallType::default())
            .with_executor(DefaultExecutor {})
            .with_root_path(&self.root)
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
        // Held only until the process exists: a foreground exec must not block kill or delete.
        drop(lock);
        if let Some(path) = &opts.pid_file {
            create::write_pid_file(path, pid)?;
        }
        if opts.detach {
            return Ok(0);
        }
        // The process was forked with the caller's signal mask; only now can davit block.
        run::SignalsBlocked::new()?.wait_forwarding(pid)
    }
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::Exec) -> Result<i32> {
    if args.tty && args.process.is_none() {
        return Err(Error::Unsupported(
            "exec -t without --process (put \"terminal\": true in a process.json)".into(),
        ));
    }
    for (flag, given) in [
        ("--apparmor", args.apparmor.is_some()),
        ("--process-label", args.process_label.is_some()),
        ("--cgroup", args.cgroup.is_some()),
    ] {
        if given {
            return Err(Error::Unsupported(format!("exec {flag}")));
        }
    }
    let opts = ExecOptions {
        process: args.process,
        args: args.command,
        env: args.env.into_iter().collect(),
        cwd: args.cwd,
        user: args.user,
        additional_gids: args.additional_gids,
        capabilities: args.cap,
        no_new_privs: args.no_new_privs,
        console_socket: args.console_socket,
        pid_file: args.pid_file,
        preserve_fds: args.preserve_fds,
        detach: args.detach,
        ignore_paused: args.ignore_paused,
    };
    rt.exec(&args.container_id, opts)
}
