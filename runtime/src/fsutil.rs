use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `data` so that a reader, or a power cut, sees the old file or the new
/// one and never a torn one: write a temporary beside it, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_replacing(path, data, true)
}

/// Replaces `path` with `data` so that a concurrent reader sees the old file or the new one,
/// without the syncs: for container state, which a crash makes moot anyway (the processes
/// it describes are gone with it) and which would pay milliseconds per save on a disk.
pub(crate) fn replace(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_replacing(path, data, false)
}

/// What a temporary's name carries between `.NAME` and the writer's pid: written by
/// [`write_replacing`], recognised by [`remove_write_temps`].
const TEMP_MARK: &str = ".tmp";

fn write_replacing(path: &Path, data: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name")
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!("{TEMP_MARK}{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporaries [`write_atomic`] leaves in `dir` when the power is cut (or the
/// writer killed) between its create and its rename: `.NAME.tmpPID`. Only for a directory
/// whose writers are known to be idle (the caller holds their lock). Returns how many went.
pub fn remove_write_temps(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_temp = name.starts_with('.')
            && name.rsplit_once(TEMP_MARK).is_some_and(|(stem, pid)| {
                stem.len() > 1 && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
            });
        if is_temp && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    if removed > 0 {
        File::open(dir)?.sync_all()?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_write_leaves_a_temporary_that_is_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".web.toml.tmp228",
            "web.toml",
            ".web.toml",
            ".tmp12",
            ".x.tmp",
            "a.tmp3",
        ] {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        assert_eq!(remove_write_temps(dir.path()).unwrap(), 1);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".tmp12", ".web.toml", ".x.tmp", "a.tmp3", "web.toml"]
        );
        assert_eq!(remove_write_temps(&dir.path().join("none")).unwrap(), 0);
    }

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pid");
        write_atomic(&p, b"1").unwrap();
        write_atomic(&p, b"22").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"22");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(&dir.path().join("no/such/file"), b"x").is_err());
    }
}
