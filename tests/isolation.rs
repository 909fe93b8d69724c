//! Escape attempts and hardening settings, each judged from the host side.
//!
//! The same tests run against runc and crun (`DAVIT_TEST_BIN=/usr/sbin/runc`, and
//! testbeds/isolation/run.sh, which tabulates all three): a peer's result tells whether a
//! failure is davit's. Where a peer legitimately behaves otherwise, the test branches on
//! `runtime()` and says why; no branch lets any runtime escape.

mod common;

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;
use serde_json::json;

/// Lets the container write its findings to its rootfs (the default spec's root is read-only).
fn writable(b: &Bundle) {
    b.edit(|c| c["root"]["readonly"] = json!(false));
}

/// Creates and starts the container, waits for its process to exit, and returns what it
/// wrote to `/out`.
fn run_to_the_end(b: &Bundle) -> String {
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    let pid = b.pid();
    b.must(&["start", &b.id]);
    wait_exit(pid, 10);
    fs::read_to_string(b.path().join("rootfs/out")).unwrap()
}

/// A private copy of the binary under test: if an attack worked, only the copy is damaged.
fn binary_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("davit-copy");
    fs::copy(davit_bin(), &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

#[test]
fn the_runtime_binary_cannot_be_rewritten_from_a_container() {
    // CVE-2019-5736: a container process holds the runtime's binary open through
    // /proc/<pid>/exe of a runtime process in its pid namespace, and reopens it for writing
    // once no runtime process executes it. Container B is the attacker; container A is
    // created in B's pid namespace, so while A waits for `start`, its init (davit's code)
    // is visible in B. (A failed redirection would end the attacker's shell, pid 1 of the
    // namespace, hence the subshell probe.) Two layers stop it: the init is not dumpable, so B cannot open its
    // exe; and the host, which can, finds the binary on a read-only mount.
    let attack = r#"
        while :; do
          for p in /proc/[0-9]*; do
            case "$(cat $p/comm 2>/dev/null)" in
              ""|sh|cat|usleep|sleep) ;;
              *) if (exec 3<"$p/exe") 2>/dev/null; then exec 3<"$p/exe"; echo "$p" >/got;
                 else echo refused >/got; fi; break 2 ;;
            esac
          done
        done
        while [ ! -e /go ]; do usleep 1000; done
        if echo pwned 2>/err >>/proc/self/fd/3; then echo WROTE >/result; else cat /err >/result; fi
        exec sleep 31426
    "#;
    let b = Bundle::new(&["sh", "-c", attack]);
    writable(&b);
    let copy = binary_copy(b.path());
    let original = fs::read(&copy).unwrap();
    let mut b = b;
    b.bin = copy.clone();
    let (ok, err) = b.create(&[]);
    assert!(ok, "create the attacker: {err}");
    b.must(&["start", &b.id]);

    let mut a = Bundle::new(&["true"]);
    a.bin = copy.clone();
    let b_pid = b.pid();
    a.edit(|c| {
        // libcontainer 0.7 resolves its cgroup v1 mounts through /proc/<pid as seen in the
        // joined namespace>, which is another process (or none) in the host's /proc.
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/sys/fs/cgroup");
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "pid" {
                ns["path"] = json!(format!("/proc/{b_pid}/ns/pid"));
            }
        }
    });
    let (ok, err) = a.create(&[]);
    assert!(ok, "create in B's pid namespace: {err}");
    let a_pid = a.pid();
    // The host's own attempt, as root with every capability, on the same file.
    let held = fs::File::open(format!("/proc/{a_pid}/exe")).unwrap();

    let rootfs_b = b.path().join("rootfs");
    wait_until(10, "the attacker to find davit's init", || {
        rootfs_b.join("got").exists()
    });
    a.must(&["start", &a.id]);
    wait_exit(a_pid, 10);
    fs::write(rootfs_b.join("go"), "").unwrap();
    wait_until(10, "the attacker's write attempt", || {
        fs::read_to_string(rootfs_b.join("result")).is_ok_and(|r| !r.is_empty())
    });
    let result = fs::read_to_string(rootfs_b.join("result")).unwrap();
    let got = fs::read_to_string(rootfs_b.join("got")).unwrap();
    assert!(
        !result.contains("WROTE"),
        "container wrote to the runtime binary (got {got})"
    );
    assert!(
        result.contains("Read-only file system") || got.contains("refused"),
        "attempt failed for another reason than the read-only mount: {result}"
    );

    let reopen = OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{}", held.as_raw_fd()));
    assert_eq!(
        reopen.map(|_| ()).map_err(|e| e.raw_os_error()),
        Err(Some(libc::EROFS)),
        "the host could reopen davit's exe for writing"
    );
    assert!(fs::read(&copy).unwrap() == original, "binary changed");
    a.must(&["delete", "--force", &a.id]);
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31426");
}

