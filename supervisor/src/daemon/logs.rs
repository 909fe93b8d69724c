//! App logs. The container writes stdout and stderr straight into `NAME.stdout` and
//! `NAME.stderr`, opened O_APPEND: no pipe that only the daemon holds, so an app never sees
//! EPIPE when the daemon dies, and nothing it writes meanwhile is lost. The daemon copies each
//! complete line into `NAME.log` with a timestamp and the stream's name, rotates that file,
//! and punches out of the raw files what it copied: their offsets stay valid (a sparse file),
//! their disk use does not grow. The copy offsets are saved in `NAME.pos` after the lines are
//! written, so a daemon killed in between copies a few lines twice, never loses one.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use crate::app::Logs;

pub const STREAMS: [&str; 2] = ["stdout", "stderr"];
/// A line longer than this is cut and written in pieces.
const MAX_LINE: usize = 16 * 1024;
/// Read at most this much per stream per round, so one chatty app cannot hog the loop.
const MAX_ROUND: usize = 256 * 1024;

pub fn raw_path(dir: &Path, app: &str, stream: &str) -> PathBuf {
    dir.join(format!("{app}.{stream}"))
}

pub fn log_path(dir: &Path, app: &str) -> PathBuf {
    dir.join(format!("{app}.log"))
}

fn pos_path(dir: &Path, app: &str) -> PathBuf {
    dir.join(format!("{app}.pos"))
}

/// nix's Inotify has AsFd, which tokio's AsyncFd does not take.
struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

/// One inotify instance for every app's raw files.
pub struct Watcher {
    inotify: AsyncFd<InotifyFd>,
    wakers: Mutex<HashMap<WatchDescriptor, Arc<Notify>>>,
}

impl Watcher {
    pub fn new() -> std::io::Result<Watcher> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        // SAFETY: the descriptor is the Inotify's own, which the AsyncFd owns from now on and
        // closes only when it is dropped.
        let inotify = unsafe { AsyncFd::register(InotifyFd(inotify)) }?;
        Ok(Watcher {
            inotify,
            wakers: Mutex::new(HashMap::new()),
        })
    }

    fn watch(&self, path: &Path, waker: &Arc<Notify>) -> std::io::Result<WatchDescriptor> {
        let wd = self
            .inotify
            .get_ref()
            .0
            .add_watch(path, AddWatchFlags::IN_MODIFY)?;
        self.wakers.lock().unwrap().insert(wd, waker.clone());
        Ok(wd)
    }

    fn unwatch(&self, wd: WatchDescriptor) {
        self.wakers.lock().unwrap().remove(&wd);
        let _ = self.inotify.get_ref().0.rm_watch(wd);
    }

    /// Wakes the pumps whose files changed; runs for the daemon's life.
    pub async fn run(&self) {
        loop {
            let events = self
                .inotify
                .async_io(Interest::READABLE, |i| {
                    i.0.read_events().map_err(std::io::Error::from)
                })
                .await;
            let Ok(events) = events else { continue };
            let wakers = self.wakers.lock().unwrap();
            for e in events {
                if let Some(w) = wakers.get(&e.wd) {
                    w.notify_one();
                }
            }
        }
    }
}

/// Copies one app's output into its log until aborted.
pub async fn pump(watcher: Arc<Watcher>, dir: PathBuf, app: String, limits: Arc<Mutex<Logs>>) {
    let waker = Arc::new(Notify::new());
    let mut wds = Vec::new();
    for s in STREAMS {
        let raw = raw_path(&dir, &app, s);
        // Created here so that they can be watched before the first container writes.
        if let Err(e) = OpenOptions::new().append(true).create(true).open(&raw) {
            tracing::warn!("{}: {e}", raw.display());
        }
        match watcher.watch(&raw, &waker) {
            Ok(wd) => wds.push(wd),
            Err(e) => tracing::warn!("{}: cannot watch: {e}", raw.display()),
        }
    }
    struct Unwatch(Arc<Watcher>, Vec<WatchDescriptor>);
    impl Drop for Unwatch {
        fn drop(&mut self) {
            for wd in self.1.drain(..) {
                self.0.unwatch(wd);
            }
        }
    }
    let _unwatch = Unwatch(watcher, wds);
    let mut pos = load_pos(&dir, &app);
    loop {
        let logs = *limits.lock().unwrap();
        match copy_round(&dir, &app, &mut pos, logs) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!("logs of {app}: {e}"),
        }
        waker.notified().await;
    }
}

