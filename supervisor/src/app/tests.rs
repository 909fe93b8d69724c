//! App files end to end: every key read, every error class worded as the person editing the
//! file will see it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const FILE: &str = "/etc/davit/apps/web.toml";

fn parse(text: &str) -> Result<App, Vec<AppFileError>> {
    App::parse(Path::new(FILE), text)
}

fn ok(text: &str) -> App {
    match parse(text) {
        Ok(app) => app,
        Err(errors) => panic!("{text}\nrefused: {:#?}", messages(&errors)),
    }
}

fn messages(errors: &[AppFileError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

/// The one error `text` gives, as displayed.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(app) => panic!("{text}\naccepted: {app:#?}"),
        Err(errors) => {
            assert_eq!(errors.len(), 1, "{:#?}", messages(&errors));
            errors[0].to_string()
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn minimal_file_gets_compose_defaults() {
    let app = ok("bundle = \"/srv/web\"\n");
    assert_eq!(
        app,
        App {
            name: "web".into(),
            file: FILE.into(),
            bundle: "/srv/web".into(),
            image: None,
            enabled: true,
            restart: Restart::No,
            depends_on: vec![],
            stop_signal: Signal::TERM,
            stop_grace_period: secs(10),
            healthcheck: None,
            environment: BTreeMap::new(),
            labels: BTreeMap::new(),
            mem_limit: None,
            pids_limit: PidsLimit::Unlimited,
            cpus: None,
            notify: false,
            start_timeout: secs(90),
            watchdog: None,
            backoff: Backoff {
                initial: secs(1),
                max: secs(300)
            },
            crash_loop: Some(CrashLoop {
                failures: 5,
                window: secs(300)
            }),
            logs: Logs {
                max_size: 1 << 20,
                files: 3
            },
        }
    );
}

#[test]
fn relative_bundle_is_resolved_against_the_config_dir() {
    assert_eq!(
        ok("bundle = \"bundles/web\"").bundle,
        PathBuf::from("/etc/davit/apps/bundles/web")
    );
}

/// The README's example is the reference: it must parse to what the README says.
#[test]
fn readme_example_parses() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("README has a toml example") + 8;
    let len = readme[start..].find("```").expect("example is closed");
    let app = ok(&readme[start..start + len]);
    assert_eq!(app.bundle, PathBuf::from("/var/lib/davit/bundles/web"));
    assert_eq!(
        app.restart,
        Restart::OnFailure {
            max_retries: Some(5)
        }
    );
    assert_eq!(
        app.depends_on,
        vec![
            Dependency {
                name: "cache".into(),
                condition: Condition::ServiceStarted,
                required: false
            },
            Dependency {
                name: "db".into(),
                condition: Condition::ServiceHealthy,
                required: true
            },
        ]
    );
    assert_eq!(app.stop_signal.to_string(), "SIGINT");
    assert_eq!(app.stop_grace_period, secs(20));
    assert_eq!(
        app.healthcheck,
        Some(Healthcheck {
            test: HealthTest::Cmd(
                [
                    "wget",
                    "-q",
                    "-O",
                    "/dev/null",
                    "http://127.0.0.1:8080/health"
                ]
                .map(String::from)
                .to_vec()
            ),
            interval: secs(30),
            timeout: secs(5),
            retries: 3,
            start_period: secs(10),
        })
    );
    assert_eq!(app.environment["LISTEN"], ":8080");
    assert_eq!(app.environment["LOG_LEVEL"], "info");
    assert_eq!(app.mem_limit, Some(64 << 20));
    assert_eq!(app.pids_limit, PidsLimit::Max(100));
    assert_eq!(app.cpus, Some(0.5));
    assert!(app.notify);
    assert_eq!(app.start_timeout, secs(30));
    assert_eq!(app.watchdog, Some(secs(10)));
    assert_eq!(
        app.backoff,
        Backoff {
            initial: Duration::from_millis(500),
            max: secs(120)
        }
    );
    assert_eq!(
        app.crash_loop,
        Some(CrashLoop {
            failures: 5,
            window: secs(600)
        })
    );
    assert_eq!(
        app.logs,
        Logs {
            max_size: 2 << 20,
            files: 4
        }
    );
}

#[test]
fn restart_policies() {
    for (text, want) in [
        ("no", Restart::No),
        ("always", Restart::Always),
        ("unless-stopped", Restart::UnlessStopped),
        ("on-failure", Restart::OnFailure { max_retries: None }),
        ("on-failure:0", Restart::OnFailure { max_retries: None }),
        (
            "on-failure:3",
            Restart::OnFailure {
                max_retries: Some(3),
            },
        ),
    ] {
        let app = ok(&format!("bundle = \"b\"\nrestart = \"{text}\""));
        assert_eq!(app.restart, want, "{text}");
        assert_eq!(want.to_string(), text.replace(":0", ""));
    }
}

#[test]
fn depends_on_short_form() {
    let app = ok("bundle = \"b\"\ndepends_on = [\"db\", \"cache\"]");
    let names: Vec<_> = app.depends_on.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["db", "cache"]);
    assert!(
        app.depends_on
            .iter()
            .all(|d| d.condition == Condition::ServiceStarted && d.required)
    );
}

#[test]
fn depends_on_long_form() {
    let app = ok(r#"
bundle = "b"
[depends_on]
db = { condition = "service_healthy" }
init = { condition = "service_completed_successfully" }
bus = { condition = "ready", required = false }
cache = {}
[depends_on.log]
condition = "service_started"
"#);
    let got: Vec<_> = app
        .depends_on
        .iter()
        .map(|d| (d.name.as_str(), d.condition, d.required))
        .collect();
    assert_eq!(
        got,
        [
            ("bus", Condition::Ready, false),
            ("cache", Condition::ServiceStarted, true),
            ("db", Condition::ServiceHealthy, true),
            ("init", Condition::ServiceCompletedSuccessfully, true),
            ("log", Condition::ServiceStarted, true),
        ]
    );
}

#[test]
fn environment_both_forms() {
    let table = ok("bundle = \"b\"\n[environment]\nA = \"1\"\nB = \"x=y\"\n");
    let list = ok("bundle = \"b\"\nenvironment = [\"A=1\", \"B=x=y\"]\n");
    assert_eq!(table.environment, list.environment);
    assert_eq!(list.environment["B"], "x=y");
    assert_eq!(
        ok("bundle = \"b\"\nenvironment = [\"E=\"]").environment["E"],
        ""
    );
}

#[test]
fn healthcheck_forms() {
    let test = |spec: &str| ok(&format!("bundle = \"b\"\nhealthcheck.test = {spec}")).healthcheck;
    let shell = |s: &str| {
        Some(Healthcheck {
            test: HealthTest::Shell(s.into()),
            interval: secs(30),
            timeout: secs(30),
            retries: 3,
            start_period: Duration::ZERO,
        })
    };
    assert_eq!(test("\"curl -f localhost\""), shell("curl -f localhost"));
    assert_eq!(
        test("[\"CMD-SHELL\", \"curl -f localhost\"]"),
        shell("curl -f localhost")
    );
    assert_eq!(test("[\"CMD-SHELL\", \"curl\", \"-f\"]"), shell("curl -f"));
    assert_eq!(
        test("[\"CMD\", \"curl\", \"-f\"]").map(|h| h.test),
        Some(HealthTest::Cmd(vec!["curl".into(), "-f".into()]))
    );
    assert_eq!(test("[\"NONE\"]"), None);
    let disabled = ok("bundle = \"b\"\nhealthcheck = { test = \"true\", disable = true }");
    assert_eq!(disabled.healthcheck, None);
}

#[test]
fn limits() {
    let app = ok("bundle = \"b\"\nmem_limit = 1048576\npids_limit = -1\ncpus = 2\n");
    assert_eq!(
        (app.mem_limit, app.pids_limit, app.cpus),
        (Some(1 << 20), PidsLimit::Unlimited, Some(2.0))
    );
    assert_eq!(
        ok("bundle = \"b\"\nmem_limit = \"300m\"").mem_limit,
        Some(300 << 20)
    );
    assert_eq!(
        ok("bundle = \"b\"\nstop_signal = 9").stop_signal,
        Signal::KILL
    );
    assert_eq!(
        ok("bundle = \"b\"\ncrash_loop.failures = 0").crash_loop,
        None
    );
}

// One test per error class: file, line, key and reason, exactly as displayed.

#[test]
fn error_unknown_key() {
    assert_eq!(
        error("bundle = \"b\"\n\nstop_grace = \"5s\"\n"),
        "/etc/davit/apps/web.toml:3: stop_grace: unknown key (did you mean stop_grace_period?)"
    );
    assert_eq!(
        error("bundle = \"b\"\n[healthcheck]\ntest = \"true\"\nintervall = \"5s\"\n"),
        "/etc/davit/apps/web.toml:4: healthcheck.intervall: unknown key (did you mean interval?)"
    );
    assert_eq!(
        error("bundle = \"b\"\nports = [\"80:80\"]\n"),
        "/etc/davit/apps/web.toml:2: ports: unknown key"
    );
}

#[test]
fn error_wrong_type() {
    assert_eq!(
        error("bundle = \"b\"\nenabled = \"yes\"\n"),
        "/etc/davit/apps/web.toml:2: enabled: expected a boolean (true or false), found a string"
    );
    assert_eq!(
        error("bundle = \"b\"\n[environment]\nPORT = 8080\n"),
        "/etc/davit/apps/web.toml:3: environment.PORT: expected a string, found an integer"
    );
}

#[test]
fn error_bad_duration() {
    assert_eq!(
        error("bundle = \"b\"\n[healthcheck]\ntest = \"true\"\ninterval = \"5 minutes\"\n"),
        "/etc/davit/apps/web.toml:4: healthcheck.interval: \"5 minutes\" is not a duration: \
         unknown unit \" minutes\" (use ns, us, ms, s, m, h)"
    );
    assert_eq!(
        error("bundle = \"b\"\nstop_grace_period = 10\n"),
        "/etc/davit/apps/web.toml:2: stop_grace_period: 10 is not a duration: \
         a number needs a unit (ns, us, ms, s, m, h), as in \"10s\""
    );
}

#[test]
fn error_bad_size() {
    assert_eq!(
        error("bundle = \"b\"\nmem_limit = \"64 megs\"\n"),
        "/etc/davit/apps/web.toml:2: mem_limit: \"64 megs\" is not a size: \
         unknown unit \"megs\" (use b, k, m, g, t, p, or kb, mb, ...)"
    );
    assert_eq!(
        error("bundle = \"b\"\nlogs = { max_size = -1 }\n"),
        "/etc/davit/apps/web.toml:2: logs.max_size: -1: cannot be negative"
    );
}

#[test]
fn error_bad_signal() {
    assert_eq!(
        error("bundle = \"b\"\nstop_signal = \"SIGSTOPP\"\n"),
        "/etc/davit/apps/web.toml:2: stop_signal: \"SIGSTOPP\" is not a signal \
         (use a name such as SIGTERM, TERM, or a number 1-64)"
    );
}

#[test]
fn error_bad_restart() {
    assert_eq!(
        error("# web\n\nbundle = \"b\"\nrestart = \"sometimes\"\n"),
        "/etc/davit/apps/web.toml:4: restart: \"sometimes\" is not one of \
         no, on-failure[:N], always, unless-stopped"
    );
    for bad in ["on-failure:", "on-failure:-1", "on-failure:+2", "No"] {
        let text = format!("bundle = \"b\"\nrestart = \"{bad}\"");
        assert!(error(&text).contains("is not one of"), "{bad}");
    }
}

#[test]
fn error_missing_bundle() {
    assert_eq!(
        error("restart = \"always\"\n"),
        "/etc/davit/apps/web.toml: bundle: missing: the path of the app's OCI bundle \
         (a directory with config.json and rootfs/)"
    );
}

#[test]
fn error_missing_healthcheck_test() {
    assert_eq!(
        error("bundle = \"b\"\n\n[healthcheck]\ninterval = \"5s\"\n"),
        "/etc/davit/apps/web.toml:3: healthcheck.test: missing: the command to run: a string \
         for /bin/sh -c, or a list such as [\"CMD\", \"/bin/check\", \"--quick\"] \
         (or disable = true)"
    );
}

#[test]
fn error_bad_value() {
    assert_eq!(
        error("bundle = \"b\"\n[depends_on]\ndb = { condition = \"healthy\" }\n"),
        "/etc/davit/apps/web.toml:3: depends_on.db.condition: \"healthy\": not one of \
         service_started, service_healthy, service_completed_successfully, ready"
    );
    assert_eq!(
        error("bundle = \"b\"\nwatchdog = \"10s\"\n"),
        "/etc/davit/apps/web.toml:2: watchdog: \"10s\": needs notify = true \
         (WATCHDOG=1 comes over the notify socket)"
    );
    assert_eq!(
        error("bundle = \"b\"\ndepends_on = [\"db\", \"../etc\"]\n"),
        "/etc/davit/apps/web.toml:2: depends_on[1]: \"../etc\": not an app name: \
         it cannot contain '/' (use letters, digits, _ + - .)"
    );
    assert_eq!(
        error("bundle = \"b\"\nbackoff = { initial = \"10s\", max = \"5s\" }\n"),
        "/etc/davit/apps/web.toml:2: backoff.max: \"5s\": must not be less than backoff.initial"
    );
}

#[test]
fn error_invalid_toml() {
    assert_eq!(
        error("bundle = \"b\"\nrestart = always\n"),
        "/etc/davit/apps/web.toml:2: invalid TOML: string values must be quoted, \
         expected literal string"
    );
    assert_eq!(
        error("bundle = \"b\"\nbundle = \"c\"\n"),
        "/etc/davit/apps/web.toml:2: invalid TOML: duplicate key"
    );
}

#[test]
fn error_lines_are_where_a_multiline_value_starts() {
    assert_eq!(
        error("bundle = \"b\"\nhealthcheck.test = [\n  \"CMD\",\n]\n"),
        "/etc/davit/apps/web.toml:2: healthcheck.test: [ \"CMD\", ]: CMD needs a command after it"
    );
    assert_eq!(
        error("bundle = \"b\"\ndepends_on = [\n  \"db\",\n  \"a b\",\n]\n"),
        "/etc/davit/apps/web.toml:4: depends_on[1]: \"a b\": not an app name: \
         it cannot contain ' ' (use letters, digits, _ + - .)"
    );
}

#[test]
fn every_problem_in_a_file_is_reported_in_line_order() {
    let errors =
        parse("restart = \"sometimes\"\nenabled = 1\n[healthcheck]\ntest = []\ntimeout = \"0s\"\n")
            .unwrap_err();
    let got: Vec<_> = errors
        .iter()
        .map(|e| match e {
            AppFileError::Key { line, key, .. } => (*line, key.as_str()),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            (None, "bundle"),
            (Some(1), "restart"),
            (Some(2), "enabled"),
            (Some(4), "healthcheck.test"),
            (Some(5), "healthcheck.timeout"),
        ]
    );
}

fn app_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn one_bad_file_does_not_keep_the_others_from_loading() {
    let dir = app_dir();
    let d = dir.path();
    fs::write(
        d.join("web.toml"),
        "bundle = \"web\"\nrestart = \"always\"\n",
    )
    .unwrap();
    fs::write(d.join("db.toml"), "bundle = \"db\"\n").unwrap();
    fs::write(
        d.join("bad.toml"),
        "bundle = \"x\"\nrestart = \"sometimes\"\n",
    )
    .unwrap();
    fs::write(d.join("README"), "not an app").unwrap();
    fs::write(d.join("web.toml~"), "garbage").unwrap();
    fs::write(d.join(".web.toml.swp"), "garbage").unwrap();
    fs::write(d.join(".hidden.toml"), "garbage").unwrap();
    let (apps, errors) = load_dir(d);
    let names: Vec<_> = apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["db", "web"]);
    assert_eq!(apps[0].bundle, d.join("db"));
    assert_eq!(
        messages(&errors),
        [format!(
            "{}:2: restart: \"sometimes\" is not one of no, on-failure[:N], always, unless-stopped",
            d.join("bad.toml").display()
        )]
    );
    assert_eq!(errors[0].app().as_deref(), Some("bad"));
}

#[test]
fn error_bad_file_name() {
    let dir = app_dir();
    fs::write(dir.path().join("my app.toml"), "bundle = \"b\"").unwrap();
    let (apps, errors) = load_dir(dir.path());
    assert!(apps.is_empty());
    assert_eq!(
        messages(&errors),
        [format!(
            "{}: app files are named NAME.toml, and NAME cannot contain ' ' \
             (use letters, digits, _ + - .)",
            dir.path().join("my app.toml").display()
        )]
    );
    assert_eq!(errors[0].app(), None);
}

#[test]
fn error_not_utf8() {
    let dir = app_dir();
    let path = dir.path().join("web.toml");
    fs::write(&path, b"bundle = \"b\"\n# caf\xe9\n").unwrap();
    let errors = load_file(&path).unwrap_err();
    assert_eq!(
        messages(&errors),
        [format!("{}:2: not UTF-8", path.display())]
    );
}

#[test]
fn error_not_a_file_or_too_large() {
    let dir = app_dir();
    let sub = dir.path().join("sub.toml");
    fs::create_dir(&sub).unwrap();
    let big = dir.path().join("big.toml");
    fs::write(&big, vec![b'#'; MAX_FILE_SIZE as usize + 1]).unwrap();
    let (_, errors) = load_dir(dir.path());
    assert_eq!(
        messages(&errors),
        [
            format!(
                "{}: larger than 1048576 bytes: not an app file",
                big.display()
            ),
            format!("{}: not a regular file", sub.display()),
        ]
    );
}

#[test]
fn error_no_dir() {
    let dir = app_dir();
    let missing = dir.path().join("apps");
    let (apps, errors) = load_dir(&missing);
    assert!(apps.is_empty());
    assert_eq!(
        messages(&errors),
        [format!(
            "{}: no such directory (the app config directory)",
            missing.display()
        )]
    );
}

#[test]
fn app_names_are_checked_like_container_ids() {
    for bad in [
        ".toml", "..toml", "...toml", "a b.toml", "ü.toml", "web.yaml",
    ] {
        assert!(app_name(Path::new(bad)).is_err(), "{bad:?} accepted");
    }
    for good in ["a.toml", "web-1.toml", "x_y+z.2.toml", "..a.toml"] {
        assert!(app_name(Path::new(good)).is_ok(), "{good:?} refused");
    }
}

#[test]
fn a_release_s_app_file_names_its_image_instead_of_a_bundle() {
    let release = |text: &str| App::parse_release(Path::new("/r/apps/web.toml"), text);
    let app = release("image = \"web:2\"\nrestart = \"always\"\n").unwrap();
    assert_eq!(app.image.as_deref(), Some("web:2"));
    assert_eq!(app.restart, Restart::Always);

    let e = messages(&release("bundle = \"/srv/web\"\nimage = \"web:2\"\n").unwrap_err());
    assert_eq!(
        e,
        [
            "/r/apps/web.toml:1: bundle: \"/srv/web\": a release's app names its image instead: \
             the install writes the bundle"
        ]
    );
    let e = messages(&release("restart = \"always\"\n").unwrap_err());
    assert_eq!(
        e,
        [
            "/r/apps/web.toml: image: missing: the app's image: its ref.name in the release's \
             OCI layout (images/)"
        ]
    );
    // Installed, the file keeps its image beside the bundle the install wrote.
    let app = ok("bundle = \"/srv/web\"\nimage = \"web:2\"\n");
    assert_eq!(app.image.as_deref(), Some("web:2"));
    assert!(error("image = \"\"\nbundle = \"/b\"\n").contains("image: \"\": empty"));
}

#[test]
fn labels_and_the_update_strategy() {
    let path = Path::new("/etc/davit/apps/web.toml");
    let app = App::parse(
        path,
        "bundle = \"b\"\nlabels = [\"a=1\", \"io.davit.update.strategy=kill-then-download\"]\n",
    )
    .unwrap();
    assert_eq!(app.labels["a"], "1");
    assert_eq!(app.update_strategy(), UpdateStrategy::KillThenDownload);
    let app = App::parse(path, "bundle = \"b\"\n[labels]\nx = \"y\"\n").unwrap();
    assert_eq!(app.update_strategy(), UpdateStrategy::DownloadThenKill);
    let app = App::parse(
        path,
        "bundle = \"b\"\nlabels = { \"io.davit.update.strategy\" = \"hand-over\" }\n",
    )
    .unwrap();
    assert_eq!(app.update_strategy(), UpdateStrategy::HandOver);
    assert_eq!(
        error("bundle = \"b\"\nlabels = [\"io.davit.update.strategy=fast\"]\n"),
        "/etc/davit/apps/web.toml:2: labels[0]: \"io.davit.update.strategy=fast\": expected \
         download-then-kill, kill-then-download or hand-over"
    );
}
