//! The command line says what is true of davit.

mod common;

use common::*;

#[test]
fn version_state_and_features_name_one_spec_version() {
    let b = Bundle::new(&["sleep", "31320"]);
    let version = stdout(&b.must(&["--version"]));
    let spec = version
        .lines()
        .find_map(|l| l.strip_prefix("spec: "))
        .unwrap_or_else(|| panic!("{version}"))
        .to_owned();
    let f: serde_json::Value = serde_json::from_slice(&b.must(&["features"]).stdout).unwrap();
    assert_eq!(f["ociVersionMax"], spec.as_str(), "{version}");
    assert!(b.create(&[]).0);
    assert_eq!(b.state()["ociVersion"], spec.as_str());
    b.must(&["delete", "--force", &b.id]);
}

#[test]
fn features_report_apparmor_as_the_host_has_it() {
    let b = Bundle::new(&["true"]);
    let f: serde_json::Value = serde_json::from_slice(&b.must(&["features"]).stdout).unwrap();
    let host = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    assert_eq!(f["linux"]["apparmor"]["enabled"], host, "{}", f["linux"]);
}

#[test]
fn checkpoint_is_refused_by_its_right_name() {
    let b = Bundle::new(&["true"]);
    let out = b.davit(&["checkpoint", &b.id]);
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out),
        "davit: error: checkpoint is not supported by davit\n"
    );
    let out = b.davit(&["checkpointt", &b.id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unrecognized subcommand"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_no_subreaper_in_the_foreground_is_refused_not_ignored() {
    let b = Bundle::new(&["true"]);
    let out = b.davit(&[
        "run",
        "--no-subreaper",
        "--bundle",
        b.path().to_str().unwrap(),
        &b.id,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--no-subreaper"), "{}", stderr(&out));
    assert!(!b.root.join(&b.id).exists());
}

#[test]
fn a_command_that_only_prints_ends_quietly_when_its_reader_goes_away() {
    // `davit list | head`: the reader leaves before the writer. runc dies of SIGPIPE without
    // a word; Rust's println! panicked instead, and the release build aborted with a core.
    let b = Bundle::new(&["sleep", "31321"]);
    assert!(b.create(&[]).0);
    for args in [&["list"][..], &["features"], &["state", &b.id]] {
        let out = output_into_closed_pipe(b.cmd(args), 10, &format!("davit {args:?}"));
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(libc::SIGPIPE),
            "{args:?}: {:?}, {}",
            out.status,
            stderr(&out)
        );
        assert_eq!(stderr(&out), "", "{args:?}");
    }
    b.must(&["delete", "--force", &b.id]);
}
