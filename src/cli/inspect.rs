//! Commands that read: state, list, ps, features, spec.

use std::path::PathBuf;
use std::process::Command;

use runtime::{Error, Listed, Result, Runtime};

use super::to_json;

pub(super) fn state(rt: &Runtime, a: liboci_cli::State) -> Result<i32> {
    println!("{}", to_json(&rt.state(&a.container_id)?)?);
    Ok(0)
}

pub(super) fn list(rt: &Runtime, a: liboci_cli::List) -> Result<i32> {
    let listed = rt.list()?;
    // A container whose state cannot be read is listed as such, and said why on stderr.
    for l in &listed {
        if let Listed::Unreadable { error, .. } = l {
            eprintln!("davit: warning: {}", runtime::one_line(error));
        }
    }
    if a.quiet {
        for l in &listed {
            println!("{}", l.id());
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            let values: Vec<serde_json::Value> = listed
                .iter()
                .map(|l| match l {
                    Listed::Container(s) => serde_json::to_value(s).unwrap_or_default(),
                    Listed::Unreadable { id, error } => serde_json::json!({
                        "id": id,
                        "status": "unknown",
                        "pid": 0,
                        "error": runtime::one_line(error),
                    }),
                })
                .collect();
            println!("{}", to_json(&values)?);
        }
        "table" => {
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for l in &listed {
                match l {
                    Listed::Container(s) => println!(
                        "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
                        s.id,
                        s.pid.map_or(0, |p| p.pid),
                        s.status,
                        s.bundle.display(),
                        s.created.as_deref().unwrap_or(""),
                        s.owner.as_deref().unwrap_or("")
                    ),
                    Listed::Unreadable { id, .. } => {
                        println!("{id:<20} {:<8} {:<10}", 0, "unknown")
                    }
                }
            }
        }
        other => {
            return Err(Error::Usage {
                what: format!("--format {other:?}"),
                reason: "expected \"table\" or \"json\"".into(),
            });
        }
    }
    Ok(0)
}

pub(super) fn ps(rt: &Runtime, a: liboci_cli::Ps) -> Result<i32> {
    let pids = rt.pids(&a.container_id)?;
    match a.format.as_str() {
        "json" => println!("{}", to_json(&pids)?),
        "table" => print_table(&pids, &a.ps_options)?,
        other => {
            return Err(Error::Usage {
                what: format!("--format {other:?}"),
                reason: "expected \"table\" or \"json\"".into(),
            });
        }
    }
    Ok(0)
}

/// Like runc: the host's `ps` with the caller's options, filtered to the container's pids.
fn print_table(pids: &[i32], options: &[String]) -> Result<()> {
    let default = ["-ef".to_owned()];
    let options = if options.is_empty() {
        &default[..]
    } else {
        options
    };
    let out = Command::new("ps")
        .args(options)
        .output()
        .map_err(|e| Error::io("run", "ps", e))?;
    if !out.status.success() {
        return Err(Error::Usage {
            what: format!("ps {}", options.join(" ")),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        return Err(Error::Usage {
            what: format!("ps {}", options.join(" ")),
            reason: "its output has no PID column".into(),
        });
    };
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}

pub(super) fn features() -> Result<i32> {
    println!("{}", to_json(&runtime::features()?)?);
    Ok(0)
}

pub(super) fn spec(a: liboci_cli::Spec) -> Result<i32> {
    if a.rootless {
        return Err(Error::Unsupported("spec --rootless".into()));
    }
    runtime::write_default_spec(&a.bundle.unwrap_or_else(|| PathBuf::from(".")))?;
    Ok(0)
}