/// Whether an ELF executable names a program interpreter (PT_INTERP): is dynamically linked.
fn has_interpreter(path: &Path) -> bool {
    const PT_INTERP: u32 = 3;
    let elf = fs::read(path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF", "{}: not an ELF file", path.display());
    let le = |at: usize, n: usize| {
        elf[at..at + n]
            .iter()
            .rev()
            .fold(0usize, |v, b| v << 8 | *b as usize)
    };
    // e_phoff, e_phentsize and e_phnum sit elsewhere in a 32-bit header (the armv7 boards).
    let (phoff, phentsize, phnum) = match elf[4] {
        1 => (le(0x1c, 4), le(0x2a, 2), le(0x2c, 2)),
        2 => (le(0x20, 8), le(0x36, 2), le(0x38, 2)),
        class => panic!("{}: unknown ELF class {class}", path.display()),
    };
    (0..phnum).any(|i| le(phoff + i * phentsize, 4) == PT_INTERP as usize)
}

#[test]
fn a_container_whose_process_is_proc_self_exe_leaves_the_runtime_binary_intact() {
    // CVE-2019-5736, the other way in: process.args ["/proc/self/exe"] makes the runtime's
    // init execute its own binary as the container's process.
    let mut b = Bundle::new(&["/proc/self/exe"]);
    let copy = binary_copy(b.path());
    let original = fs::read(&copy).unwrap();
    b.bin = copy.clone();
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    let pid = b.pid();
    b.must(&["start", &b.id]);
    wait_exit(pid, 10);
    assert!(fs::read(&copy).unwrap() == original, "binary changed");
    let out = fs::read_to_string(b.path().join("create.out")).unwrap();
    let err = fs::read_to_string(b.path().join("create.err")).unwrap();
    // The rootfs is busybox alone: a static runtime (davit's release build) runs there and
    // prints its usage; a dynamic one (a debug build, Debian's runc) finds no ld.so.
    if has_interpreter(&copy) {
        assert!(
            err.to_lowercase()
                .contains("exec /proc/self/exe: no such file or directory"),
            "out: {out} err: {err}"
        );
    } else {
        // (Without a subcommand, a CLI prints its usage as an error, on stderr.)
        let printed = format!("{out}{err}").to_lowercase();
        assert!(printed.contains("usage:"), "out: {out} err: {err}");
    }
    b.must(&["delete", &b.id]);
}

/// The CVE-2019-5736 attacker of `runtime exec` (see the script's header).
const ATTACK_EXE: &str = include_str!("../testbeds/isolation/attack-exe.sh");

#[test]
fn the_runtime_binary_cannot_be_rewritten_through_an_exec() {
    // CVE-2019-5736 during `exec`: the container's init watches for a process whose exe is not
    // busybox (the runtime's process setting up the exec), holds that exe open and, once the
    // process is gone, reopens it for writing. With default capabilities the exe can only be
    // opened in a short window (the process is not dumpable until it drops its capabilities),
    // so a miss proves nothing: a control run checks that the attacker works. With
    // CAP_SYS_PTRACE the window is always open, and only a read-only binary is left to stop it.
    for cap in [None, Some("CAP_SYS_PTRACE")] {
        let mut b = Bundle::new(&["/bin/sh", "/attack.sh"]);
        writable(&b);
        let rootfs = b.path().join("rootfs");
        fs::write(rootfs.join("attack.sh"), ATTACK_EXE).unwrap();
        fs::set_permissions(rootfs.join("attack.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        // The control: busybox under a name the attacker does not skip (argv[0] picks sleep).
        fs::create_dir(rootfs.join("ctl")).unwrap();
        fs::copy(BUSYBOX, rootfs.join("ctl/sleep")).unwrap();
        if let Some(cap) = cap {
            b.edit(|c| {
                for set in ["bounding", "effective", "permitted"] {
                    c["process"]["capabilities"][set]
                        .as_array_mut()
                        .unwrap()
                        .push(json!(cap));
                }
            });
        }
        let copy = binary_copy(b.path());
        let original = fs::read(&copy).unwrap();
        b.bin = copy.clone();
        let (ok, err) = b.create(&[]);
        assert!(ok, "{cap:?}: create: {err}");
        b.must(&["start", &b.id]);
        wait_until(10, "the attacker to start", || {
            rootfs.join("started").exists()
        });
        let found = rootfs.join("found");
        for _ in 0..20 {
            let out = output_within(b.cmd(&["exec", &b.id, "/bin/true"]), 20, "exec");
            assert!(out.status.success(), "{cap:?}: exec: {}", stderr(&out));
            if found.exists() {
                break;
            }
        }
        let ctl_before = fs::read(rootfs.join("ctl/sleep")).unwrap();
        if cap.is_some() {
            wait_until(10, "the attacker to grab the runtime's exe", || {
                found.exists()
            });
        } else if !found.exists() {
            let out = output_within(b.cmd(&["exec", &b.id, "/ctl/sleep", "0.5"]), 20, "exec");
            assert!(out.status.success(), "control exec: {}", stderr(&out));
        }
        let result = || fs::read_to_string(rootfs.join("result")).unwrap_or_default();
        wait_until(30, "the attacker's write attempt", || !result().is_empty());
        // Read only now: the shell may write what it grabbed after the exec that let it.
        let grabbed = fs::read_to_string(&found).unwrap();
        if grabbed.trim_end().ends_with("/ctl/sleep") {
            assert!(
                result().starts_with("WRITE-OK")
                    && fs::read(rootfs.join("ctl/sleep")).unwrap() != ctl_before,
                "the attacker failed its control, so its miss proves nothing: {}",
                result()
            );
        } else {
            assert!(
                result().starts_with("WRITE-FAILED") && result().contains("Read-only file system"),
                "{cap:?}: grabbed {grabbed}, then: {}",
                result()
            );
        }
        assert!(
            fs::read(&copy).unwrap() == original,
            "{cap:?}: binary changed"
        );
        b.must(&["delete", "--force", &b.id]);
        b.assert_nothing_left("/attack.sh");
    }
}

/// Whether `pid`'s working directory lies inside its root, by device and inode: going up with
/// `..` from the cwd either meets the root or stops at the top of another tree (the host's /).
/// The host's readlink of /proc/PID/cwd cannot tell: after pivot_root the container's root is
/// not reachable from the host's, and reads as `/`, so every cwd "starts with" it.
fn cwd_inside_root(pid: i32) -> bool {
    let id = |p: &Path| {
        let m = fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        (m.dev(), m.ino())
    };
    let root = id(Path::new(&format!("/proc/{pid}/root")));
    let mut dir = PathBuf::from(format!("/proc/{pid}/cwd"));
    let mut here = id(&dir);
    // The bound only guards against a loop: no real tree is this deep.
    for _ in 0..4096 {
        if here == root {
            return true;
        }
        dir.push("..");
        let up = id(&dir);
        if up == here {
            return false;
        }
        here = up;
    }
    panic!("no top above {}", dir.display());
}

/// Waits until `pid` runs `program`: `start` and `exec --detach` return once the process is
/// told to go, before its execve closes the runtime's close-on-exec descriptors.
fn wait_exec(pid: i32, program: &str) {
    wait_until(10, &format!("{pid} to exec {program}"), || {
        fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(program.as_bytes()))
    });
}

/// Descriptors of `pid` other than stdio.
fn extra_fds(pid: i32) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !["0", "1", "2"].contains(&n.as_str()))
        .collect()
}

