//! Liveness towards whoever watches the daemon: a hardware watchdog device (`--watchdog-device`),
//! and systemd (sd_notify READY=1, WATCHDOG=1, STOPPING=1) when it started the daemon. Both are
//! petted from the event loop itself, so a hung loop stops the petting.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use super::{DaemonError, Options};

nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, nix::libc::c_int);

pub struct Watchdog {
    device: Option<File>,
    device_interval: Option<Duration>,
    systemd: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    systemd_interval: Option<Duration>,
}

impl Watchdog {
    pub fn open(opts: &Options) -> Result<Watchdog, DaemonError> {
        let mut device = None;
        let mut device_interval = None;
        if let Some(path) = &opts.watchdog_device {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| DaemonError::io(format!("opening {}", path.display()), e))?;
            let mut secs = opts.watchdog_timeout.as_secs().max(1) as nix::libc::c_int;
            // SAFETY: WDIOC_SETTIMEOUT reads and writes one int, which `secs` is.
            if let Err(e) = unsafe { wdioc_settimeout(f.as_raw_fd(), &mut secs) } {
                tracing::warn!(
                    "{}: cannot set the timeout ({e}); using the device's",
                    path.display()
                );
            }
            // The driver may round the timeout; pet at a third of what it took.
            device_interval = Some(Duration::from_secs(secs.max(1) as u64) / 3);
            device = Some(f);
        }
        let systemd = std::env::var("NOTIFY_SOCKET").ok().and_then(|p| {
            let addr = match p.strip_prefix('@') {
                Some(name) => {
                    use std::os::linux::net::SocketAddrExt;
                    std::os::unix::net::SocketAddr::from_abstract_name(name).ok()?
                }
                None => std::os::unix::net::SocketAddr::from_pathname(&p).ok()?,
            };
            Some((UnixDatagram::unbound().ok()?, addr))
        });
        let systemd_interval = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(|us| Duration::from_micros(us) / 2);
        // The apps must not take systemd's socket for theirs.
        // SAFETY: called before the daemon starts any thread that reads the environment.
        unsafe {
            std::env::remove_var("NOTIFY_SOCKET");
            std::env::remove_var("WATCHDOG_USEC");
            std::env::remove_var("WATCHDOG_PID");
        }
        Ok(Watchdog {
            device,
            device_interval,
            systemd,
            systemd_interval,
        })
    }

    pub fn interval(&self) -> Duration {
        [self.device_interval, self.systemd_interval]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(Duration::from_secs(3600))
            .max(Duration::from_millis(100))
    }

    fn notify(&self, msg: &str) {
        if let Some((sock, addr)) = &self.systemd {
            let _ = sock.send_to_addr(msg.as_bytes(), addr);
        }
    }

    pub fn ready(&self) {
        self.notify("READY=1");
    }

    pub fn pet(&mut self) {
        if let Some(f) = &mut self.device {
            let _ = f.write_all(b"\0");
        }
        if self.systemd_interval.is_some() {
            self.notify("WATCHDOG=1");
        }
    }

    pub fn stopping(&self) {
        self.notify("STOPPING=1");
    }

    /// The magic close: an orderly stop disarms the device.
    pub fn close(mut self) {
        if let Some(mut f) = self.device.take() {
            let _ = f.write_all(b"V");
        }
    }
}
