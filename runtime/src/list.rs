use std::fs;

use crate::error::{Error, Result};
use crate::{ContainerState, Runtime, state, status_word};

impl Runtime {
    /// Every container under the root, sorted by id. A directory whose state cannot be read
    /// (a create in progress) is left out.
    pub fn list(&self) -> Result<Vec<ContainerState>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read state root", &self.root, e)),
        };
        let mut states: Vec<ContainerState> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|id| self.state(&id).ok())
            .collect();
        states.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(states)
    }
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::List) -> Result<i32> {
    let states = rt.list()?;
    if args.quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(0);
    }
    match args.format.as_str() {
        "json" => println!("{}", state::to_json(&states)?),
        "table" => {
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for s in &states {
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
                    s.id,
                    s.pid,
                    status_word(s.status),
                    s.bundle.display(),
                    s.created.as_deref().unwrap_or(""),
                    s.owner.as_deref().unwrap_or("")
                );
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
