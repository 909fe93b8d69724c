//! A container whose init fails inside libcontainer: the one-line error names the cause, the
//! errno and the path, without `--debug` (runc's wording in each test's comment).

mod common;

use std::fs::{self, File};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Runs `cmd` with stdin null and stdout/stderr on files in the bundle (a container keeps a
/// pipe open), killing it after 60 s. Returns the exit code and stderr.
fn bounded(b: &Bundle, mut cmd: Command, what: &str) -> (Option<i32>, String) {
    let err_path = b.path().join(format!("{what}.err"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(b.path().join(format!("{what}.out"))).unwrap())
        .stderr(File::create(&err_path).unwrap());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("davit {what} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status.code(), fs::read_to_string(err_path).unwrap())
}

fn create_cmd(b: &Bundle) -> Command {
    let mut c = b.cmd(&["create", "--bundle", b.path().to_str().unwrap()]);
    c.arg(&b.id);
    c
}

/// `create` fails with one line on stderr and leaves nothing behind; returns that line.
fn failed_create(b: &Bundle, cmd: Command, marker: &str) -> String {
    let (code, err) = bounded(b, cmd, "create");
    assert_eq!(code, Some(1), "create: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    b.assert_nothing_left(marker);
    err
}

/// capability(7) numbers.
const CAP_SETPCAP: libc::c_int = 8;
// Not CAP_SYS_RESOURCE: on cgroup v2, loading the device filter raises RLIMIT_MEMLOCK with
// it, and create would fail there first. davit never needs CAP_SYSLOG itself.
const CAP_SYSLOG: libc::c_int = 34;

/// The command with `cap` dropped from its bounding set: run as root without file
/// capabilities, davit then holds neither it nor can it pass it on.
fn without_capability(mut cmd: Command, cap: libc::c_int) -> Command {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    cmd
}

#[test]
fn capabilities_the_kernel_refuses_say_eperm_and_which() {
    // A config asking for a capability the runtime does not hold (CAP_SYSLOG).
    // runc: "unable to apply caps: operation not permitted".
    let b = Bundle::new(&["sleep", "31460"]);
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            let list = c["process"]["capabilities"][set].as_array_mut().unwrap();
            list.push(json!("CAP_SYSLOG"));
        }
    });
    let cmd = without_capability(create_cmd(&b), CAP_SYSLOG);
    let err = failed_create(&b, cmd, "sleep 31460");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(
        err.contains(
            "failed to apply the effective capability set \
             (CAP_SYSLOG is not in the permitted set)"
        ),
        "{err}"
    );

    // A bounding set the kernel refuses to lower: dropping needs CAP_SETPCAP. runc skips
    // the bounding set silently then; libcontainer fails, and now says why.
    let b = Bundle::new(&["sleep", "31461"]);
    let cmd = without_capability(create_cmd(&b), CAP_SETPCAP);
    let err = failed_create(&b, cmd, "sleep 31461");
    assert!(
        err.contains("failed to apply the bounding capability set (dropping needs CAP_SETPCAP"),
        "{err}"
    );
    assert!(
        err.contains("PR_CAPBSET_DROP failure: Operation not permitted"),
        "{err}"
    );
}

#[test]
fn proc_and_sys_on_a_symlink_must_be_directories() {
    // runc: error mounting "proc" to rootfs at "/proc": filesystem "proc" must be mounted on
    // ordinary directory
    for (dir, fs_type, n) in [("proc", "proc", 31462), ("sys", "sysfs", 31463)] {
        let b = Bundle::new(&["sleep", &n.to_string()]);
        let rootfs = b.path().join("rootfs");
        fs::remove_dir(rootfs.join(dir)).unwrap();
        symlink("tmp", rootfs.join(dir)).unwrap();
        let err = failed_create(&b, create_cmd(&b), &format!("sleep {n}"));
        assert!(
            err.contains(&format!(
                "on /{dir}: filesystem {fs_type} must be mounted on ordinary directory"
            )),
            "{err}"
        );
        // Nothing was mounted through the link.
        assert_eq!(fs::read_dir(rootfs.join("tmp")).unwrap().count(), 0);
    }
}

#[test]
fn a_failing_mount_names_its_destination_and_errno() {
    // runc: error mounting "none" to rootfs at "/mnt/x": mount none:/mnt/x (via
    // /proc/self/fd/6): no such device
    let b = Bundle::new(&["sleep", "31464"]);
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/mnt/x", "type": "nosuchfs", "source": "none"}));
    });
    let err = failed_create(&b, create_cmd(&b), "sleep 31464");
    assert!(err.contains("failed to mount none on /mnt/x"), "{err}");
    assert!(err.contains("No such device"), "{err}");

    // runc: error mounting "/nonexistent-31465" to rootfs at "/mnt/y": stat
    // /nonexistent-31465: no such file or directory
    let b = Bundle::new(&["sleep", "31465"]);
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/mnt/y", "type": "bind",
                           "source": "/nonexistent-31465", "options": ["bind"]}));
    });
    let err = failed_create(&b, create_cmd(&b), "sleep 31465");
    assert!(
        err.contains("failed to mount /nonexistent-31465 on /mnt/y"),
        "{err}"
    );
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn a_failing_exec_names_the_program_and_errno() {
    // Found missing before start. runc: exec: "/bin/nosuch": stat /bin/nosuch: no such file
    // or directory
    let b = Bundle::new(&["/bin/nosuch-31466"]);
    let err = failed_create(&b, create_cmd(&b), "nosuch-31466");
    assert!(
        err.contains("exec /bin/nosuch-31466: No such file or directory"),
        "{err}"
    );

    // execve itself fails, after start: the script's interpreter is missing. Nobody waits on
    // the init's channel then; like runc, the init tells the container's stderr.
    // runc: exec /bin/x.sh: no such file or directory
    let b = Bundle::new(&["/bin/x-31467.sh"]);
    let script = b.path().join("rootfs/bin/x-31467.sh");
    fs::write(&script, "#!/nonexistent-31467\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let run = b.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &b.id]);
    let (code, err) = bounded(&b, run, "run");
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("exec /bin/x-31467.sh: No such file or directory"),
        "{err}"
    );
    b.assert_nothing_left("x-31467");

    // The same program through `exec` in a running container: davit's own error line.
    let b = Bundle::new(&["sleep", "31468"]);
    let script = b.path().join("rootfs/bin/x-31468.sh");
    fs::write(&script, "#!/nonexistent-31468\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let (ok, err) = b.create(&[]);
    assert!(ok, "{err}");
    b.must(&["start", &b.id]);
    let (code, err) = bounded(&b, b.cmd(&["exec", &b.id, "/bin/x-31468.sh"]), "exec");
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(
        err.contains("exec /bin/x-31468.sh: No such file or directory"),
        "{err}"
    );
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31468");
}

#[test]
fn a_cwd_that_is_not_a_directory_is_named() {
    // runc: mkdir /bin/busybox: not a directory
    let b = Bundle::new(&["sleep", "31469"]);
    b.edit(|c| c["process"]["cwd"] = json!("/bin/busybox"));
    let err = failed_create(&b, create_cmd(&b), "sleep 31469");
    assert!(
        err.contains("chdir to /bin/busybox: ENOTDIR: Not a directory"),
        "{err}"
    );
}