/// Copies what is new; `Ok(true)` when there may be more right away.
fn copy_round(dir: &Path, app: &str, pos: &mut [u64; 2], logs: Logs) -> std::io::Result<bool> {
    let mut more = false;
    let mut moved = false;
    for (i, s) in STREAMS.iter().enumerate() {
        let raw = raw_path(dir, app, s);
        let mut f = match File::open(&raw) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        if len < pos[i] {
            // Replaced or truncated by someone: start over.
            pos[i] = 0;
        }
        if len == pos[i] {
            continue;
        }
        f.seek(SeekFrom::Start(pos[i]))?;
        let mut buf = Vec::new();
        (&mut f).take(MAX_ROUND as u64).read_to_end(&mut buf)?;
        let end = match buf.iter().rposition(|b| *b == b'\n') {
            Some(n) => n + 1,
            // No complete line: wait for the rest, unless it is already too long.
            None if buf.len() >= MAX_LINE => buf.len(),
            None => continue,
        };
        if buf.len() == MAX_ROUND {
            more = true;
        }
        write_lines(dir, app, s, &buf[..end], logs)?;
        pos[i] += end as u64;
        moved = true;
        punch(&raw, pos[i]);
    }
    if moved {
        save_pos(dir, app, pos)?;
    }
    Ok(more)
}

fn write_lines(
    dir: &Path,
    app: &str,
    stream: &str,
    bytes: &[u8],
    logs: Logs,
) -> std::io::Result<()> {
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let mut out = Vec::with_capacity(bytes.len() + 64);
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        for piece in line.chunks(MAX_LINE) {
            out.extend_from_slice(now.as_bytes());
            out.push(b' ');
            out.extend_from_slice(stream.as_bytes());
            out.push(b' ');
            out.extend_from_slice(piece);
            if out.last() != Some(&b'\n') {
                out.push(b'\n');
            }
        }
    }
    let path = log_path(dir, app);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size > 0 && size + out.len() as u64 > logs.max_size {
        rotate(&path, logs.files);
    }
    let mut f = OpenOptions::new().append(true).create(true).open(&path)?;
    f.write_all(&out)
}

/// NAME.log -> NAME.log.1 -> ... ; `files` counts the current one.
fn rotate(path: &Path, files: u32) {
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
    if files <= 1 {
        let _ = std::fs::remove_file(path);
        return;
    }
    let _ = std::fs::remove_file(numbered(files - 1));
    for n in (1..files - 1).rev() {
        let _ = std::fs::rename(numbered(n), numbered(n + 1));
    }
    let _ = std::fs::rename(path, numbered(1));
}

/// Frees the copied part of a raw file; offsets stay as they are.
fn punch(raw: &Path, upto: u64) {
    let block = 4096;
    let len = upto / block * block;
    if len == 0 {
        return;
    }
    if let Ok(f) = OpenOptions::new().write(true).open(raw) {
        // fallocate64: the raw files only grow, past 2 GiB in time, and off_t is 32 bits on
        // armv7.
        // SAFETY: fallocate64 takes a descriptor and two offsets; no memory is passed. A
        // failure (a filesystem without hole punching) only leaves the space in use.
        unsafe {
            nix::libc::fallocate64(
                f.as_raw_fd(),
                nix::libc::FALLOC_FL_PUNCH_HOLE | nix::libc::FALLOC_FL_KEEP_SIZE,
                0,
                len as nix::libc::off64_t,
            );
        }
    }
}

fn load_pos(dir: &Path, app: &str) -> [u64; 2] {
    let text = std::fs::read_to_string(pos_path(dir, app)).unwrap_or_default();
    let mut it = text.split_whitespace().map(|n| n.parse().unwrap_or(0));
    [it.next().unwrap_or(0), it.next().unwrap_or(0)]
}

fn save_pos(dir: &Path, app: &str, pos: &[u64; 2]) -> std::io::Result<()> {
    // Replaced by rename, not synced: after a power cut, an older offset copies lines twice.
    let path = pos_path(dir, app);
    let tmp = dir.join(format!(".{app}.pos.tmp"));
    std::fs::write(&tmp, format!("{} {}\n", pos[0], pos[1]))?;
    std::fs::rename(tmp, path)
}

