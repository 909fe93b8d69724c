//! A container's state directory, `<root>/<id>/`, as every davit process shares it.
//!
//! - Writers (create, start, kill, pause, resume, delete) hold a POSIX record lock on
//!   `davit.lock` inside it. Such a lock belongs to the process that took it: a clone
//!   libcontainer makes (the container's init, an exec'd process) never holds it, so no lock
//!   outlives its holder. `create` takes it before the directory appears under its name and
//!   keeps it for the whole create.
//! - Readers take no lock: libcontainer's state.json and davit's files are replaced
//!   atomically, so a reader sees the old content or the new one. A reader that finds a
//!   create's record tests the lock (F_GETLK) to tell a create under way from a dead one.
//! - `init.json` records the init's pid *and start time*, so that a reused pid is never
//!   taken for the container's process.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use libcontainer::container::{ContainerStatus, State};
use nix::libc;

use crate::error::{Error, Result};
use crate::process::ProcessId;
use crate::{Status, fsutil};

const LOCK_FILE: &str = "davit.lock";
const INIT_FILE: &str = "init.json";

/// The state directory of one container.
#[derive(Debug, Clone)]
pub(crate) struct ContainerDir {
    pub(crate) id: String,
    pub(crate) path: PathBuf,
}

/// An exclusive hold on a container for an operation that changes it; released on drop
/// (or when the process ends, however it ends).
pub(crate) struct WriteLock {
    _file: File,
}

/// What a reader makes of a container directory.
pub(crate) struct Snapshot {
    pub(crate) status: Status,
    pub(crate) init: Option<ProcessId>,
    /// libcontainer's record; `None` while a create has not written it yet.
    pub(crate) state: Option<State>,
}

impl ContainerDir {
    pub(crate) fn new(root: &Path, id: &str) -> ContainerDir {
        ContainerDir {
            id: id.to_owned(),
            path: root.join(id),
        }
    }

    pub(crate) fn exists(&self) -> bool {
        self.path.symlink_metadata().is_ok_and(|m| m.is_dir())
    }

