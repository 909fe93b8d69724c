//! A daemon killed with SIGKILL and started again: the apps that kept running are adopted
//! (same pids), one that ended meanwhile counts as a failure, and the logs lose no line.

use std::fs;
use std::path::Path;

use crate::common::{exits_within, wait_until};
use crate::harness::*;

/// The K of every `TIMESTAMP stdout line K` in the app's log files, oldest file first.
fn logged_lines(logs: &Path, name: &str) -> Vec<u64> {
    let mut files: Vec<_> = (1..10)
        .rev()
        .map(|n| logs.join(format!("{name}.log.{n}")))
        .collect();
    files.push(logs.join(format!("{name}.log")));
    let mut ks = Vec::new();
    for f in files {
        let Ok(text) = fs::read_to_string(&f) else {
            continue;
        };
        for l in text.lines() {
            let fields: Vec<&str> = l.split(' ').collect();
            assert!(
                fields.len() == 4
                    && fields[0].len() >= 20
                    && fields[0].as_bytes()[10] == b'T'
                    && fields[1] == "stdout"
                    && fields[2] == "line",
                "{}: not `TIMESTAMP stdout line K`: {l:?}",
                f.display()
            );
            ks.push(fields[3].parse().unwrap());
        }
    }
    ks
}

/// The last complete `line K` in the raw stdout file (what the daemon has copied out of it
/// reads as zeros: a punched hole).
fn last_raw_line(raw: &Path) -> Option<u64> {
    let bytes = fs::read(raw).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let complete = &text[..text.rfind('\n')?];
    let last = complete.rsplit(['\n', '\0']).next()?;
    last.strip_prefix("line ")?.parse().ok()
}

#[test]
fn a_restarted_daemon_adopts_its_apps_and_loses_no_log_line() {
    let mut d = Daemon::new();
    d.add_app(
        "talker",
        "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done",
        "",
    );
    // Waits for the host's go, then exits 3; started again, it stays up.
    d.add_app(
        "quitter",
        "[ -e /shared/quitter.done ] && exec sleep 1000; \
         while [ ! -e /shared/go ]; do sleep 0.05; done; touch /shared/quitter.done; exit 3",
        "restart = \"on-failure\"\n",
    );
    d.start();
    let talker = num(&d.wait_state("talker", "running", 30), "pid") as i32;
    let quitter = num(&d.wait_state("quitter", "running", 30), "pid") as i32;
    let logs = d.state_dir.join("logs");
    wait_until(
        10,
        "the daemon to copy talker's lines into talker.log",
        || logged_lines(&logs, "talker").len() >= 5,
    );

    d.kill9();
    assert!(alive(talker), "killing the daemon killed talker");
    fs::write(d.shared.join("go"), "").unwrap();
    assert!(
        exits_within(quitter, 10),
        "quitter ({quitter}) did not exit"
    );
    // Talker goes on writing while no daemon runs: those lines must reach the log too.
    let raw = logs.join("talker.stdout");
    let at_kill = last_raw_line(&raw).unwrap_or(0);
    wait_until(10, "talker to write lines while no daemon runs", || {
        last_raw_line(&raw).is_some_and(|k| k >= at_kill + 5)
    });
    let written_meanwhile = last_raw_line(&raw).unwrap();

    d.start();
    let t = d.wait_state("talker", "running", 20);
    assert_eq!(num(&t, "pid") as i32, talker, "talker not adopted: {t}");
    let q = d.wait_status("quitter", 20, "quitter restarted and running", |s| {
        s["state"] == "running" && s["pid"].as_u64().is_some_and(|p| p as i32 != quitter)
    });
    assert_eq!(num(&q, "restarts"), 1, "{q}");
    assert_eq!(
        q["last_exit"], "unknown",
        "an exit no daemon saw has an unknown status: {q}"
    );

    // Talker never got EPIPE (it would have died): the same process still runs when we stop it.
    let t = d.status("talker");
    assert_eq!(t["state"], "running", "{t}");
    assert_eq!(num(&t, "pid") as i32, talker, "{t}");
    assert!(alive(talker));
    d.app_ok(&["stop", "talker"]);
    d.wait_state("talker", "stopped", 20);
    assert!(exits_within(talker, 10));

    wait_until(
        10,
        "the lines written while no daemon ran to be logged",
        || {
            logged_lines(&logs, "talker")
                .iter()
                .any(|&k| k >= written_meanwhile)
        },
    );
    let mut ks = logged_lines(&logs, "talker");
    ks.sort_unstable();
    ks.dedup();
    let n = *ks.last().unwrap();
    let missing: Vec<u64> = (1..=n).filter(|k| ks.binary_search(k).is_err()).collect();
    assert!(
        missing.is_empty(),
        "talker.log lost lines {missing:?} of 1..={n} (kill -9 after line ~{at_kill})"
    );
}

