//! davit: one binary that runs, supervises and updates containerized apps on small boards.
//! This file only parses the command line and hands each command to the module that owns it.

mod cli;

use std::process::ExitCode;
use std::sync::LazyLock;

use clap::Parser;

static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\nspec: {}\nlibcontainer: 0.7.0",
        env!("CARGO_PKG_VERSION"),
        runtime::OCI_VERSION
    )
});

#[derive(Parser, Debug)]
#[command(name = "davit", version = VERSION.as_str(), about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: liboci_cli::GlobalOpts,

    #[command(subcommand)]
    command: cli::Command,
}

fn main() -> ExitCode {
    cli::nss::confine_static_lookups();
    let cli = Cli::parse();
    let g = &cli.global;
    let log = match cli::log::Log::init(g.log.as_deref(), g.log_format.as_deref(), g.debug) {
        Ok(log) => log,
        Err(e) => return fail(None, &e),
    };
    match cli::dispatch(g, cli.command, &log) {
        // Exit statuses are one byte; a container's code is already in range.
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => fail(Some(&log), &e),
    }
}

/// One line on stderr that says `error`, as runc's failures do (tools grep for it), and the
/// same in the log file.
fn fail(log: Option<&cli::log::Log>, e: &runtime::Error) -> ExitCode {
    let msg = runtime::one_line(e);
    if let Some(log) = log {
        log.error(&msg);
    }
    eprintln!("davit: error: {msg}");
    ExitCode::FAILURE
}