/// Asserts that a refused cwd of /proc/self/fd/N was refused for that cwd, in each runtime's
/// own words: the descriptor is not a directory, is closed, or is a directory outside the root.
fn assert_cwd_refused(n: u32, exec: bool, err: &str) {
    let fd = format!("/proc/self/fd/{n}");
    let reasons: Vec<String> = match runtime() {
        Runtime::Davit => {
            let what = if exec { "exec in" } else { "create" };
            assert!(
                err.starts_with(&format!("davit: error: {what} container ")),
                "fd {n}: {err}"
            );
            vec![
                format!("failed to chdir to {fd}: ENOTDIR: Not a directory"),
                format!("failed to chdir to {fd}: ENOENT: No such file or directory"),
                "failed to verify if current working directory is safe: ENOENT".into(),
            ]
        }
        // runc makes the cwd at create (mkdir -p, which fails first) and enters it at exec;
        // its own check (GHSA-xr7r-f8xq-vfvv) reports a breakout.
        Runtime::Runc if exec => ["not a directory", "no such file or directory"]
            .iter()
            .map(|e| format!(r#"chdir to cwd (\"{fd}\") set in config.json failed: {e}"#))
            .chain(["possible container breakout detected".into()])
            .collect(),
        Runtime::Runc => ["not a directory", "no such file or directory"]
            .iter()
            .map(|e| format!("mkdir {fd}: {e}"))
            .chain(["possible container breakout detected".into()])
            .collect(),
        // crun refuses every container on a hybrid cgroup host like the one these results
        // come from, so its words could not be checked: its refusal is all that is asserted.
        Runtime::Crun => return,
    };
    assert!(
        reasons.iter().any(|r| err.contains(r.as_str())),
        "fd {n}: refused for another reason than the cwd: {err}"
    );
}

#[test]
fn a_cwd_through_an_inherited_fd_never_leaves_the_container() {
    // CVE-2024-21626: process.cwd = /proc/self/fd/<n> names a descriptor the runtime leaked
    // into the container (a host directory); no process may ever run with it as cwd.
    for n in 3..=20 {
        let b = Bundle::new(&["sleep", "31421"]);
        let cwd = format!("/proc/self/fd/{n}");
        b.edit(|c| c["process"]["cwd"] = json!(cwd));
        let (ok, err) = b.create(&[]);
        if !ok {
            assert_cwd_refused(n, false, &err);
            b.assert_nothing_left("sleep 31421");
            continue;
        }
        let pid = b.pid();
        b.must(&["start", &b.id]);
        wait_exec(pid, "sleep");
        assert!(
            cwd_inside_root(pid),
            "fd {n}: the container's process runs with its cwd outside its root ({})",
            fs::read_link(format!("/proc/{pid}/cwd")).unwrap().display()
        );
        b.must(&["delete", "--force", &b.id]);
    }

    let b = Bundle::new(&["sleep", "31422"]);
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    b.must(&["start", &b.id]);
    let pid = b.pid();
    wait_exec(pid, "sleep");
    assert_eq!(extra_fds(pid), Vec::<String>::new(), "fds leaked into init");
    for n in 3..=20 {
        let pid_file = b.path().join(format!("exec-{n}.pid"));
        let cwd = format!("/proc/self/fd/{n}");
        let err_path = b.path().join(format!("exec-{n}.err"));
        let mut exec = b.cmd(&[
            "exec",
            "--detach",
            "--cwd",
            &cwd,
            "--pid-file",
            pid_file.to_str().unwrap(),
            &b.id,
            "sleep",
            "31423",
        ]);
        // Not pipes: a detached process that got in would hold them open for good.
        exec.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&err_path).unwrap());
        let mut child = exec.spawn().unwrap();
        if !exits_within(child.id() as i32, 20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("exec fd {n}: still running after 20 s");
        }
        if !child.wait().unwrap().success() {
            assert_cwd_refused(n, true, &fs::read_to_string(&err_path).unwrap());
            continue;
        }
        let epid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
        wait_exec(epid, "sleep");
        assert!(
            cwd_inside_root(epid),
            "exec fd {n}: the exec'd process runs with its cwd outside the root ({})",
            fs::read_link(format!("/proc/{epid}/cwd"))
                .unwrap()
                .display()
        );
        assert_eq!(
            extra_fds(epid),
            Vec::<String>::new(),
            "fds leaked into exec"
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(epid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31422");
    b.assert_nothing_left("sleep 31423");
}

#[test]
fn the_cwd_check_tells_inside_from_outside() {
    // The control of `cwd_inside_root`, on which the test above relies to see an escape:
    // processes chrooted into a rootfs, one left with its cwd outside it (chroot(2) does not
    // move the cwd), the others with their cwd at or under the new root. No runtime involved.
    let b = Bundle::new(&["true"]);
    let rootfs = b.path().join("rootfs");
    for (cwd, inside) in [
        (b.path(), false),
        (&*rootfs, true),
        (&*rootfs.join("tmp"), true),
    ] {
        let root = std::ffi::CString::new(rootfs.as_os_str().as_encoded_bytes()).unwrap();
        let mut cmd = std::process::Command::new("/bin/sleep");
        cmd.arg("31428").current_dir(cwd);
        // SAFETY: chroot(2) is async-signal-safe, and the CString outlives the spawn.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                if libc::chroot(root.as_ptr()) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        // spawn returns once the exec is done (or failed): the cwd is in place.
        let mut child = cmd.spawn().unwrap();
        let seen = cwd_inside_root(child.id() as i32);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(seen, inside, "cwd {}", cwd.display());
    }
}

/// Mount points of the host's (this test process's) mount namespace.
fn host_mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .collect()
}

#[test]
fn mounts_through_symlinks_land_inside_the_rootfs() {
    // A rootfs whose mount destinations are symlinks to the host's / and /etc: the mounts
    // must resolve inside the container's root, never on the host. Every runtime resolves
    // them in the rootfs (runc since CVE-2021-30465), so none has a reason to refuse.
    let b = Bundle::new(&["sleep", "31424"]);
    let rootfs = b.path().join("rootfs");
    std::os::unix::fs::symlink("/etc", rootfs.join("etc-link")).unwrap();
    std::os::unix::fs::symlink("/", rootfs.join("rootlink")).unwrap();
    let source = b.path().join("bind-source");
    fs::create_dir(&source).unwrap();
    fs::write(source.join("marker"), "bind source\n").unwrap();
    let escape = format!("/davit-escape-{}", b.id);
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/etc-link", "type": "tmpfs", "source": "tmpfs"}));
        mounts.push(json!({
            "destination": format!("/rootlink{escape}"),
            "type": "bind",
            "source": source,
            "options": ["bind"]
        }));
    });
    let before = host_mount_points();
    let (ok, err) = b.create(&[]);
    let after = host_mount_points();
    assert_eq!(before, after, "create changed the host's mounts");
    assert!(
        !Path::new(&escape).exists(),
        "{escape} appeared on the host"
    );
    assert!(ok, "create refused: {err}");
    b.must(&["start", &b.id]);
    let out = b.must(&["exec", &b.id, "cat", "/proc/mounts"]);
    let mounts = stdout(&out);
    assert!(mounts.contains(" /etc tmpfs "), "{mounts}");
    assert!(mounts.contains(&format!(" {escape} ")), "{mounts}");
    // The bind is the source's directory, and the link a link still (the mount went on its
    // target, not over the link).
    let probe = format!("cat {escape}/marker; [ -L /etc-link ] && echo still a link");
    let out = b.must(&["exec", &b.id, "sh", "-c", &probe]);
    assert_eq!(stdout(&out), "bind source\nstill a link\n");
    assert_eq!(
        host_mount_points(),
        before,
        "the host's mounts changed after start"
    );
    b.must(&["delete", "--force", &b.id]);
    assert!(
        !Path::new(&escape).exists(),
        "{escape} appeared on the host"
    );
    b.assert_nothing_left("sleep 31424");
}

