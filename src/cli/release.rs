//! `davit release install|status|rollback`: the update engine's releases, activated through
//! the running supervisor.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use supervisor::api::client::{AppInfo, Client, ClientError, Target};
use update::release::activate::{self, InstallOptions, Outcome, Supervisor};
use update::release::state::State;
use update::release::{self as rel, Paths};

#[derive(Args, Debug)]
pub struct ReleaseArgs {
    #[command(flatten)]
    board: Board,
    #[command(subcommand)]
    command: ReleaseCommand,
}

/// `davit reset`: the factory release back, from the store.
#[derive(Args, Debug)]
pub struct ResetArgs {
    #[command(flatten)]
    board: Board,
    /// Keep the apps' volumes (by default they are emptied)
    #[arg(long)]
    keep_data: bool,
    /// How long the factory release's apps have to confirm
    #[arg(long, default_value = "5m", value_parser = duration)]
    confirm_timeout: Duration,
    /// How long they must then stay up
    #[arg(long, default_value = "30s", value_parser = duration)]
    watch: Duration,
}

/// Where the supervisor keeps its apps, and how to reach it.
#[derive(Args, Debug)]
struct Board {
    /// The supervisor's config directory (its app files)
    #[arg(long, global = true, default_value = "/etc/davit/apps")]
    config_dir: PathBuf,
    /// The supervisor's state directory (the store, releases, bundles, volumes)
    #[arg(long, global = true, default_value = "/var/lib/davit")]
    state_dir: PathBuf,
    /// The supervisor's socket (instead of the system bus)
    #[arg(long, global = true, conflicts_with = "bus")]
    socket: Option<PathBuf>,
    /// A D-Bus address to find the supervisor on (instead of the system bus)
    #[arg(long, global = true)]
    bus: Option<String>,
}

impl Board {
    fn paths(&self) -> Result<Paths, i32> {
        Paths::new(&self.state_dir, &self.config_dir).map_err(|e| {
            eprintln!("davit: error: {e}");
            1
        })
    }

    fn target(&self) -> Target {
        match (&self.socket, &self.bus) {
            (Some(s), _) => Target::Socket(s.clone()),
            (None, Some(b)) => Target::Bus(b.clone()),
            (None, None) => Target::Default,
        }
    }
}

pub fn reset(a: ResetArgs) -> i32 {
    let _failpoints = update::failpoints();
    let paths = match a.board.paths() {
        Ok(p) => p,
        Err(code) => return code,
    };
    let judge = activate::Judge {
        confirm_timeout: a.confirm_timeout,
        watch: a.watch,
        call: false,
    };
    let mut progress = |line: String| say(&line);
    let outcome = connect(a.board.target()).and_then(|mut sup| {
        activate::reset(&paths, a.keep_data, judge, &mut sup, &mut progress)
            .map_err(|e| format!("reset: {e}"))
    });
    report(outcome)
}

