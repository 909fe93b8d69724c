//! The runc command tree (liboci-cli's clap definitions), ready to flatten into davit's own.

use std::path::PathBuf;

use clap::Subcommand;
use liboci_cli::{CommonCmd, GlobalOpts, StandardCmd};

use crate::error::{Error, Result};
use crate::{
    DEFAULT_ROOT, Runtime, create, delete, exec, features, freezer, kill, list, ps, run, selfexe,
    spec, start, state,
};

#[derive(Subcommand, Debug)]
pub enum Command {
    #[command(flatten)]
    Standard(Box<StandardCmd>),
    #[command(flatten)]
    Common(Box<CommonCmd>),
}

/// Runs one runtime command; `Ok` carries the process exit code (a container's, for `run`
/// and `exec`).
pub fn dispatch(global: &GlobalOpts, command: Command) -> Result<i32> {
    if global.systemd_cgroup {
        return Err(Error::Usage {
            what: "--systemd-cgroup".into(),
            reason: "davit has no systemd cgroup driver (it writes cgroupfs directly, as boards \
                     run no systemd); leave the flag out"
                .into(),
        });
    }
    let rt = Runtime::new(
        global
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
    );
    if forks_into_a_container(&command) {
        selfexe::run_from_read_only_binary()?;
    } else if let Some(mode) = self_seccomp()? {
        // What the supervisor does in-process runs here under davit's own filter, as it will
        // in the daemon.
        seccomp_profiles::confine_self(mode)?;
    }
    match command {
        Command::Standard(cmd) => match *cmd {
            StandardCmd::Create(a) => create::command(&rt, a),
            StandardCmd::Start(a) => start::command(&rt, a),
            StandardCmd::State(a) => state::command(&rt, a),
            StandardCmd::Kill(a) => kill::command(&rt, a),
            StandardCmd::Delete(a) => delete::command(&rt, a),
        },
        Command::Common(cmd) => match *cmd {
            CommonCmd::Run(a) => run::command(&rt, a),
            CommonCmd::Exec(a) => exec::command(&rt, a),
            CommonCmd::Pause(a) => freezer::pause_command(&rt, a),
            CommonCmd::Resume(a) => freezer::resume_command(&rt, a),
            CommonCmd::Ps(a) => ps::command(&rt, a),
            CommonCmd::List(a) => list::command(&rt, a),
            CommonCmd::Spec(a) => spec::command(&rt, a),
            CommonCmd::Features(a) => features::command(&rt, a),
            CommonCmd::Checkpointt(_) => Err(Error::Unsupported("checkpoint".into())),
            CommonCmd::Events(_) => Err(Error::Unsupported("events".into())),
            CommonCmd::Update(_) => Err(Error::Unsupported("update".into())),
        },
    }
}

/// Commands whose processes enter a container before they execute its program.
fn forks_into_a_container(command: &Command) -> bool {
    match command {
        Command::Standard(cmd) => matches!(**cmd, StandardCmd::Create(_)),
        Command::Common(cmd) => matches!(**cmd, CommonCmd::Run(_) | CommonCmd::Exec(_)),
    }
}

/// `DAVIT_SELF_SECCOMP=enforce|log`: confine commands that do not enter a container to
/// davit's own seccomp profile (the daemon's), to test it or to profile a deployment.
fn self_seccomp() -> Result<Option<seccomp_profiles::Mode>> {
    match std::env::var("DAVIT_SELF_SECCOMP") {
        Ok(v) => v.parse().map(Some).map_err(|reason| Error::Usage {
            what: "DAVIT_SELF_SECCOMP".into(),
            reason,
        }),
        Err(_) => Ok(None),
    }
}