#[test]
fn a_container_no_app_file_names_is_stopped_and_deleted() {
    let mut d = Daemon::new();
    let marker = unique("stray");
    d.add_app("kept", "exec sleep 1000", "");
    d.add_app(
        "gone",
        &format!("while true; do sleep 0.1; done # {marker}"),
        "",
    );
    d.start();
    let kept = num(&d.wait_state("kept", "running", 30), "pid") as i32;
    let gone = num(&d.wait_state("gone", "running", 30), "pid") as i32;

    d.kill9();
    fs::remove_file(d.config_dir.join("gone.toml")).unwrap();
    d.start();
    assert!(
        exits_within(gone, 20),
        "app.gone's init ({gone}) still runs, though no app file names it"
    );
    wait_until(10, "app.gone's container to be deleted", || {
        d.containers() == vec!["app.kept".to_owned()]
    });
    let left = cgroup_dirs(d.bundle_of("gone"));
    assert!(left.is_empty(), "gone's cgroups left: {left:?}");
    assert_eq!(crate::common::processes_with(&marker), Vec::<i32>::new());
    let names: Vec<String> = d
        .list()
        .iter()
        .map(|a| text(a, "name").to_owned())
        .collect();
    assert_eq!(names, vec!["kept".to_owned()]);
    let k = d.wait_state("kept", "running", 10);
    assert_eq!(num(&k, "pid") as i32, kept, "kept was not adopted: {k}");
}

#[test]
fn a_user_s_stop_of_an_unless_stopped_app_outlives_the_daemon() {
    // As in docker: `unless-stopped` stays down after a user's stop, across daemon restarts
    // (with `always` or `no`, an enabled app starts again at the next boot).
    let mut d = Daemon::new();
    d.add_app(
        "held",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
        "restart = \"unless-stopped\"\n",
    );
    d.start();
    let pid = num(&d.wait_state("held", "running", 30), "pid") as i32;
    d.app_ok(&["stop", "held"]);
    d.wait_state("held", "stopped", 20);
    assert!(exits_within(pid, 10));

    // Killed and started again.
    d.kill9();
    d.start();
    let s = d.status("held");
    assert_eq!(s["state"], "stopped", "a user's stop was forgotten: {s}");
    assert_eq!(s["enabled"], true, "{s}");
    assert!(d.containers().is_empty(), "{:?}", d.containers());
    // Stopped cleanly and started again.
    assert!(d.terminate(30).success(), "{}", d.log_tail());
    d.start();
    let s = d.status("held");
    assert_eq!(s["state"], "stopped", "a user's stop was forgotten: {s}");
    assert!(d.containers().is_empty(), "{:?}", d.containers());

    // A user's start forgets the stop: the next boot starts it.
    d.app_ok(&["start", "held"]);
    d.wait_state("held", "running", 20);
    d.kill9();
    d.start();
    d.wait_state("held", "running", 20);
}

