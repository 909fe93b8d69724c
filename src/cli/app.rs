//! `davit app ...`: a client of the supervisor's API, for people (a table) and scripts
//! (`--json`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use supervisor::api::client::{AppInfo, Client, ClientError, Target};

#[derive(Args, Debug)]
pub struct App {
    /// The daemon's socket (instead of the system bus)
    #[arg(long, global = true, conflicts_with = "bus")]
    socket: Option<PathBuf>,
    /// A D-Bus address to find the daemon on (instead of the system bus)
    #[arg(long, global = true)]
    bus: Option<String>,
    #[command(subcommand)]
    command: AppCommand,
}

#[derive(Subcommand, Debug)]
enum AppCommand {
    /// Every app, its state and health
    List {
        #[arg(long)]
        json: bool,
    },
    /// One app in detail
    Status {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Start an app (a failed one too)
    Start { name: String },
    /// Stop an app (its stop signal, then SIGKILL after its grace period)
    Stop { name: String },
    /// Stop and start an app
    Restart { name: String },
    /// Send a signal to an app's init (default SIGTERM)
    Kill {
        name: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Freeze an app's processes (the cgroup freezer)
    Freeze { name: String },
    /// Thaw a frozen app
    Thaw { name: String },
    /// Start an app at boot
    Enable { name: String },
    /// Do not start an app at boot
    Disable { name: String },
    /// Re-read one app's file, or all of them
    Reload { name: Option<String> },
    /// An app's log: `TIMESTAMP STREAM LINE`
    Logs {
        name: String,
        /// The last N lines (0: all that is kept)
        #[arg(long, short = 'n', default_value_t = 0)]
        tail: u32,
        /// Keep printing new lines
        #[arg(long, short)]
        follow: bool,
    },
}

pub fn app(a: App) -> i32 {
    let target = match (a.socket, a.bus) {
        (Some(s), _) => Target::Socket(s),
        (None, Some(b)) => Target::Bus(b),
        (None, None) => Target::Default,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("davit: error: {e}");
            return 1;
        }
    };
    match rt.block_on(run(target, a.command)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("davit: error: {e}");
            1
        }
    }
}

async fn run(target: Target, cmd: AppCommand) -> Result<(), ClientError> {
    let c = Client::connect(&target).await?;
    match cmd {
        AppCommand::List { json } => {
            let apps = c.list().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&apps).unwrap_or_default()
                );
            } else {
                print_table(&apps);
            }
        }
        AppCommand::Status { name, json } => {
            let s = c.status(&name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            } else {
                print_status(&s);
            }
        }
        AppCommand::Start { name } => c.act(&name, "Start").await?,
        AppCommand::Stop { name } => c.act(&name, "Stop").await?,
        AppCommand::Restart { name } => c.act(&name, "Restart").await?,
        AppCommand::Freeze { name } => c.act(&name, "Freeze").await?,
        AppCommand::Thaw { name } => c.act(&name, "Thaw").await?,
        AppCommand::Enable { name } => c.act(&name, "Enable").await?,
        AppCommand::Disable { name } => c.act(&name, "Disable").await?,
        AppCommand::Kill { name, signal } => c.kill(&name, &signal).await?,
        AppCommand::Reload { name } => c.reload(name.as_deref()).await?,
        AppCommand::Logs { name, tail, follow } => {
            let text = c.logs(&name, tail).await?;
            print!("{text}");
            if follow {
                follow_logs(&c, &name, text).await?;
            }
        }
    }
    Ok(())
}

/// Prints what comes after `seen`, by asking for the log's end again every half second (as
/// `tail -f` checks its file once a second).
async fn follow_logs(c: &Client, name: &str, mut seen: String) -> Result<(), ClientError> {
    use std::io::Write;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = c.logs(name, 200).await?;
        let last_seen = seen.lines().last().unwrap_or("");
        let new: Vec<&str> = match now.lines().position(|l| l == last_seen) {
            Some(i) if !last_seen.is_empty() => now.lines().skip(i + 1).collect(),
            _ => now.lines().collect(),
        };
        let mut out = std::io::stdout().lock();
        for line in &new {
            if writeln!(out, "{line}").is_err() {
                return Ok(());
            }
        }
        let _ = out.flush();
        if !new.is_empty() {
            seen = now;
        }
    }
}

fn print_table(apps: &[AppInfo]) {
    let mut rows = vec![[
        "NAME".to_owned(),
        "STATE".to_owned(),
        "HEALTH".to_owned(),
        "PID".to_owned(),
        "RESTARTS".to_owned(),
        "LAST EXIT".to_owned(),
        "REASON".to_owned(),
    ]];
    for a in apps {
        rows.push([
            a.name.clone(),
            a.state.clone(),
            if a.health.is_empty() {
                "-".into()
            } else {
                a.health.clone()
            },
            if a.pid == 0 {
                "-".into()
            } else {
                a.pid.to_string()
            },
            a.restarts.to_string(),
            if a.last_exit.is_empty() {
                "-".into()
            } else {
                a.last_exit.clone()
            },
            a.reason.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i == 6 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        if writeln!(out, "{}", line.trim_end()).is_err() {
            return;
        }
    }
}

fn print_status(s: &AppInfo) {
    println!("{}: {}", s.name, s.state);
    if !s.reason.is_empty() {
        println!("  reason:    {}", s.reason);
    }
    if !s.health.is_empty() {
        println!("  health:    {}", s.health);
    }
    if s.pid != 0 {
        println!("  pid:       {}", s.pid);
    }
    println!("  restarts:  {}", s.restarts);
    if !s.last_exit.is_empty() {
        println!("  last exit: {}", s.last_exit);
    }
    if let Some(e) = s.enabled {
        println!("  enabled:   {}", if e { "yes" } else { "no" });
    }
    if let Some(m) = s.memory.filter(|m| *m > 0) {
        println!("  memory:    {} KiB", m / 1024);
    }
    if let Some(t) = s.status_text.as_deref().filter(|t| !t.is_empty()) {
        println!("  status:    {t}");
    }
    if let Some(c) = s.container.as_deref().filter(|c| !c.is_empty()) {
        println!("  container: {c}");
    }
}
