//! Escape attempts and hardening settings, each judged from the host side.

mod common;

use std::fs::{self, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

/// Lets the container write its findings to its rootfs (the default spec's root is read-only).
fn writable(b: &Bundle) {
    b.edit(|c| c["root"]["readonly"] = json!(false));
}

/// Creates and starts the container, waits for its process to exit, and returns what it
/// wrote to `/out`.
fn run_to_the_end(b: &Bundle) -> String {
    assert!(b.create(&[]).0);
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
    assert!(b.create(&[]).0);
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

/// The host-side view of a process's working directory and root.
fn cwd_and_root(pid: i32) -> (PathBuf, PathBuf) {
    (
        fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        fs::read_link(format!("/proc/{pid}/root")).unwrap(),
    )
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
            assert!(err.starts_with("davit: "), "fd {n}: {err}");
            b.assert_nothing_left("sleep 31421");
            continue;
        }
        let pid = b.pid();
        b.must(&["start", &b.id]);
        wait_exec(pid, "sleep");
        let (cwd, root) = cwd_and_root(pid);
        assert!(
            cwd.starts_with(&root),
            "fd {n}: cwd {} outside root {}",
            cwd.display(),
            root.display()
        );
        b.must(&["delete", "--force", &b.id]);
    }

    let b = Bundle::new(&["sleep", "31422"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    let pid = b.pid();
    wait_exec(pid, "sleep");
    assert_eq!(extra_fds(pid), Vec::<String>::new(), "fds leaked into init");
    for n in 3..=20 {
        let pid_file = b.path().join(format!("exec-{n}.pid"));
        let cwd = format!("/proc/self/fd/{n}");
        let out = b.davit(&[
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
        if !out.status.success() {
            assert!(
                stderr(&out).starts_with("davit: "),
                "fd {n}: {}",
                stderr(&out)
            );
            continue;
        }
        let epid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
        wait_exec(epid, "sleep");
        let (cwd, root) = cwd_and_root(epid);
        assert!(cwd.starts_with(&root), "exec fd {n}: cwd {}", cwd.display());
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
    // must resolve inside the container's root (or create must fail), never on the host.
    let b = Bundle::new(&["sleep", "31424"]);
    let rootfs = b.path().join("rootfs");
    std::os::unix::fs::symlink("/etc", rootfs.join("etc-link")).unwrap();
    std::os::unix::fs::symlink("/", rootfs.join("rootlink")).unwrap();
    let source = b.path().join("bind-source");
    fs::create_dir(&source).unwrap();
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
    if ok {
        b.must(&["start", &b.id]);
        let out = b.must(&["exec", &b.id, "cat", "/proc/mounts"]);
        let mounts = stdout(&out);
        assert!(mounts.contains(" /etc tmpfs "), "{mounts}");
        assert!(mounts.contains(&format!(" {escape} ")), "{mounts}");
        b.must(&["delete", "--force", &b.id]);
    } else {
        assert!(err.starts_with("davit: "), "{err}");
    }
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
            "mknod /tmp/node {kind} {major} {minor} 2>/out; head -c 64 /tmp/node 2>>/out | wc -c >>/out; \
             head -c 64 /dev/listed 2>>/out | wc -c >>/out"
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
        let counts: Vec<&str> = out
            .lines()
            .filter(|l| l.trim().parse::<u32>().is_ok())
            .collect();
        assert_eq!(counts.len(), 2, "{kind} {major}:{minor}: {out}");
        assert!(
            counts.iter().all(|c| c.trim() == "0"),
            "read {kind} {major}:{minor}: {out}"
        );
        assert!(out.contains("Operation not permitted"), "{out}");
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
fn unknown_capabilities_are_refused_at_create() {
    // runtime-spec: unknown capability names MUST generate an error (runc and crun ignore them).
    let b = Bundle::new(&["sleep", "31425"]);
    b.edit(|c| {
        c["process"]["capabilities"]["bounding"] = json!(["CAP_CHOWN", "CAP_LAUNCH_MISSILES"])
    });
    let (ok, err) = b.create(&[]);
    assert!(!ok);
    assert!(err.contains("CAP_LAUNCH_MISSILES"), "{err}");
    b.assert_nothing_left("sleep 31425");
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
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    chown_tree(&b.path().join("rootfs"), HOST_ID);
    assert!(b.create(&[]).0);
    let pid = b.pid();
    b.must(&["start", &b.id]);
    let owned = b.path().join("rootfs/owned");
    wait_until(10, "the container to write /owned", || {
        fs::read_to_string(&owned).is_ok_and(|s| s.ends_with('\n'))
    });
    // Root inside, an ordinary uid outside: for its own files and for the host's view of it.
    assert_eq!(fs::read_to_string(&owned).unwrap(), "0\n");
    use std::os::unix::fs::MetadataExt;
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
