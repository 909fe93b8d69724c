//! Bad app files: each keeps only its own app from loading, says where it is wrong, and a
//! reload after the fix starts the app.

use crate::harness::*;

#[test]
fn a_bad_file_fails_its_app_only_until_fixed_and_reloaded() {
    let mut d = Daemon::new();
    d.add_app("good", "exec sleep 1000", "");
    // Line 1 is `bundle = ...`; the mistakes are on line 2.
    d.add_app("typo", "exec sleep 1000", "stop_grace = \"10s\"\n");
    d.add_app(
        "lazy",
        "exec sleep 1000",
        "stop_grace_period = \"5 minutes\"\n",
    );
    d.start();
    let good = d.wait_state("good", "running", 30);

    let typo = d.wait_state("typo", "failed", 10);
    assert!(
        text(&typo, "reason").contains("typo.toml:2: stop_grace: unknown key"),
        "the reason should name file, line and key: {typo}"
    );
    let lazy = d.wait_state("lazy", "failed", 10);
    let reason = text(&lazy, "reason");
    assert!(
        reason.contains("lazy.toml:2: stop_grace_period:") && reason.contains("not a duration"),
        "the reason should name file, line, key and the problem: {lazy}"
    );
    let names: Vec<String> = d
        .list()
        .iter()
        .map(|a| text(a, "name").to_owned())
        .collect();
    assert_eq!(names.len(), 3, "list: {names:?}");
    for n in ["good", "typo", "lazy"] {
        assert!(names.iter().any(|x| x == n), "{n} not listed: {names:?}");
    }
    assert_eq!(d.containers(), vec!["app.good".to_owned()]);

    let bundle = d.bundle_of("typo").path().to_owned();
    d.write_app(
        "typo",
        &format!("bundle = {bundle:?}\nstop_grace_period = \"10s\"\n"),
    );
    d.app_ok(&["reload"]);
    let fixed = d.wait_state("typo", "running", 20);
    assert!(alive(num(&fixed, "pid") as i32), "{fixed}");
    assert_eq!(
        text(&fixed, "reason"),
        "",
        "a fixed app keeps no reason: {fixed}"
    );

    // The reload left the rest as it was.
    let still = d.status("lazy");
    assert_eq!(still["state"], "failed", "{still}");
    let now = d.status("good");
    assert_eq!(now["state"], "running", "{now}");
    assert_eq!(
        now["pid"], good["pid"],
        "reload restarted an unchanged app: {now}"
    );
}
