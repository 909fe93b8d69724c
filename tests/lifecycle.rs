//! create -> start -> kill -> delete of real busybox containers, as runc's users drive it.

mod common;

use std::fs;

use common::*;

#[test]
fn lifecycle_with_sigkill() {
    let b = Bundle::new(&["sleep", "31337"]);
    let pid_file = b.path().join("container.pid");
    let (ok, err) = b.create(&["--pid-file", pid_file.to_str().unwrap()]);
    assert!(ok, "create: {err}");

    let s = b.state();
    assert_state_schema(&s);
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], b.id.as_str());
    assert_eq!(s["bundle"], b.path().to_str().unwrap());
    let pid = s["pid"].as_i64().unwrap() as i32;
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // Created means the user process has not run yet: init still waits in davit's code.
    assert!(
        !fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap()
            .contains("31337")
    );

    b.must(&["start", &b.id]);
    let s = b.state();
    assert_state_schema(&s);
    assert_eq!(s["status"], "running");
    assert_eq!(s["pid"], pid);

    b.must(&["kill", &b.id, "KILL"]);
    wait_exit(pid, 10);
    let s = b.state();
    assert_state_schema(&s);
    assert_eq!(s["status"], "stopped");

    b.must(&["delete", &b.id]);
    let out = b.davit(&["state", &b.id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    b.assert_nothing_left("31337");
}

#[test]
fn sigterm_reaches_a_process_that_traps_it() {
    // pid 1 of a pid namespace ignores signals it has no handler for, so the container
    // traps TERM and exits with a code of its own choosing; `run` hands that code back,
    // which proves the handler ran rather than the process dying of the signal.
    let b = Bundle::new(&["sh", "-c", "trap 'exit 42' TERM; sleep 31338 & wait"]);
    let err = b.path().join("run.err");
    let mut run = b
        .cmd(&["run", "--bundle", b.path().to_str().unwrap(), &b.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    wait_until(30, "the container to run", || {
        let out = b.davit(&["state", &b.id]);
        out.status.success()
            && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .is_ok_and(|s| s["status"] == "running")
    });
    let pid = b.pid();
    wait_for_handler(pid, libc::SIGTERM);
    b.must(&["kill", &b.id, "SIGTERM"]);
    assert!(
        exits_within(run.id() as i32, 10),
        "run still waits 10 s after SIGTERM"
    );
    let status = run.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(42),
        "the trap's exit code: {}",
        fs::read_to_string(&err).unwrap()
    );
    b.assert_nothing_left("31338");
}

#[test]
fn signal_numbers_are_accepted_and_created_survives_a_harmless_one() {
    let b = Bundle::new(&["sleep", "31339"]);
    assert!(b.create(&[]).0);
    // SIGCONT (18) does nothing to a waiting init: the container stays created.
    b.must(&["kill", &b.id, "18"]);
    assert_eq!(b.status(), "created");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("31339");
}

#[test]
fn run_returns_the_container_exit_code() {
    for (args, code) in [
        (vec!["true"], 0),
        (vec!["false"], 1),
        (vec!["sh", "-c", "exit 42"], 42),
    ] {
        let b = Bundle::new(&args);
        let out = b.davit(&["run", "--bundle", b.path().to_str().unwrap(), &b.id]);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        // run deletes the container once it exits
        assert!(!b.root.join(&b.id).exists());
    }
}

#[test]
fn run_detached_then_delete_force() {
    let b = Bundle::new(&["sleep", "31340"]);
    let out = b
        .cmd(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &b.id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    assert_eq!(b.status(), "running");
    let out = b.davit(&["list", "-q"]);
    assert_eq!(stdout(&out).trim(), b.id);
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("31340");
}

#[test]
fn exec_and_ps() {
    let b = Bundle::new(&["sleep", "31341"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    let init = b.pid();

    let out = b.davit(&["exec", &b.id, "sh", "-c", "echo in-$HOSTNAME; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "in-davit");

    let out = b.davit(&[
        "exec",
        "--env",
        "GREETING=hi",
        "--cwd",
        "/tmp",
        &b.id,
        "sh",
        "-c",
        "echo $GREETING $(pwd)",
    ]);
    assert_eq!(stdout(&out).trim(), "hi /tmp", "{}", stderr(&out));

    let pid_file = b.path().join("exec.pid");
    // Detached, the process keeps whatever stdio it gets: a captured pipe would never close.
    let st = b
        .cmd(&[
            "exec",
            "-d",
            "--pid-file",
            pid_file.to_str().unwrap(),
            &b.id,
            "sleep",
            "31342",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let exec_pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();

    let out = b.must(&["ps", "--format", "json", &b.id]);
    let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(pids.contains(&init) && pids.contains(&exec_pid), "{pids:?}");
    assert_eq!(pids.len(), 2, "{pids:?}");

    let out = b.must(&["ps", &b.id]);
    let table = stdout(&out);
    assert!(table.lines().next().unwrap().contains("PID"));
    assert!(table.contains("sleep 31342"), "{table}");

    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31341");
    b.assert_nothing_left("sleep 31342");
}

#[test]
fn exec_with_a_process_json() {
    let b = Bundle::new(&["sleep", "31343"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    let process = serde_json::json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", "echo $FROM_JSON; exit 5"],
        "env": ["PATH=/bin", "FROM_JSON=yes"],
        "cwd": "/"
    });
    let p = b.path().join("process.json");
    fs::write(&p, process.to_string()).unwrap();
    let out = b.davit(&["exec", "--process", p.to_str().unwrap(), &b.id]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "yes");
}

/// `davit run` in the foreground, returned once the container printed "ready" on its
/// stdout (which is davit's stdout in the foreground).
fn run_until_ready(b: &Bundle) -> std::process::Child {
    use std::io::BufRead;
    let mut child = b
        .cmd(&["run", "--bundle", b.path().to_str().unwrap(), &b.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // A container that never prints fails the test instead of hanging it; "ready\n" comes in
    // one write, so once readable the line is there whole.
    let mut pfd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&stdout),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pfd is a valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, 30_000) };
    assert_eq!(n, 1, "the container printed nothing within 30 s");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    child
}

/// The exit status of `davit run`, which must end within `secs`.
fn run_status(mut child: std::process::Child, secs: u64) -> std::process::ExitStatus {
    assert!(
        exits_within(child.id() as i32, secs),
        "davit run still runs after {secs} s"
    );
    child.wait().unwrap()
}

#[test]
fn run_in_the_foreground_forwards_signals_and_reports_death_by_signal() {
    // TERM sent to `davit run` reaches the container, which traps it (set before "ready").
    let b = Bundle::new(&[
        "sh",
        "-c",
        "trap 'exit 42' TERM; echo ready; sleep 31344 & wait",
    ]);
    let child = run_until_ready(&b);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(run_status(child, 30).code(), Some(42));
    b.assert_nothing_left("sleep 31344");

    // KILL from `davit kill` ends it: exit code 128+9, as a shell reports it.
    let b = Bundle::new(&["sh", "-c", "echo ready; exec sleep 31345"]);
    let child = run_until_ready(&b);
    b.must(&["kill", &b.id, "KILL"]);
    assert_eq!(run_status(child, 30).code(), Some(137));
    b.assert_nothing_left("sleep 31345");
}

#[test]
fn features_and_version() {
    let b = Bundle::new(&["true"]);
    let out = b.must(&["features"]);
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert!(
        f["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "poststart")
    );
    let caps = f["linux"]["capabilities"].as_array().unwrap();
    assert!(caps.iter().any(|c| c == "CAP_SYS_ADMIN"), "{caps:?}");
    assert_eq!(f["linux"]["cgroup"]["v1"], true);
    assert_eq!(f["linux"]["cgroup"]["v2"], true);
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);

    let out = b.must(&["--version"]);
    let text = stdout(&out);
    assert!(text.starts_with("davit "), "{text}");
    assert!(text.contains("spec: 1."), "{text}");
}

#[test]
fn poststart_hooks_run_after_the_user_process_is_executed() {
    // runtime-spec: poststart hooks are called "after the user-specified process is executed
    // but before the start operation returns". The hook reads the state on its stdin and
    // records what the container's pid is running: busybox, not davit's init any more.
    let b = Bundle::new(&["sleep", "31347"]);
    let seen = b.path().join("seen");
    let script = format!(
        "state=$(cat); pid=$(echo \"$state\" | sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p'); \
         echo \"$state\" | grep -o '\"status\": *\"[a-z]*\"' > {seen}; readlink /proc/$pid/exe >> {seen}",
        seen = seen.display()
    );
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
        })
    });
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    let text = fs::read_to_string(&seen).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap().replace(' ', ""),
        "\"status\":\"running\""
    );
    assert_eq!(lines.next(), Some("/bin/busybox"), "{text}");
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31347");
}