/// The major:minor of a whole disk on the host, if there is one.
fn host_disk() -> Option<(u32, u32)> {
    let mut disks: Vec<_> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram"))
        .collect();
    disks.sort();
    let dev = fs::read_to_string(format!("/sys/block/{}/dev", disks.first()?)).ok()?;
    let (major, minor) = dev.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[test]
fn devices_outside_the_allowlist_cannot_be_opened_even_with_cap_mknod() {
    // CAP_MKNOD granted, so only the device cgroup (v1 devices controller, v2 eBPF filter),
    // which allows just the standard devices, stands between the container and the host's
    // devices: /dev/kmsg (every kernel has it) and the host's disk where there is one. Each
    // is tried as a node the container makes and as one config.json asks the runtime to make.
    let mut targets = vec![("c", 1, 11)];
    if let Some((major, minor)) = host_disk() {
        targets.push(("b", major, minor));
    }
    for (kind, major, minor) in targets {
        let script = format!(
            "exec >/out 2>&1; mknod /tmp/node {kind} {major} {minor} && echo mknod=ok; \
             echo listed=$(stat -c '%F %t:%T' /dev/listed); \
             for n in /tmp/node /dev/listed; do \
               head -c 64 $n >/tmp/data 2>/tmp/err; echo \"read $n: $(wc -c </tmp/data) $(cat /tmp/err)\"; \
             done"
        );
        let b = Bundle::new(&["sh", "-c", &script]);
        writable(&b);
        b.edit(|c| {
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("CAP_MKNOD"));
            }
            c["linux"]["devices"] =
                json!([{"path": "/dev/listed", "type": kind, "major": major, "minor": minor}]);
        });
        let out = run_to_the_end(&b);
        let what = format!("{kind} {major}:{minor}");
        // Both nodes must exist, or their refusal would not be the device cgroup's.
        assert!(out.contains("mknod=ok\n"), "{what}: {out}");
        let file_type = if kind == "c" {
            "character special file"
        } else {
            "block special file"
        };
        let listed = format!("listed={file_type} {major:x}:{minor:x}\n");
        assert!(out.contains(&listed), "{what}: no {listed:?} in {out}");
        for node in ["/tmp/node", "/dev/listed"] {
            let denied = format!("read {node}: 0 head: {node}: Operation not permitted\n");
            assert!(out.contains(&denied), "{what}: no {denied:?} in {out}");
        }
        b.must(&["delete", &b.id]);
    }
}

