//! The runc command line: liboci-cli's argument structs under davit's own command names,
//! each handed to the runtime library.

#[cfg(feature = "supervisor")]
mod app;
mod control;
mod inspect;
mod launch;
pub mod log;
pub mod nss;
#[cfg(feature = "update")]
mod release;
#[cfg(feature = "update")]
mod store;
#[cfg(feature = "supervisor")]
mod supervise;

use std::path::PathBuf;

use clap::Subcommand;
use liboci_cli::GlobalOpts;
use runtime::{DEFAULT_ROOT, Error, Result, Runtime};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container
    Create(liboci_cli::Create),
    /// Start a previously created container
    Start(liboci_cli::Start),
    /// Show the container state
    State(liboci_cli::State),
    /// Send the specified signal to the container
    Kill(liboci_cli::Kill),
    /// Release any resources held by the container
    Delete(liboci_cli::Delete),
    /// Create a container and immediately start it
    Run(liboci_cli::Run),
    /// Execute a process within an existing container
    Exec(liboci_cli::Exec),
    /// Suspend the processes within the container
    Pause(liboci_cli::Pause),
    /// Resume the processes within the container
    Resume(liboci_cli::Resume),
    /// Display the processes inside the container
    Ps(liboci_cli::Ps),
    /// List created containers
    List(liboci_cli::List),
    /// Create a new specification file
    Spec(liboci_cli::Spec),
    /// Show the enabled features
    Features(liboci_cli::Features),
    /// Checkpoint a running container (not supported)
    Checkpoint(liboci_cli::Checkpoint),
    /// Show resource statistics for the container (not supported)
    Events(liboci_cli::Events),
    /// Update container resource constraints (not supported)
    Update(liboci_cli::Update),
    /// Run the supervisor daemon: start, watch and restart the apps of a config directory
    #[cfg(feature = "supervisor")]
    Supervise(supervise::Supervise),
    /// Talk to the supervisor: list, status, start, stop, logs ... of apps
    #[cfg(feature = "supervisor")]
    App(app::App),
    /// The update engine's store of images and layers
    #[cfg(feature = "update")]
    Store(store::StoreArgs),
    /// Install a release of apps, see where they stand, roll back
    #[cfg(feature = "update")]
    Release(release::ReleaseArgs),
    /// Back to the factory release, from the store (no network); apps' data emptied unless
    /// --keep-data
    #[cfg(feature = "update")]
    Reset(release::ResetArgs),
}

/// Runs one runtime command; `Ok` carries the process exit code (a container's, for `run`
/// and `exec`).
pub fn dispatch(global: &GlobalOpts, command: Command, log: &log::Log) -> Result<i32> {
    if global.systemd_cgroup {
        return Err(Error::Usage {
            what: "--systemd-cgroup".into(),
            reason: "davit has no systemd cgroup driver (it writes cgroupfs directly, as boards \
                     run no systemd); leave the flag out"
                .into(),
        });
    }
    let root = global
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
    if only_prints(&command) {
        die_on_closed_stdout();
    }
    // The supervisor and its client report their own errors: they are not the runtime's.
    let command = match command {
        #[cfg(feature = "supervisor")]
        Command::Supervise(a) => return Ok(supervise::supervise(root, a)),
        #[cfg(feature = "supervisor")]
        Command::App(a) => return Ok(app::app(a)),
        #[cfg(feature = "update")]
        Command::Store(a) => return Ok(store::store(a)),
        #[cfg(feature = "update")]
        Command::Release(a) => return Ok(release::release(a)),
        #[cfg(feature = "update")]
        Command::Reset(a) => return Ok(release::reset(a)),
        other => other,
    };
    let rt = Runtime::new(root);
    let enters_a_container = matches!(
        command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    );
    if !enters_a_container && let Some(mode) = self_seccomp()? {
        // What the supervisor does in-process runs here under davit's own filter, as it will
        // in the daemon.
        seccomp_profiles::confine_self(mode)?;
    }
    match command {
        Command::Create(a) => launch::create(rt, a, log),
        Command::Start(a) => launch::start(rt, a),
        Command::Run(a) => launch::run(rt, a, log),
        Command::Exec(a) => launch::exec(rt, a, log),
        Command::State(a) => inspect::state(&rt, a),
        Command::List(a) => inspect::list(&rt, a),
        Command::Ps(a) => inspect::ps(&rt, a),
        Command::Spec(a) => inspect::spec(a),
        Command::Features(_) => inspect::features(),
        Command::Kill(a) => control::kill(&rt, a),
        Command::Delete(a) => control::delete(&rt, a),
        Command::Pause(a) => control::pause(&rt, a),
        Command::Resume(a) => control::resume(&rt, a),
        Command::Checkpoint(_) => Err(Error::Unsupported("checkpoint".into())),
        Command::Events(_) => Err(Error::Unsupported("events".into())),
        Command::Update(_) => Err(Error::Unsupported("update".into())),
        #[cfg(feature = "supervisor")]
        Command::Supervise(_) | Command::App(_) => unreachable!("dispatched above"),
        #[cfg(feature = "update")]
        Command::Store(_) | Command::Release(_) | Command::Reset(_) => {
            unreachable!("dispatched above")
        }
    }
}

/// Commands that change nothing, whose output is often cut short (`davit list | head`,
/// `davit app logs -f | grep -m1 ready`).
fn only_prints(command: &Command) -> bool {
    match command {
        Command::State(_) | Command::List(_) | Command::Ps(_) | Command::Features(_) => true,
        #[cfg(feature = "supervisor")]
        Command::App(_) => true,
        #[cfg(feature = "update")]
        Command::Store(_) => true,
        _ => false,
    }
}

/// A command that only prints ends quietly when its reader goes away, as runc and coreutils
/// do: Rust starts every program with SIGPIPE ignored, and `println!` then panics on the
/// broken pipe. The rest keep ignoring it: a hook that exits without reading its state is a
/// failed hook, not a dead runtime, and an install must not stop half-way for its reader.
pub(crate) fn die_on_closed_stdout() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: SIG_DFL installs no handler, so no code of ours can run in signal context;
    // the D-Bus client's socket writes pass MSG_NOSIGNAL, so only stdout can raise it.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
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

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::Json(e.to_string()))
}
