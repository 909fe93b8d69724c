//! seccomp-profiles/: the default profile that `davit spec` gives apps, and davit's own filter.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::json;

#[test]
fn the_default_profile_confines_apps_and_refuses_new_user_namespaces() {
    // Creating a user namespace needs no capability, so only the profile stops it; plain
    // work (here: a fork, a pipe, an exec) goes through. The first container compiles the
    // profile; the second, and a process exec'd into a third, load the program davit cached.
    let script = "grep '^Seccomp:' /proc/self/status; unshare --user true; echo unshare=$?; \
                  echo pipe=$(echo ok | cat)";
    let b = Bundle::new(&["sh", "-c", &format!("({script}) 2>&1")]);
    let config = b.config();
    assert_eq!(
        config["linux"]["seccomp"]["defaultAction"],
        "SCMP_ACT_ERRNO"
    );
    let confined = |what: &str, out: &std::process::Output| {
        let text = stdout(out);
        assert!(out.status.success(), "{what}: {text}{}", stderr(out));
        assert!(text.contains("Seccomp:\t2"), "{what}: no filter: {text}");
        assert!(
            text.contains("unshare=1"),
            "{what}: unshare --user allowed: {text}"
        );
        assert!(text.contains("pipe=ok"), "{what}: {text}");
    };
    let cache = b.root.join("@seccomp");
    let cached = || std::fs::read_dir(&cache).map_or(0, |d| d.count());
    assert_eq!(cached(), 0);
    let bundle = b.path().to_str().unwrap();
    confined("compiled", &b.davit(&["run", "--bundle", bundle, &b.id]));
    assert_eq!(cached(), 1, "the compiled program is kept");
    let again = format!("{}-again", b.id);
    confined("cached", &b.davit(&["run", "--bundle", bundle, &again]));
    assert_eq!(cached(), 1, "the same profile is not compiled twice");

    b.edit(|c| c["process"]["args"] = json!(["sleep", "31431"]));
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    confined(
        "exec",
        &b.davit(&["exec", &b.id, "sh", "-c", &format!("({script}) 2>&1")]),
    );
    assert_eq!(cached(), 1);
    b.must(&["delete", "--force", &b.id]);
    b.assert_nothing_left("sleep 31431");

    // The positive control: without the profile the same call succeeds here, so `unshare=1`
    // above is the profile's doing, not this kernel refusing user namespaces.
    b.edit(|c| {
        c["linux"].as_object_mut().unwrap().remove("seccomp");
        c["process"]["args"] = json!(["sh", "-c", format!("({script}) 2>&1")]);
    });
    let open = format!("{}-open", b.id);
    let out = b.davit(&["run", "--bundle", bundle, &open]);
    let text = stdout(&out);
    assert!(
        text.contains("Seccomp:\t0"),
        "a filter without a profile: {text}"
    );
    assert!(
        text.contains("unshare=0"),
        "unshare --user fails even without the profile: {text}{}",
        stderr(&out)
    );
}

#[test]
fn davit_does_its_in_process_work_under_its_own_filter() {
    // What the supervisor will do in-process: state, pause, resume, ps, list, kill, delete,
    // each in a davit confined to seccomp-profiles/davit.json (a call outside it kills davit).
    let b = Bundle::new(&["sleep", "31430"]);
    assert!(b.create(&[]).0);
    b.must(&["start", &b.id]);
    let confined = |args: &[&str]| {
        let out = b
            .cmd(args)
            .env("DAVIT_SELF_SECCOMP", "enforce")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "davit {args:?} under its filter: {:?} {}",
            out.status,
            stderr(&out)
        );
        out
    };
    assert!(stdout(&confined(&["state", &b.id])).contains("\"running\""));
    confined(&["pause", &b.id]);
    assert!(stdout(&confined(&["state", &b.id])).contains("\"paused\""));
    confined(&["resume", &b.id]);
    assert!(stdout(&confined(&["ps", &b.id])).contains("sleep"));
    assert!(stdout(&confined(&["list"])).contains(&b.id));
    let pid = b.pid();
    confined(&["kill", &b.id, "KILL"]);
    wait_exit(pid, 10);
    confined(&["delete", &b.id]);
    b.assert_nothing_left("sleep 31430");
}

/// Runs `delete` with `mode` on a container whose poststop hook tries `unshare -U`, which
/// davit's own profile does not allow; returns whether the hook got past it.
fn hook_got_past_unshare(mode: &str) -> bool {
    let b = Bundle::new(&["true"]);
    let marker = b.path().join("unshared");
    let script = format!(
        "{BUSYBOX} unshare -U true && echo yes > {}",
        marker.display()
    );
    b.edit(|c| c["hooks"] = json!({"poststop": [{"path": BUSYBOX, "args": ["sh", "-c", script]}]}));
    assert!(b.create(&[]).0);
    let pid = b.pid();
    b.must(&["start", &b.id]);
    wait_exit(pid, 10);
    let out = b
        .cmd(&["delete", &b.id])
        .env("DAVIT_SELF_SECCOMP", mode)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    b.assert_nothing_left("unshare -U");
    Path::new(&marker).exists() && fs::read_to_string(&marker).unwrap() == "yes\n"
}

#[test]
fn davit_filter_kills_calls_outside_it_or_logs_them_when_profiling() {
    // Children inherit the filter: the hook's `unshare` dies of SIGSYS when enforced, and
    // goes through (logged by the kernel) in log mode.
    assert!(!hook_got_past_unshare("enforce"));
    assert!(hook_got_past_unshare("log"));
}

#[test]
fn a_bad_self_seccomp_mode_is_a_usage_error() {
    let b = Bundle::new(&["true"]);
    let out = b
        .cmd(&["list"])
        .env("DAVIT_SELF_SECCOMP", "strict")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "davit: error: DAVIT_SELF_SECCOMP: \"strict\": expected \"enforce\" or \"log\"\n"
    );
}