#[test]
fn hardening_settings_are_enforced() {
    // noNewPrivileges, masked and read-only paths, rlimits, oom_score_adj, a sysctl and the
    // default capability set, each read back from inside the container.
    let script = "grep -E '^(NoNewPrivs|CapEff|CapBnd):' /proc/self/status; \
                  echo masked=$(wc -c </proc/timer_list); \
                  grep ' /proc/sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1 | sed 's/^/sys=/'; \
                  echo nofile=$(ulimit -n); echo oom=$(cat /proc/self/oom_score_adj); \
                  echo forward=$(cat /proc/sys/net/ipv4/ip_forward)";
    let b = Bundle::new(&["sh", "-c", &format!("({script}) >/out 2>&1")]);
    writable(&b);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 321, "soft": 123}]);
        c["process"]["oomScoreAdj"] = json!(654);
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    });
    let out = run_to_the_end(&b);
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {k} in {out}"))
    };
    assert_eq!(field("NoNewPrivs:"), "1");
    // `davit spec`'s default set, as runc's: KILL, NET_BIND_SERVICE, AUDIT_WRITE.
    assert_eq!(field("CapEff:"), "0000000020000420");
    assert_eq!(field("CapBnd:"), "0000000020000420");
    assert_eq!(field("masked="), "0");
    assert_eq!(field("sys="), "ro");
    assert_eq!(field("nofile="), "123");
    assert_eq!(field("oom="), "654");
    assert_eq!(field("forward="), "1");
    b.must(&["delete", &b.id]);
}

