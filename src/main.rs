//! davit: one binary that runs, supervises and updates containerized apps on small boards.
//! This file only parses the command line and hands each command to the crate that owns it.

use std::process::ExitCode;

use clap::Parser;

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nspec: 1.2.1\nlibcontainer: 0.7.0"
);

#[derive(Parser, Debug)]
#[command(name = "davit", version = VERSION, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: liboci_cli::GlobalOpts,

    #[command(subcommand)]
    command: runtime::cli::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let g = &cli.global;
    let log = match runtime::log::Log::init(g.log.as_deref(), g.log_format.as_deref(), g.debug) {
        Ok(log) => log,
        Err(e) => return fail(None, &e),
    };
    match runtime::cli::dispatch(g, cli.command) {
        // Exit statuses are one byte; a container's code is already in range.
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => fail(Some(&log), &e),
    }
}

fn fail(log: Option<&runtime::log::Log>, e: &runtime::Error) -> ExitCode {
    let msg = runtime::one_line(e);
    if let Some(log) = log {
        log.error(&msg);
    }
    eprintln!("davit: {msg}");
    ExitCode::FAILURE
}