    /// Waits for the container's write lock. Fails with `NotFound` when the container is gone,
    /// including when it was deleted (and maybe created anew) while we waited.
    pub(crate) fn lock(&self) -> Result<WriteLock> {
        loop {
            if !self.exists() {
                return Err(Error::NotFound(self.id.clone()));
            }
            let path = self.path.join(LOCK_FILE);
            // Never created here: `create` makes the file before the directory gets its name.
            // Creating it would put a new file into a directory a racing delete is removing,
            // whose last rmdir then fails with ENOTEMPTY (seen on the qemu boards).
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(f) => f,
                // Removed between our check and the open: a delete won.
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(Error::NotFound(self.id.clone()));
                }
                Err(e) => return Err(Error::io("open container lock", &path, e)),
            };
            set_lock(&file, libc::F_WRLCK as i16, true)
                .map_err(|e| Error::io("lock container", &path, e))?;
            // A delete removes the directory while holding the lock; the file we locked
            // may be that unlinked one, and the id may even name a new container now.
            let same = match (file.metadata(), path.metadata()) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                return Ok(WriteLock { _file: file });
            }
        }
    }

    /// The write lock for an operation that a create under way would make wait until it is
    /// done: that operation fails at once instead, as the container is not yet what it
    /// needs.
    pub(crate) fn lock_unless_creating(
        &self,
        action: &'static str,
        needed: &'static str,
    ) -> Result<WriteLock> {
        if self.snapshot()?.status == Status::Creating {
            return Err(Error::WrongStatus {
                id: self.id.clone(),
                status: Status::Creating,
                action,
                needed,
            });
        }
        self.lock()
    }

    /// Whether some process (other than this one) holds the write lock now. Never waits.
    pub(crate) fn locked_by_other(&self) -> bool {
        let Ok(file) = File::open(self.path.join(LOCK_FILE)) else {
            return false;
        };
        // SAFETY: flock is plain data; zero is a valid initial value.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as i16;
        fl.l_whence = libc::SEEK_SET as i16;
        // SAFETY: F_GETLK writes into `fl`, which lives across the call.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut fl) };
        // Closing `file` would drop a lock this process held on it; readers only run in
        // processes that hold none at that moment (see the module doc).
        r == 0 && fl.l_type != libc::F_UNLCK as i16
    }

    /// Records the init process once libcontainer has made it.
    pub(crate) fn record_init(&self, init: ProcessId) -> Result<()> {
        let path = self.path.join(INIT_FILE);
        let data = serde_json::to_vec(&init).map_err(|e| Error::Json(e.to_string()))?;
        fsutil::replace(&path, &data).map_err(|e| Error::io("record init process", path, e))
    }

    fn read_init(&self) -> Result<Option<ProcessId>> {
        let path = self.path.join(INIT_FILE);
        match fs::read(&path) {
            Ok(data) => {
                serde_json::from_slice(&data)
                    .map(Some)
                    .map_err(|e| Error::StateUnreadable {
                        id: self.id.clone(),
                        reason: format!("{}: {e}", path.display()),
                    })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Reads the container without waiting for any writer, and works out its status from
    /// the live process, not only from what was last written.
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        if !self.exists() {
            return Err(Error::NotFound(self.id.clone()));
        }
        let state_path = State::file_path(&self.path);
        let state = match State::load(&self.path) {
            Ok(s) => Some(s),
            Err(_) if !state_path.exists() => None,
            Err(e) => {
                return Err(Error::StateUnreadable {
                    id: self.id.clone(),
                    reason: crate::one_line(&e),
                });
            }
        };
        let init = self.read_init()?;
        let status = match (&state, init) {
            // Not recorded yet: a create is under way, or died before it got that far.
            (None, _) | (Some(_), None) if self.locked_by_other() => Status::Creating,
            (None, _) => Status::Stopped,
            (Some(s), _) if s.status == ContainerStatus::Creating => Status::Stopped,
            (Some(s), Some(init)) => live_status(s.status, init.is_alive()),
            // A container created before davit recorded start times: trust the pid.
            (Some(s), None) => live_status(
                s.status,
                s.pid.and_then(ProcessId::of).is_some_and(|p| p.is_alive()),
            ),
        };
        let init = match (&state, init) {
            (_, Some(i)) => Some(i),
            (Some(s), None) if status != Status::Creating => s.pid.and_then(ProcessId::of),
            _ => None,
        };
        Ok(Snapshot {
            status,
            init: init.filter(|_| !matches!(status, Status::Stopped | Status::Creating)),
            state,
        })
    }
}

fn live_status(saved: ContainerStatus, alive: bool) -> Status {
    if !alive {
        return Status::Stopped;
    }
    match saved {
        ContainerStatus::Creating => Status::Creating,
        ContainerStatus::Created => Status::Created,
        ContainerStatus::Paused => Status::Paused,
        ContainerStatus::Running | ContainerStatus::Stopped => Status::Running,
    }
}

/// F_SETLK(W) on the whole file.
fn set_lock(file: &File, kind: i16, wait: bool) -> std::io::Result<()> {
    // SAFETY: flock is plain data; zero is a valid initial value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as i16;
    let cmd = if wait { libc::F_SETLKW } else { libc::F_SETLK };
    loop {
        // SAFETY: the kernel reads `fl`, which lives across the call.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &fl) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A container directory being made: it appears under its id, atomically and already
/// locked, or not at all.
pub(crate) struct NewDir {
    pub(crate) dir: ContainerDir,
    pub(crate) lock: WriteLock,
}

impl NewDir {
    /// Makes `<root>/@new-<pid>-<id>`, locks it, lets `fill` add files, then renames it to
    /// `<root>/<id>` unless that exists. Exactly one of several concurrent creates of an id
    /// gets here with `Ok`.
    pub(crate) fn claim(
        root: &Path,
        id: &str,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<NewDir> {
        let dir = ContainerDir::new(root, id);
        if dir.path.symlink_metadata().is_ok() {
            return Err(Error::Exists(id.to_owned()));
        }
        sweep_abandoned(root);
        // '@' is outside the id alphabet: no container, and no `list`, can meet this name.
        let tmp = root.join(format!("@new-{}-{id}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(|e| Error::io("create container state", &tmp, e))?;
        let result = (|| {
            let path = tmp.join(LOCK_FILE);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .map_err(|e| Error::io("create container lock", &path, e))?;
            set_lock(&file, libc::F_WRLCK as i16, false)
                .map_err(|e| Error::io("lock container", &path, e))?;
            fill(&tmp)?;
            rename_noreplace(&tmp, &dir.path).map_err(|e| match e.kind() {
                ErrorKind::AlreadyExists => Error::Exists(id.to_owned()),
                _ => Error::io("create container state", &dir.path, e),
            })?;
            Ok(WriteLock { _file: file })
        })();
        match result {
            Ok(lock) => Ok(NewDir { dir, lock }),
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    nix::fcntl::renameat2(
        None,
        from,
        None,
        to,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    )
    .map_err(std::io::Error::from)
}

/// Removes the half-made directories of creates that died before naming theirs: their lock
/// is free.
fn sweep_abandoned(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("@new-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // A live creator is still filling its directory, maybe before it could lock it.
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = e.path();
        let Ok(file) = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path.join(LOCK_FILE))
        else {
            continue;
        };
        if set_lock(&file, libc::F_WRLCK as i16, false).is_ok() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

impl ContainerDir {
    /// The container's cgroup, as its create recorded it (`None` if the create died before
    /// it got that far).
    pub(crate) fn cgroup(&self) -> Result<Option<libcgroups::common::AnyCgroupManager>> {
        let config = match libcontainer::config::YoukiConfig::load(&self.path) {
            Ok(c) => c,
            Err(_) if !self.path.join("youki_config.json").exists() => return Ok(None),
            Err(e) => {
                return Err(Error::StateUnreadable {
                    id: self.id.clone(),
                    reason: crate::one_line(&e),
                });
            }
        };
        libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
            cgroup_path: config.cgroup_path,
            systemd_cgroup: false,
            container_name: self.id.clone(),
        })
        .map(Some)
        .map_err(|e| Error::Cgroup {
            id: self.id.clone(),
            source: Box::new(e),
        })
    }
}