#[test]
fn unknown_capabilities_are_ignored_with_a_warning() {
    // runtime-spec 1.1 (config.md, Linux process): a capability the runtime cannot map "MUST
    // be logged as a warning by the runtime. Runtimes SHOULD NOT fail"; runc and crun leave
    // the name out. The same for `exec --cap`.
    let b = Bundle::new(&["sleep", "31425"]);
    b.edit(|c| {
        c["process"]["capabilities"]["bounding"] = json!(["CAP_CHOWN", "CAP_LAUNCH_MISSILES"])
    });
    let log = b.path().join("warnings.log");
    let log = log.to_str().unwrap();
    let mut create = b.cmd(&[
        "--log",
        log,
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
    ]);
    create
        .arg(&b.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(b.path().join("create.err")).unwrap());
    let status = create.status().unwrap();
    let err = fs::read_to_string(b.path().join("create.err")).unwrap();
    assert!(
        status.success(),
        "create refused an unknown capability: {err}"
    );
    // The known name is granted, the unknown one is left out.
    let caps = fs::read_to_string(format!("/proc/{}/status", b.pid())).unwrap();
    assert!(
        caps.lines().any(|l| l == "CapBnd:\t0000000000000001"),
        "bounding set is not CAP_CHOWN alone: {caps}"
    );
    b.must(&["start", &b.id]);
    let out = output_within(
        b.cmd(&[
            "--log",
            log,
            "exec",
            "--cap",
            "CAP_LAUNCH_MISSILES",
            &b.id,
            "true",
        ]),
        30,
        "exec --cap",
    );
    assert!(
        out.status.success(),
        "exec refused an unknown capability: {}",
        stderr(&out)
    );
    if runtime() != Runtime::Crun {
        let logged = fs::read_to_string(log).unwrap_or_default();
        assert!(
            logged.matches("CAP_LAUNCH_MISSILES").count() >= 2,
            "no warning for create and exec naming the capability in the log: {logged:?}"
        );
    }
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31425");
}