#[derive(Subcommand, Debug)]
enum ReleaseCommand {
    /// Install a release (a directory: release.toml, apps/NAME.toml, images/; or a tar of
    /// one, plain, gzip or zstd): its apps switch together, and come back to the current
    /// release unless they all confirm
    Install {
        dir: PathBuf,
        /// Install a release that failed before
        #[arg(long)]
        retry: bool,
        /// Keep this much free on the state directory's file system (nothing is stored below)
        #[arg(long, default_value = "32m", value_parser = size)]
        min_free: u64,
        /// The release shipped at manufacturing: `davit reset` restores it, GC keeps it
        #[arg(long)]
        factory: bool,
        /// Wait this long for apps holding their update lock (/tmp/davit/updates.lock)
        #[arg(long, default_value = "0s", value_parser = duration)]
        lock_wait: Duration,
        /// Switch apps even while they hold their update lock
        #[arg(long)]
        force: bool,
        /// Keep this many releases from now on, the current one included (default 2)
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
        keep: Option<u32>,
    },
    /// Remove the releases, bundles, layers and blobs no kept release uses (current,
    /// previous, factory); volumes stay
    Gc {
        /// Keep this many releases from now on, the current one included (default 2)
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
        keep: Option<u32>,
    },
    /// The current, previous, failed releases and any install under way
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Confirm the release being installed (one whose release.toml says `confirm = "call"`
    /// waits for this)
    Confirm {
        #[arg(value_name = "VERSION")]
        release: String,
    },
    /// Go back to the previous release (which must confirm again)
    Rollback {
        /// How long its apps have to confirm
        #[arg(long, default_value = "5m", value_parser = duration)]
        confirm_timeout: Duration,
        /// How long they must then stay up
        #[arg(long, default_value = "30s", value_parser = duration)]
        watch: Duration,
    },
}

fn size(s: &str) -> Result<u64, String> {
    supervisor::app::parse_size(s).map_err(|e| e.to_string())
}

fn duration(s: &str) -> Result<Duration, String> {
    supervisor::app::parse_duration(s).map_err(|e| e.to_string())
}

pub fn release(a: ReleaseArgs) -> i32 {
    let _failpoints = update::failpoints();
    let paths = match a.board.paths() {
        Ok(p) => p,
        Err(code) => return code,
    };
    let target = a.board.target();
    let mut progress = |line: String| say(&line);
    let outcome = match a.command {
        ReleaseCommand::Status { json } => {
            super::die_on_closed_stdout();
            return status(&paths, json);
        }
        ReleaseCommand::Confirm { release: version } => {
            return match connect(target).and_then(|sup| {
                sup.rt
                    .block_on(sup.client.confirm_release(&version))
                    .map_err(|e| format!("confirm: {e}"))
            }) {
                Ok(()) => {
                    println!("release {version}: confirmed");
                    0
                }
                Err(e) => {
                    eprintln!("davit: error: {e}");
                    1
                }
            };
        }
        ReleaseCommand::Gc { keep } => {
            return match activate::gc(&paths, keep) {
                Ok(c) => {
                    println!("{}", activate::collected(&c));
                    0
                }
                Err(e) => {
                    eprintln!("davit: error: gc: {e}");
                    1
                }
            };
        }
        ReleaseCommand::Install {
            dir,
            retry,
            min_free,
            factory,
            lock_wait,
            force,
            keep,
        } => connect(target).and_then(|mut sup| {
            let opts = InstallOptions {
                retry,
                policy: Default::default(),
                min_free,
                factory,
                lock_wait,
                force,
                keep,
            };
            activate::install(&paths, &dir, &opts, &mut sup, &mut progress).map_err(|e| {
                let e = format!("release {}: {e}", dir.display());
                sup.report(&[("phase", "failed"), ("message", &e)]);
                e
            })
        }),
        ReleaseCommand::Rollback {
            confirm_timeout,
            watch,
        } => connect(target).and_then(|mut sup| {
            let judge = activate::Judge {
                confirm_timeout,
                watch,
                call: false,
            };
            activate::rollback(&paths, judge, &mut sup, &mut progress)
                .map_err(|e| format!("rollback: {e}"))
        }),
    };
    report(outcome)
}

/// One line of an install's, rollback's or reset's progress. A reader that went away
/// (`| head -3`) must not stop the switch half-way: the outcome is in `davit release status`.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn report(outcome: Result<Outcome, String>) -> i32 {
    match outcome {
        Ok(Outcome::Installed {
            version, changed, ..
        }) => {
            say(&format!(
                "release {version} is current ({})",
                if changed.is_empty() {
                    "no app changed".to_owned()
                } else {
                    format!("restarted: {}", changed.join(", "))
                }
            ));
            0
        }
        Ok(Outcome::RolledBack {
            version,
            to,
            reason,
        }) => {
            eprintln!(
                "davit: error: release {version} failed and was rolled back to {}: {reason}",
                to.as_deref().unwrap_or("no release")
            );
            1
        }
        Err(e) => {
            eprintln!("davit: error: {e}");
            1
        }
    }
}

fn status(paths: &Paths, json: bool) -> i32 {
    let state = match State::load(paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("davit: error: {e}");
            return 1;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&state).unwrap_or_default()
        );
        return 0;
    }
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("current:  {}", show(&state.current));
    println!("previous: {}", show(&state.previous));
    if let Some(p) = &state.pending {
        println!(
            "pending:  {} ({}, from {})",
            p.version,
            p.phase,
            p.from.as_deref().unwrap_or("no release")
        );
    }
    for f in &state.failed {
        println!("failed:   {}: {}", f.version, f.reason);
    }
    if let Some(v) = &state.current
        && let Ok(apps) = rel::installed_apps(paths, v)
    {
        println!(
            "apps:     {}",
            apps.into_keys().collect::<Vec<_>>().join(", ")
        );
    }
    0
}

/// The supervisor over its API, driven from this synchronous command.
struct Api {
    rt: tokio::runtime::Runtime,
    client: Client,
}

fn connect(target: Target) -> Result<Api, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = rt
        .block_on(Client::connect(&target))
        .map_err(|e| format!("a release is activated by the supervisor: {e}"))?;
    Ok(Api { rt, client })
}

impl Supervisor for Api {
    fn reload(&mut self) -> Result<(), String> {
        self.rt
            .block_on(self.client.reload(None))
            .map_err(|e| e.to_string())
    }

    fn status(&mut self, app: &str) -> Result<Option<AppInfo>, String> {
        match self.rt.block_on(self.client.status(app)) {
            Ok(s) => Ok(Some(s)),
            Err(ClientError::Refused { name, .. }) if name.ends_with("UnknownObject") => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn report(&mut self, fields: &[(&str, &str)]) {
        if let Err(e) = self.rt.block_on(self.client.report_release(fields)) {
            tracing::debug!("the supervisor took no report: {e}");
        }
    }

    fn confirmed(&mut self) -> Result<String, String> {
        self.rt
            .block_on(self.client.release())
            .map(|r| r.get("Confirmed").cloned().unwrap_or_default())
            .map_err(|e| e.to_string())
    }
}
