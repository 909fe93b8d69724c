//! `davit supervise`: the daemon's command line; the daemon is supervisor::daemon's.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use supervisor::api::DEFAULT_SOCKET;
use supervisor::daemon::{self, Bus, Options};

#[derive(Args, Debug)]
pub struct Supervise {
    /// Directory of app files (NAME.toml)
    #[arg(long, default_value = "/etc/davit/apps")]
    config_dir: PathBuf,
    /// The daemon's own state: app records, logs, generated configs
    #[arg(long, default_value = "/var/lib/davit")]
    state_dir: PathBuf,
    /// Serve the API peer-to-peer on this unix socket
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Do not serve the API on a socket
    #[arg(long)]
    no_socket: bool,
    /// "system" (the default: the system bus, if there is one), "none", or a D-Bus address
    #[arg(long)]
    bus: Option<String>,
    /// Members of this group may change apps through the API (root always may)
    #[arg(long)]
    group: Option<String>,
    /// A hardware watchdog to pet from the event loop (e.g. /dev/watchdog)
    #[arg(long)]
    watchdog_device: Option<PathBuf>,
    /// The watchdog device's timeout
    #[arg(long, default_value = "30s", value_parser = duration)]
    watchdog_timeout: Duration,
    /// davit's own seccomp filter on the daemon: "enforce" (a call outside it kills the
    /// daemon, not the apps), "log" (the kernel logs such calls), or "off"
    #[arg(long, default_value = "enforce")]
    seccomp: String,
}

fn duration(s: &str) -> Result<Duration, String> {
    supervisor::app::parse_duration(s).map_err(|e| e.to_string())
}

pub fn supervise(root: PathBuf, a: Supervise) -> i32 {
    // Without --log or --debug the daemon still says what it does, on stderr (a journal);
    // libcontainer's warnings about controllers a board lacks would only drown it.
    {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("supervisor", tracing::Level::INFO)
            .with_default(tracing::Level::ERROR);
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_filter(filter),
            )
            .try_init();
    }
    let bus = match a.bus.as_deref() {
        None => Bus::System,
        Some("system") => Bus::Address("unix:path=/run/dbus/system_bus_socket".into()),
        Some("none") => Bus::None,
        Some(addr) => Bus::Address(addr.to_owned()),
    };
    let seccomp = match a.seccomp.as_str() {
        "off" => None,
        other => match other.parse() {
            Ok(mode) => Some(mode),
            Err(reason) => {
                eprintln!("davit: error: --seccomp {reason} (or \"off\")");
                return 1;
            }
        },
    };
    // Before the daemon reads its app files: an install that a power cut interrupted is undone,
    // and the roots of installed releases are mounted (the daemon's own filter forbids mount).
    #[allow(unused_mut)]
    let mut release = std::collections::BTreeMap::new();
    #[cfg(feature = "update")]
    {
        let paths = update::release::Paths::new(&a.state_dir, &a.config_dir);
        let recovered = paths
            .as_ref()
            .map_err(|e| e.to_string())
            .and_then(|p| update::release::activate::recover(p).map_err(|e| e.to_string()));
        match recovered {
            Ok(notes) => notes.iter().for_each(|n| eprintln!("davit: release: {n}")),
            Err(e) => eprintln!("davit: error: releases: {e}"),
        }
        // The releases the API shows until an installer reports.
        if let Ok(state) = paths.and_then(|p| update::release::state::State::load(&p)) {
            for (k, v) in [
                ("current", state.current),
                ("previous", state.previous),
                ("factory", state.factory),
            ] {
                release.insert(k.to_owned(), v.unwrap_or_default());
            }
        }
    }
    let opts = Options {
        config_dir: a.config_dir,
        state_dir: a.state_dir,
        root,
        socket: (!a.no_socket).then_some(a.socket),
        bus,
        group: a.group,
        watchdog_device: a.watchdog_device,
        watchdog_timeout: a.watchdog_timeout,
        seccomp,
        release,
    };
    match daemon::supervise(opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("davit: error: {e}");
            1
        }
    }
}