/// Gives the container a user namespace that maps its ids 0-65535 to `host_id` and up, and
/// hands the rootfs to `host_id`.
fn in_a_user_namespace(b: &Bundle, host_id: u32) {
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": host_id, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    chown_tree(&b.path().join("rootfs"), host_id);
}

/// `chown -R` without following symlinks: the documented step that hands a rootfs to the
/// host uid that a user namespace maps root to.
fn chown_tree(path: &Path, id: u32) {
    std::os::unix::fs::lchown(path, Some(id), Some(id)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for e in fs::read_dir(path).unwrap().flatten() {
            chown_tree(&e.path(), id);
        }
    }
}

#[test]
fn a_user_namespace_maps_container_root_to_an_unprivileged_host_uid() {
    const HOST_ID: u32 = 100_000;
    let b = Bundle::new(&["sh", "-c", "id -u > /owned; exec sleep 31427"]);
    writable(&b);
    in_a_user_namespace(&b, HOST_ID);
    let (ok, err) = b.create(&[]);
    assert!(ok, "create: {err}");
    let pid = b.pid();
    b.must(&["start", &b.id]);
    let owned = b.path().join("rootfs/owned");
    wait_until(10, "the container to write /owned", || {
        fs::read_to_string(&owned).is_ok_and(|s| s.ends_with('\n'))
    });
    // Root inside, an ordinary uid outside: for its own files and for the host's view of it.
    assert_eq!(fs::read_to_string(&owned).unwrap(), "0\n");
    assert_eq!(fs::metadata(&owned).unwrap().uid(), HOST_ID);
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().skip(1).collect::<Vec<_>>(),
        vec!["100000"; 4],
        "{uid_line}"
    );
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31427");
}

