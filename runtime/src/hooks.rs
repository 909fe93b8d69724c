//! Poststart and poststop hooks, which davit runs itself instead of leaving them to libcontainer.
//!
//! runtime-spec wants poststart hooks called *after* the user process is executed, and a
//! failing poststart or poststop hook logged as a warning while "the remaining hooks and
//! lifecycle continue". libcontainer 0.7 runs poststart hooks as soon as it has signalled the
//! container to start (racing the exec) and stops at the first hook that fails. So `create`
//! moves both lists out of libcontainer's saved config into `davit-hooks.json`, and `start`
//! and `delete` run them one by one.
//!
//! "After the exec" is observed, not guessed: when the bundle has poststart hooks, `create`
//! hands the container's init the write end of a FIFO with close-on-exec set. The read end
//! sees end-of-file exactly when the last writer is gone: when the init has executed the user
//! process (or died trying).

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use libcontainer::config::YoukiConfig;
use libcontainer::container::{Container, State};
use libcontainer::oci_spec::runtime::{Hook, Spec};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;

const HOOKS_FILE: &str = "davit-hooks.json";
const YOUKI_CONFIG_FILE: &str = "youki_config.json";
const EXEC_FIFO: &str = "exec.fifo";

/// The hooks davit runs after libcontainer is done: saved at create, read at start and delete.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct LateHooks {
    #[serde(default)]
    poststart: Vec<Hook>,
    #[serde(default)]
    poststop: Vec<Hook>,
}

impl LateHooks {
    /// Reads the hooks saved in a container's state directory (none if it has no file).
    pub(crate) fn load(dir: &Path) -> Result<LateHooks> {
        let path = dir.join(HOOKS_FILE);
        match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map_err(|e| Error::Json(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LateHooks::default()),
            Err(e) => Err(Error::io("read saved hooks", path, e)),
        }
    }

    /// Moves poststart and poststop hooks out of libcontainer's config in a freshly created
    /// container's state directory, so that only davit runs them.
    pub(crate) fn take_over(dir: &Path) -> Result<()> {
        let mut config = YoukiConfig::load(dir)
            .map_err(|e| Error::Internal(format!("read libcontainer's saved config: {e}")))?;
        let Some(hooks) = config.hooks.as_mut() else {
            return Ok(());
        };
        let late = LateHooks {
            poststart: hooks.poststart().clone().unwrap_or_default(),
            poststop: hooks.poststop().clone().unwrap_or_default(),
        };
        if late.poststart.is_empty() && late.poststop.is_empty() {
            return Ok(());
        }
        hooks.set_poststart(None).set_poststop(None);
        // Not YoukiConfig::save, which truncates and rewrites the file in place: a crash there
        // would leave no config at all. Ours first: a crash in between leaves hooks run twice
        // at worst, never lost.
        save_json(&dir.join(HOOKS_FILE), &late)?;
        save_json(&dir.join(YOUKI_CONFIG_FILE), &config)
    }

    pub(crate) fn has_poststart(&self) -> bool {
        !self.poststart.is_empty()
    }

    /// Runs poststart hooks with the state `start` left: status "running".
    pub(crate) fn poststart(&self, container: &Container) {
        run_each(
            "poststart",
            &self.poststart,
            container.id(),
            &container.state,
        );
    }

    /// Runs poststop hooks once the container is gone: status "stopped".
    pub(crate) fn poststop(&self, container: &Container) {
        let mut state = container.state.clone();
        state.status = libcontainer::container::ContainerStatus::Stopped;
        run_each("poststop", &self.poststop, container.id(), &state);
    }
}

/// Runs hooks in order; a failure is a warning and the next hook still runs.
fn run_each(kind: &str, hooks: &[Hook], id: &str, state: &State) {
    for hook in hooks {
        let one = vec![hook.clone()];
        if let Err(e) =
            libcontainer::hooks::run_hooks(Some(&one), Some(state), Some(&state.bundle), None, None)
        {
            tracing::warn!(
                id,
                hook = %hook.path().display(),
                "{kind} hook failed: {}",
                crate::one_line(&e)
            );
        }
    }
}

fn save_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let data =
        serde_json::to_vec(value).map_err(|e| Error::Json(format!("{}: {e}", path.display())))?;
    fsutil::replace(path, &data).map_err(|e| Error::io("save hooks", path, e))
}

/// Whether `spec` has poststart hooks, which need the exec FIFO.
pub(crate) fn wants_exec_fifo(spec: &Spec) -> bool {
    spec.hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref())
        .is_some_and(|p| !p.is_empty())
}

/// The write end of the exec FIFO, held by `create` while libcontainer forks the init, which
/// inherits it. Dropping it (after create) leaves the init as the only writer.
pub(crate) struct ExecFifo {
    _writer: File,
}

impl ExecFifo {
    /// Makes the FIFO in the container's (new) state directory and opens it without
    /// blocking for a reader.
    pub(crate) fn new(dir: &Path) -> Result<ExecFifo> {
        let path = dir.join(EXEC_FIFO);
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
            .map_err(|e| Error::sys(format!("mkfifo {}", path.display()), e))?;
        // O_RDWR never waits for the other end; O_CLOEXEC makes the exec close it.
        let writer = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(OFlag::O_CLOEXEC.bits())
            .open(&path)
            .map_err(|e| Error::io("open exec fifo", &path, e))?;
        Ok(ExecFifo { _writer: writer })
    }
}

/// The read end of a created container's exec FIFO, opened before `start` signals the init.
pub(crate) struct ExecWatch(File);

impl ExecWatch {
    /// `None` for a container created without the FIFO: there is nothing to wait for.
    pub(crate) fn open(dir: &Path) -> Result<Option<ExecWatch>> {
        let path = dir.join(EXEC_FIFO);
        // Non-blocking open: a FIFO's read end otherwise waits for a writer, and the init may
        // already be gone.
        match OpenOptions::new()
            .read(true)
            .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
            .open(&path)
        {
            Ok(f) => {
                fcntl(f.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty()))
                    .map_err(|e| Error::sys("make exec fifo blocking", e))?;
                Ok(Some(ExecWatch(f)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("open exec fifo", path, e)),
        }
    }

    /// Blocks until the container's init has executed the user process or died.
    pub(crate) fn wait(mut self) -> Result<()> {
        let mut byte = [0u8; 1];
        loop {
            match self.0.read(&mut byte) {
                Ok(0) => return Ok(()),
                // Nobody writes to it; a stray byte is no reason to stop waiting.
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("wait for the container's exec", "exec.fifo", e)),
            }
        }
    }
}
