//! Commands that fork into a container: create, start, run, exec. Each runs in this
//! short-lived, single-threaded process and, for a daemon that spawned it, writes a
//! [`Report`] to `DAVIT_REPORT_FD`.

use runtime::forking::{
    CreateOptions, ExecOptions, Forking, REPORT_FD_ENV, Report, close_inherited_fds, selfexe,
};
use runtime::{Error, Result, Runtime};

use super::log::Log;

fn forking(rt: Runtime) -> Forking {
    // SAFETY: the davit command line has one thread: nothing before this point starts one.
    unsafe { Forking::new(rt) }
}

/// Readies this process to fork into a container: re-executes it from a read-only view of
/// its binary (CVE-2019-5736), then closes every descriptor the caller left open, but for
/// stdio, the `preserve` descriptors after them, the log and the report descriptor.
fn enter_containers(log: &Log, preserve: i32) -> Result<()> {
    selfexe::run_from_read_only_binary()?;
    let mut keep = log.fds().to_vec();
    if let Some(fd) = std::env::var(REPORT_FD_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        keep.push(fd);
    }
    close_inherited_fds(3 + preserve.max(0) + socket_activation_fds(), &keep)
        .map_err(|e| Error::io("close inherited descriptors", "/proc/self/fd", e))
}

/// Socket activation, as systemd does it: the LISTEN_FDS descriptors from 3 up are kept, and
/// libcontainer hands them on (with LISTEN_FDS, and LISTEN_PID=1) as runc does. Variables
/// meant for another process (LISTEN_PID not ours) are dropped, or the container would be
/// told of descriptors it does not have, or get whatever davit opened there.
fn socket_activation_fds() -> i32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .filter(|n| *n > 0);
    match count {
        Some(n) if ours => n,
        _ => {
            for var in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
                // SAFETY: the command line runs one thread (see `Forking::new`): nothing
                // reads the environment concurrently.
                unsafe { std::env::remove_var(var) };
            }
            0
        }
    }
}

/// Sends the report of `result` and hands it on.
fn reported<T>(result: Result<T>, ok: impl FnOnce(&T) -> Report) -> Result<T> {
    match &result {
        Ok(v) => ok(v).send(),
        Err(e) => Report::failure(e).send(),
    }
    result
}

/// runc's create flags, shared by `create` and `run`.
fn create_options(
    bundle: std::path::PathBuf,
    pid_file: Option<std::path::PathBuf>,
    console_socket: Option<std::path::PathBuf>,
    no_pivot: bool,
    preserve_fds: i32,
) -> CreateOptions {
    CreateOptions {
        bundle,
        pid_file,
        console_socket,
        no_pivot,
        preserve_fds,
        foreground: false,
    }
}

pub(super) fn create(rt: Runtime, a: liboci_cli::Create, log: &Log) -> Result<i32> {
    // libcontainer never makes a session keyring, which is what --no-new-keyring asks for.
    let _ = a.no_new_keyring;
    let opts = create_options(
        a.bundle,
        a.pid_file,
        a.console_socket,
        a.no_pivot,
        a.preserve_fds,
    );
    let result = enter_containers(log, a.preserve_fds)
        .and_then(|()| forking(rt).create(&a.container_id, &opts));
    reported(result, |init| Report::Ok {
        process: Some(*init),
        exit_code: None,
    })?;
    Ok(0)
}

pub(super) fn start(rt: Runtime, a: liboci_cli::Start) -> Result<i32> {
    reported(forking(rt).start(&a.container_id), |()| Report::Ok {
        process: None,
        exit_code: None,
    })?;
    Ok(0)
}

pub(super) fn run(rt: Runtime, a: liboci_cli::Run, log: &Log) -> Result<i32> {
    let _ = a.no_new_keyring;
    if a.no_subreaper && !a.detach {
        return Err(Error::Unsupported(
            "run --no-subreaper in the foreground (davit learns the container's exit code as \
             its subreaper; run detached instead)"
                .into(),
        ));
    }
    // Forking::run decides foreground from `detach`.
    let opts = create_options(
        a.bundle,
        a.pid_file,
        a.console_socket,
        a.no_pivot,
        a.preserve_fds,
    );
    let result = enter_containers(log, a.preserve_fds)
        .and_then(|()| forking(rt).run(&a.container_id, &opts, a.detach, a.keep));
    let (_, code) = reported(result, |(init, code)| Report::Ok {
        process: Some(*init),
        exit_code: (!a.detach).then_some(*code),
    })?;
    Ok(code)
}

pub(super) fn exec(rt: Runtime, a: liboci_cli::Exec, log: &Log) -> Result<i32> {
    if a.tty && a.process.is_none() {
        return Err(Error::Unsupported(
            "exec -t without --process (put \"terminal\": true in a process.json)".into(),
        ));
    }
    for (flag, given) in [
        ("--apparmor", a.apparmor.is_some()),
        ("--process-label", a.process_label.is_some()),
        ("--cgroup", a.cgroup.is_some()),
    ] {
        if given {
            return Err(Error::Unsupported(format!("exec {flag}")));
        }
    }
    let opts = ExecOptions {
        process: a.process,
        args: a.command,
        env: a.env.into_iter().collect(),
        cwd: a.cwd,
        user: a.user,
        additional_gids: a.additional_gids,
        capabilities: a.cap,
        no_new_privs: a.no_new_privs,
        console_socket: a.console_socket,
        pid_file: a.pid_file,
        preserve_fds: a.preserve_fds,
        detach: a.detach,
        ignore_paused: a.ignore_paused,
    };
    let result = enter_containers(log, a.preserve_fds)
        .and_then(|()| forking(rt).exec(&a.container_id, opts));
    let (_, code) = reported(result, |(process, code)| Report::Ok {
        process: Some(*process),
        exit_code: *code,
    })?;
    Ok(code.unwrap_or(0))
}