/// A power cut: the daemon and every container end together, and the board comes back with
/// another boot id. An app whose run ended with the boot starts at the next one whatever its
/// restart policy (it did not exit); one whose container ended while only the daemon was
/// down keeps its policy (`restart = "no"`: down, "unknown").
#[test]
fn an_app_whose_run_ended_with_the_boot_starts_at_the_next_one() {
    let mut d = Daemon::new();
    let script = "trap 'exit 0' TERM; sleep 31651 & wait";
    d.add_app("rebooted", script, "restart = \"no\"\n");
    d.add_app("ended", script, "restart = \"no\"\n");
    d.start();
    let rebooted = num(&d.wait_state("rebooted", "running", 30), "pid") as i32;
    num(&d.wait_state("ended", "running", 30), "pid");
    d.kill9();
    for name in ["rebooted", "ended"] {
        let out = std::process::Command::new(crate::common::davit_bin())
            .arg("--root")
            .arg(&d.root)
            .args(["delete", "--force", &format!("app.{name}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "delete app.{name}: {out:?}");
    }
    // What an earlier boot left: its record names another boot than this one.
    let record = d.state_dir.join("apps/rebooted.json");
    let mut r: serde_json::Value = serde_json::from_slice(&fs::read(&record).unwrap()).unwrap();
    assert!(
        r["boot"].is_string(),
        "the record keeps the boot of its run: {r}"
    );
    r["boot"] = "00000000-0000-4000-8000-000000000000".into();
    fs::write(&record, serde_json::to_vec(&r).unwrap()).unwrap();

    d.start();
    let s = d.wait_status("rebooted", 20, "rebooted running again", |s| {
        s["state"] == "running" && s["pid"].as_u64().is_some_and(|p| p as i32 != rebooted)
    });
    assert_eq!(num(&s, "restarts"), 0, "a boot is not a restart: {s}");
    let e = d.wait_state("ended", "exited", 20);
    assert_eq!(e["last_exit"], "unknown", "{e}");
    d.app_ok(&["stop", "rebooted"]);
}

/// A daemon killed in the middle of a hand-over (supervisor/README.md, "Hand-over"): the
/// next one adopts the new version, which its record names, and deletes the old one's
/// container; without the kill, the old one would have run until the new one got healthy.
#[test]
fn a_hand_over_cut_by_a_daemon_kill_leaves_the_new_version_alone() {
    const HAND_OVER: &str = "labels = { \"io.davit.update.strategy\" = \"hand-over\" }\n";
    let mut d = Daemon::new();
    let path = d
        .add_app("ho", "exec sleep 1000", HAND_OVER)
        .path()
        .to_owned();
    d.start();
    let old = num(&d.wait_state("ho", "running", 30), "pid") as i32;
    // Never healthy: the hand-over stays under way.
    d.write_app(
        "ho",
        &format!(
            "bundle = {path:?}\nenvironment = {{ V = \"2\" }}\n{HAND_OVER}[healthcheck]\n\
             test = \"false\"\ninterval = \"200ms\"\nstart_period = \"10m\"\n"
        ),
    );
    d.app_ok(&["reload", "ho"]);
    let s = d.wait_status("ho", 30, "the new version running", |s| {
        s["container"] == "app2.ho" && s["state"] == "running"
    });
    let new = num(&s, "pid") as i32;
    assert!(
        alive(old),
        "the old version stopped before the new one was up"
    );
    let mut both = d.containers();
    both.sort();
    assert_eq!(both, ["app.ho", "app2.ho"]);

    d.kill9();
    d.start();
    let s = d.wait_state("ho", "running", 30);
    assert_eq!(
        (num(&s, "pid") as i32, text(&s, "container")),
        (new, "app2.ho"),
        "{s}"
    );
    assert!(exits_within(old, 10), "the old version still runs");
    assert_eq!(d.containers(), ["app2.ho"]);
}

#[test]
fn what_a_killed_daemon_had_running_through_its_launcher_dies_with_it() {
    // Here a healthcheck's `davit exec`, held by its command. A create left running so
    // claimed an app's container id after the next daemon had cleared it, and that app
    // failed ("already exists"). The app itself runs on, to be adopted.
    let mut d = Daemon::new();
    d.add_app(
        "probed",
        "exec sleep 1000",
        "[healthcheck]\n\
         test = [\"CMD-SHELL\", \"touch /shared/checking; exec sleep 1000\"]\n\
         interval = \"200ms\"\n\
         timeout = \"100s\"\n\
         retries = 1000\n",
    );
    d.start();
    let s = d.wait_state("probed", "running", 20);
    wait_until(20, "the healthcheck to run", || {
        d.shared.join("checking").exists()
    });
    let daemon = d.pid();
    let children: Vec<i32> = d
        .own_processes()
        .into_iter()
        .filter(|p| *p != daemon)
        .collect();
    let execs = children
        .iter()
        .filter(|p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"exec"))
        })
        .count();
    assert_eq!(execs, 1, "the healthcheck's davit exec among {children:?}");
    d.kill9();
    for pid in &children {
        assert!(
            exits_within(*pid, 10),
            "process {pid} of the killed daemon still runs: {:?}",
            fs::read_to_string(format!("/proc/{pid}/cmdline")).map(|c| c.replace('\0', " "))
        );
    }
    d.start();
    let after = d.wait_state("probed", "running", 20);
    assert_eq!(after["pid"], s["pid"], "adopted: {after}");
}
