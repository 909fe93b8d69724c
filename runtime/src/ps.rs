use std::process::Command;

use libcgroups::common::{CgroupConfig, CgroupManager, create_cgroup_manager};

use crate::error::{Error, Result};
use crate::{Runtime, state};

impl Runtime {
    /// Pids of every process in the container's cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let (c, _lock) = self.load(id)?;
        let config = c
            .spec()
            .map_err(|e| Error::container("read config of", id, e))?;
        let cgroup_err = |e: Box<dyn std::error::Error + Send + Sync>| Error::Cgroup {
            id: id.to_owned(),
            source: e,
        };
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: config.cgroup_path,
            systemd_cgroup: c.systemd(),
            container_name: id.to_owned(),
        })
        .map_err(|e| cgroup_err(Box::new(e)))?;
        let mut pids: Vec<i32> = manager
            .get_all_pids()
            .map_err(|e| cgroup_err(Box::new(e)))?
            .into_iter()
            .map(|p| p.as_raw())
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }
}

pub(crate) fn command(rt: &Runtime, args: liboci_cli::Ps) -> Result<i32> {
    let pids = rt.pids(&args.container_id)?;
    match args.format.as_str() {
        "json" => println!("{}", state::to_json(&pids)?),
        "table" => print_table(&pids, &args.ps_options)?,
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