#[test]
fn a_user_namespace_container_gets_bind_sources_its_root_could_not_reach() {
    // The sources sit under a directory only the host's root may search (mode 000): the
    // container's root, uid 100000 on the host, could not open them, so the runtime opens
    // them on the host's side before the container enters its user namespace (runc's and
    // crun's mount fds). One source is reached through a symlink.
    const HOST_ID: u32 = 100_000;
    let b = Bundle::new(&[
        "sh",
        "-c",
        "cat /from-host/content /via-link/content > /out 2>&1; \
         touch /from-host/written 2>>/out; true",
    ]);
    writable(&b);
    let locked = b.path().join("locked-31429");
    fs::create_dir_all(locked.join("m")).unwrap();
    fs::write(locked.join("m/content"), "from-host-31429\n").unwrap();
    std::os::unix::fs::symlink(locked.join("m"), locked.join("s")).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    in_a_user_namespace(&b, HOST_ID);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().extend([
            json!({"destination": "/from-host", "type": "bind",
                   "source": locked.join("m"), "options": ["bind", "ro"]}),
            json!({"destination": "/via-link", "type": "bind",
                   "source": locked.join("s"), "options": ["rbind", "ro"]}),
        ]);
    });
    let out = run_to_the_end(&b);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("from-host-31429"), "{out}");
    assert_eq!(lines.next(), Some("from-host-31429"), "{out}");
    // Still read-only, as the config says.
    assert!(
        lines
            .next()
            .is_some_and(|l| l.contains("Read-only file system")),
        "{out}"
    );
    assert!(!locked.join("m/written").exists());
    b.must(&["delete", &b.id]);
    b.assert_nothing_left("from-host-31429");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn a_read_only_cgroup_mount_cannot_be_written_from_inside() {
    // The default spec mounts /sys/fs/cgroup "ro". On cgroup v1 that is a tmpfs with one
    // mount per hierarchy: each of them, and the tmpfs, must be read-only, or the container
    // can raise its own limits (pids.max) or make cgroups of its own.
    let b = Bundle::new(&[
        "sh",
        "-c",
        "{ grep ' /sys/fs/cgroup' /proc/self/mountinfo; \
           for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do \
             [ -e $f ] && { echo 7 > $f && echo WROTE $f; }; done; \
           mkdir /sys/fs/cgroup/davit-escape && echo MADE dir; \
           mkdir /sys/fs/cgroup/pids/davit-escape /sys/fs/cgroup/davit-escape2 && echo MADE cgroup; \
         } >/out 2>&1",
    ]);
    writable(&b);
    let out = run_to_the_end(&b);
    // mountinfo: field 5 is the mount point, field 6 the per-mount options.
    let mounts: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|p| p.starts_with("/sys/fs/cgroup"))
        })
        .collect();
    assert!(!mounts.is_empty(), "no cgroup mount inside: {out}");
    for m in &mounts {
        // runc 1.1 leaves the tmpfs above the v1 hierarchies writable (a directory made there
        // is no cgroup); davit remounts it read-only as well.
        if runtime() != Runtime::Davit && m.contains(" - tmpfs ") {
            continue;
        }
        let opts = m.split(' ').nth(5).unwrap_or("");
        assert!(
            opts.split(',').any(|o| o == "ro"),
            "a writable cgroup mount inside the container: {m}"
        );
    }
    assert!(!out.contains("WROTE"), "{out}");
    assert!(!out.contains("MADE cgroup"), "{out}");
    if runtime() == Runtime::Davit {
        assert!(!out.contains("MADE dir"), "{out}");
    }
    assert!(out.contains("Read-only file system"), "{out}");
    b.must(&["delete", &b.id]);
}