/// The last `n` lines of the app's log (rotated files included when needed); 0 is all that
/// is kept.
pub fn tail(dir: &Path, app: &str, files: u32, n: usize) -> std::io::Result<String> {
    let path = log_path(dir, app);
    let mut chunks = Vec::new();
    let mut count = 0;
    for k in 0..files.max(1) {
        let p = if k == 0 {
            path.clone()
        } else {
            PathBuf::from(format!("{}.{k}", path.display()))
        };
        let text = match std::fs::read(&p) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        count += text.lines().count();
        chunks.push(text);
        if n > 0 && count >= n {
            break;
        }
    }
    let all: Vec<&str> = chunks.iter().rev().flat_map(|c| c.lines()).collect();
    let skip = if n > 0 {
        all.len().saturating_sub(n)
    } else {
        0
    };
    let mut out = all[skip..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_size: u64, files: u32) -> Logs {
        Logs { max_size, files }
    }

    #[test]
    fn complete_lines_are_copied_with_time_and_stream_and_the_rest_waits() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(raw_path(d.path(), "a", "stdout"), "one\ntwo\npart").unwrap();
        std::fs::write(raw_path(d.path(), "a", "stderr"), "oops\n").unwrap();
        let mut pos = [0, 0];
        copy_round(d.path(), "a", &mut pos, limits(1 << 20, 2)).unwrap();
        assert_eq!(pos, [8, 5]);
        let log = std::fs::read_to_string(log_path(d.path(), "a")).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 3, "{log}");
        for (line, want) in lines
            .iter()
            .zip(["stdout one", "stdout two", "stderr oops"])
        {
            let (stamp, rest) = line.split_once(' ').unwrap();
            assert!(stamp.ends_with('Z') && stamp.contains('T'), "{line}");
            assert_eq!(rest, want);
        }
        // The rest of the line arrives; the offsets survive a new pump (a daemon restart).
        let mut f = OpenOptions::new()
            .append(true)
            .open(raw_path(d.path(), "a", "stdout"))
            .unwrap();
        f.write_all(b"ial\n").unwrap();
        let mut pos = load_pos(d.path(), "a");
        copy_round(d.path(), "a", &mut pos, limits(1 << 20, 2)).unwrap();
        let log = std::fs::read_to_string(log_path(d.path(), "a")).unwrap();
        assert!(
            log.lines().last().unwrap().ends_with("stdout partial"),
            "{log}"
        );
        assert_eq!(log.lines().count(), 4);
    }

    #[test]
    fn logs_rotate_and_keep_the_newest_lines() {
        let d = tempfile::tempdir().unwrap();
        let mut pos = [0, 0];
        let raw = raw_path(d.path(), "a", "stdout");
        for i in 0..50 {
            let mut f = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&raw)
                .unwrap();
            writeln!(f, "line {i}").unwrap();
            copy_round(d.path(), "a", &mut pos, limits(200, 3)).unwrap();
        }
        assert!(PathBuf::from(format!("{}.2", log_path(d.path(), "a").display())).exists());
        assert!(!PathBuf::from(format!("{}.3", log_path(d.path(), "a").display())).exists());
        for k in ["", ".1", ".2"] {
            let p = format!("{}{k}", log_path(d.path(), "a").display());
            assert!(
                std::fs::metadata(&p).unwrap().len() <= 200 + 64,
                "{p} too large"
            );
        }
        let last = tail(d.path(), "a", 3, 5).unwrap();
        let got: Vec<&str> = last
            .lines()
            .map(|l| l.split_once(" stdout ").unwrap().1)
            .collect();
        assert_eq!(got, ["line 45", "line 46", "line 47", "line 48", "line 49"]);
    }

    #[test]
    fn copied_output_is_punched_out_of_the_raw_file() {
        let d = tempfile::tempdir().unwrap();
        let raw = raw_path(d.path(), "a", "stdout");
        let line = "x".repeat(99) + "\n";
        std::fs::write(&raw, line.repeat(200)).unwrap();
        let before = std::fs::metadata(&raw).unwrap();
        let mut pos = [0, 0];
        copy_round(d.path(), "a", &mut pos, limits(1 << 20, 1)).unwrap();
        use std::os::unix::fs::MetadataExt;
        let after = std::fs::metadata(&raw).unwrap();
        assert_eq!(after.len(), before.len(), "offsets must stay valid");
        assert!(
            after.blocks() < before.blocks(),
            "no space freed: {} -> {} blocks",
            before.blocks(),
            after.blocks()
        );
    }
}
