//! From the text of an app file to an [`App`]. The file is walked as toml's spanned document
//! tree rather than deserialized with serde: every key and value keeps its byte span, so each
//! problem names its line and its dotted key, and a file with several problems reports them
//! all at once.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    App, AppFileError, Backoff, Condition, CrashLoop, Dependency, HealthTest, Healthcheck, Logs,
    PidsLimit, Problem, Restart, Signal, UPDATE_STRATEGY_LABEL, check_name, parse_duration,
    parse_size,
};

type Value<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &[
    "bundle",
    "image",
    "enabled",
    "restart",
    "depends_on",
    "stop_signal",
    "stop_grace_period",
    "healthcheck",
    "environment",
    "labels",
    "mem_limit",
    "pids_limit",
    "cpus",
    "notify",
    "start_timeout",
    "watchdog",
    "backoff",
    "crash_loop",
    "logs",
];
const HEALTHCHECK_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "disable",
];
const DEPENDENCY_KEYS: &[&str] = &["condition", "required"];
const BACKOFF_KEYS: &[&str] = &["initial", "max"];
const CRASH_LOOP_KEYS: &[&str] = &["failures", "window"];
const LOGS_KEYS: &[&str] = &["max_size", "files"];

/// Which file is read: one in the config directory, or a release's (which names an image
/// where the other names a bundle: the install writes the bundle).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Installed,
    Release,
}

pub(super) fn parse(
    name: &str,
    path: &Path,
    text: &str,
    kind: Kind,
) -> Result<App, Vec<AppFileError>> {
    let doc = DeTable::parse(text).map_err(|e| {
        vec![AppFileError::Syntax {
            path: path.to_owned(),
            line: line_of(text, e.span().map_or(0, |s| s.start)),
            message: e.message().to_owned(),
        }]
    })?;
    let mut r = Reader {
        path,
        text,
        kind,
        errors: Vec::new(),
    };
    let app = r.app(name, doc.get_ref());
    match app {
        Some(app) if r.errors.is_empty() => Ok(app),
        _ => {
            let mut errors = r.errors;
            errors.sort_by_key(|e| e.line());
            Err(errors)
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    1 + text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// A table of the file with the dotted path that leads to it, and where it is named (`None`
/// for the top of the file), for errors about keys it lacks.
struct Table<'t, 'i> {
    prefix: String,
    entries: &'t DeTable<'i>,
    named_at: Option<Range<usize>>,
}

impl<'t, 'i> Table<'t, 'i> {
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn get(&self, key: &str) -> Option<&'t Value<'i>> {
        self.entries.get(key)
    }
}

struct Reader<'a> {
    path: &'a Path,
    text: &'a str,
    kind: Kind,
    errors: Vec<AppFileError>,
}

impl Reader<'_> {
    fn report(&mut self, span: Option<Range<usize>>, key: &str, problem: Problem) {
        self.errors.push(AppFileError::Key {
            path: self.path.to_owned(),
            line: span.map(|s| line_of(self.text, s.start)),
            key: key.to_owned(),
            problem,
        });
    }

    fn wrong_type(&mut self, key: &str, v: &Value<'_>, expected: &'static str) {
        let found = match v.get_ref() {
            DeValue::String(_) => "a string",
            DeValue::Integer(_) => "an integer",
            DeValue::Float(_) => "a float",
            DeValue::Boolean(_) => "a boolean",
            DeValue::Datetime(_) => "a date-time",
            DeValue::Array(_) => "an array",
            DeValue::Table(_) => "a table",
        };
        self.report(Some(v.span()), key, Problem::WrongType { expected, found });
    }

    fn bad_value(&mut self, key: &str, v: &Value<'_>, reason: impl Into<String>) {
        let value = self.shown(v);
        self.report(
            Some(v.span()),
            key,
            Problem::Value {
                value,
                reason: reason.into(),
            },
        );
    }

    /// A value as the file wrote it, on one line and cut short: errors quote what the person
    /// typed.
    fn shown(&self, v: &Value<'_>) -> String {
        if let DeValue::String(s) = v.get_ref() {
            return format!("{s:?}");
        }
        let span = v.span();
        let raw = self.text.get(span).unwrap_or("");
        let raw = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        match raw.char_indices().nth(40) {
            Some((cut, _)) => format!("{}...", &raw[..cut]),
            None => raw.to_owned(),
        }
    }

    /// Reports every key of `t` that is not in `known`.
    fn check_keys(&mut self, t: &Table<'_, '_>, known: &'static [&'static str]) {
        for (key, _) in t.entries.iter() {
            if !known.contains(&key.get_ref().as_ref()) {
                let suggestion = suggest(key.get_ref(), known);
                self.report(
                    Some(key.span()),
                    &t.key(key.get_ref()),
                    Problem::UnknownKey { suggestion },
                );
            }
        }
    }

    fn missing(&mut self, t: &Table<'_, '_>, key: &str, what: &'static str) {
        self.report(t.named_at.clone(), &t.key(key), Problem::Missing { what });
    }

    /// Reads `key` of `t` with `read`; `None` when it is absent or bad (bad ones are reported).
    fn field<'t, 'i: 't, T>(
        &mut self,
        t: &Table<'t, 'i>,
        key: &str,
        read: impl FnOnce(&mut Self, &str, &'t Value<'i>) -> Option<T>,
    ) -> Option<T> {
        let v = t.get(key)?;
        read(self, &t.key(key), v)
    }

    fn table<'t, 'i>(
        &mut self,
        key: &str,
        v: &'t Value<'i>,
        known: &'static [&'static str],
    ) -> Option<Table<'t, 'i>> {
        let DeValue::Table(entries) = v.get_ref() else {
            self.wrong_type(key, v, "a table");
            return None;
        };
        // Keys missing from the table are reported at its value, which starts on the line
        // that names it, for `[key]` headers, dotted keys and inline tables alike.
        let t = Table {
            prefix: format!("{key}."),
            entries,
            named_at: Some(v.span()),
        };
        self.check_keys(&t, known);
        Some(t)
    }

    fn boolean(&mut self, key: &str, v: &Value<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, v, "a boolean (true or false)");
                None
            }
        }
    }

    fn string<'t>(&mut self, key: &str, v: &'t Value<'_>) -> Option<&'t str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => {
                self.wrong_type(key, v, "a string");
                None
            }
        }
    }

    fn integer(&mut self, key: &str, v: &Value<'_>) -> Option<i64> {
        let DeValue::Integer(n) = v.get_ref() else {
            self.wrong_type(key, v, "an integer");
            return None;
        };
        let n = i64::from_str_radix(n.as_str(), n.radix()).ok();
        if n.is_none() {
            self.bad_value(key, v, "out of range");
        }
        n
    }

    /// An integer within `min..=u32::MAX`.
    fn count(&mut self, key: &str, v: &Value<'_>, min: u32) -> Option<u32> {
        let n = self.integer(key, v)?;
        match u32::try_from(n) {
            Ok(n) if n >= min => Some(n),
            _ => {
                self.bad_value(key, v, format!("must be from {min} to {}", u32::MAX));
                None
            }
        }
    }

    fn duration(&mut self, key: &str, v: &Value<'_>) -> Option<Duration> {
        let parsed = match v.get_ref() {
            DeValue::String(s) => parse_duration(s),
            // A bare number would be ambiguous (seconds? Go's nanoseconds?) and compose refuses
            // it too; only 0 means the same in every unit.
            DeValue::Integer(n) if n.as_str() == "0" => Ok(Duration::ZERO),
            DeValue::Integer(_) => Err(super::DurationError::MissingUnit),
            _ => {
                self.wrong_type(key, v, "a duration (a string such as \"10s\" or \"1m30s\")");
                return None;
            }
        };
        parsed
            .map_err(|error| {
                let value = self.shown(v);
                self.report(Some(v.span()), key, Problem::Duration { value, error });
            })
            .ok()
    }

    /// A duration that must not be zero: a zero interval or timeout would spin or never wait.
    fn positive_duration(&mut self, key: &str, v: &Value<'_>) -> Option<Duration> {
        let d = self.duration(key, v)?;
        if d.is_zero() {
            self.bad_value(key, v, "must be more than 0");
            return None;
        }
        Some(d)
    }

    /// Bytes, as an integer or a string with compose's units; never 0 (leave the key out for
    /// the default instead).
    fn size(&mut self, key: &str, v: &Value<'_>) -> Option<u64> {
        let bytes = match v.get_ref() {
            DeValue::Integer(_) => {
                let n = self.integer(key, v)?;
                match u64::try_from(n) {
                    Ok(n) => n,
                    Err(_) => {
                        self.bad_value(key, v, "cannot be negative");
                        return None;
                    }
                }
            }
            DeValue::String(s) => match parse_size(s) {
                Ok(n) => n,
                Err(error) => {
                    let value = self.shown(v);
                    self.report(Some(v.span()), key, Problem::Size { value, error });
                    return None;
                }
            },
            _ => {
                self.wrong_type(key, v, "a size (bytes, or a string such as \"300m\")");
                return None;
            }
        };
        if bytes == 0 {
            self.bad_value(key, v, "must be more than 0");
            return None;
        }
        Some(bytes)
    }

    fn signal(&mut self, key: &str, v: &Value<'_>) -> Option<Signal> {
        let signal = match v.get_ref() {
            DeValue::String(s) => Signal::parse(s),
            DeValue::Integer(n) => Signal::parse(n.as_str()).filter(|_| n.radix() == 10),
            _ => {
                self.wrong_type(key, v, "a signal (a string such as \"SIGTERM\")");
                return None;
            }
        };
        if signal.is_none() {
            let value = self.shown(v);
            self.report(Some(v.span()), key, Problem::Signal { value });
        }
        signal
    }

    fn restart(&mut self, key: &str, v: &Value<'_>) -> Option<Restart> {
        let s = self.string(key, v)?;
        let restart = match s {
            "no" => Some(Restart::No),
            "always" => Some(Restart::Always),
            "unless-stopped" => Some(Restart::UnlessStopped),
            "on-failure" => Some(Restart::OnFailure { max_retries: None }),
            _ => s
                .strip_prefix("on-failure:")
                // Only digits: u32's parser would also take a leading '+'.
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u32>().ok())
                // docker reads a maximum of 0 as no maximum.
                .map(|n| Restart::OnFailure {
                    max_retries: (n > 0).then_some(n),
                }),
        };
        if restart.is_none() {
            let value = self.shown(v);
            self.report(Some(v.span()), key, Problem::Restart { value });
        }
        restart
    }

    fn app(&mut self, name: &str, doc: &DeTable<'_>) -> Option<App> {
        let top = Table {
            prefix: String::new(),
            entries: doc,
            named_at: None,
        };
        self.check_keys(&top, TOP_KEYS);

        let image = self.field(&top, "image", |r, key, v| {
            let s = r.string(key, v)?;
            if s.is_empty() {
                r.bad_value(key, v, "empty (it names the app's image in the release)");
                return None;
            }
            Some(s.to_owned())
        });
        let bundle = match self.kind {
            Kind::Installed => {
                let bundle = self.field(&top, "bundle", |r, key, v| {
                    let s = r.string(key, v)?;
                    if s.is_empty() {
                        r.bad_value(key, v, "empty (it is the path of the app's OCI bundle)");
                        return None;
                    }
                    Some(s)
                });
                if top.get("bundle").is_none() {
                    self.missing(
                        &top,
                        "bundle",
                        "the path of the app's OCI bundle (a directory with config.json and rootfs/)",
                    );
                }
                bundle
            }
            Kind::Release => {
                if let Some(v) = top.get("bundle") {
                    self.bad_value(
                        "bundle",
                        v,
                        "a release's app names its image instead: the install writes the bundle",
                    );
                }
                if top.get("image").is_none() {
                    self.missing(
                        &top,
                        "image",
                        "the app's image: its ref.name in the release's OCI layout (images/)",
                    );
                }
                // Not a path anyone runs: the install replaces it.
                image.as_deref().map(|_| "")
            }
        };
        let dir = self.path.parent().unwrap_or(Path::new(""));
        let bundle = bundle.map(|b| dir.join(b));

        let notify = self.field(&top, "notify", Self::boolean).unwrap_or(false);
        let start_timeout = self.field(&top, "start_timeout", |r, key, v| {
            let d = r.positive_duration(key, v)?;
            if !notify {
                r.bad_value(
                    key,
                    v,
                    "needs notify = true (it is the deadline for READY=1)",
                );
            }
            Some(d)
        });
        let watchdog = self.field(&top, "watchdog", |r, key, v| {
            let d = r.positive_duration(key, v)?;
            if !notify {
                r.bad_value(
                    key,
                    v,
                    "needs notify = true (WATCHDOG=1 comes over the notify socket)",
                );
            }
            Some(d)
        });

        let app = App {
            name: name.to_owned(),
            file: self.path.to_owned(),
            enabled: self.field(&top, "enabled", Self::boolean).unwrap_or(true),
            restart: self
                .field(&top, "restart", Self::restart)
                .unwrap_or(Restart::No),
            depends_on: self
                .field(&top, "depends_on", Self::depends_on)
                .unwrap_or_default(),
            stop_signal: self
                .field(&top, "stop_signal", Self::signal)
                .unwrap_or(Signal::TERM),
            stop_grace_period: self
                .field(&top, "stop_grace_period", Self::duration)
                .unwrap_or(App::DEFAULT_STOP_GRACE_PERIOD),
            healthcheck: self.field(&top, "healthcheck", Self::healthcheck).flatten(),
            environment: self
                .field(&top, "environment", Self::environment)
                .unwrap_or_default(),
            labels: self.field(&top, "labels", Self::labels).unwrap_or_default(),
            mem_limit: self.field(&top, "mem_limit", Self::size),
            pids_limit: self
                .field(&top, "pids_limit", Self::pids_limit)
                .unwrap_or(PidsLimit::Unlimited),
            cpus: self.field(&top, "cpus", Self::cpus),
            notify,
            start_timeout: start_timeout.unwrap_or(App::DEFAULT_START_TIMEOUT),
            watchdog,
            backoff: self
                .field(&top, "backoff", Self::backoff)
                .unwrap_or_default(),
            crash_loop: self
                .field(&top, "crash_loop", Self::crash_loop)
                .unwrap_or(Some(CrashLoop::default())),
            logs: self.field(&top, "logs", Self::logs).unwrap_or_default(),
            bundle: bundle?,
            image,
        };
        Some(app)
    }

    fn depends_on(&mut self, key: &str, v: &Value<'_>) -> Option<Vec<Dependency>> {
        let mut deps = Vec::new();
        match v.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let key = format!("{key}[{i}]");
                    let Some(name) = self.string(&key, item) else {
                        continue;
                    };
                    if let Err(reason) = check_name(name) {
                        self.bad_value(&key, item, format!("not an app name: it {reason}"));
                    } else if deps.iter().any(|d: &Dependency| d.name == name) {
                        self.bad_value(&key, item, "listed twice");
                    } else {
                        deps.push(Dependency {
                            name: name.to_owned(),
                            condition: Condition::ServiceStarted,
                            required: true,
                        });
                    }
                }
            }
            DeValue::Table(entries) => {
                // The short form's order is kept; the long form's is by name (the tree sorts
                // keys). Order carries no meaning either way.
                for (name, dep) in entries.iter() {
                    let name_key = format!("{key}.{}", name.get_ref());
                    if let Err(reason) = check_name(name.get_ref()) {
                        self.report(
                            Some(name.span()),
                            &name_key,
                            Problem::Value {
                                value: format!("{:?}", name.get_ref()),
                                reason: format!("not an app name: it {reason}"),
                            },
                        );
                        continue;
                    }
                    let Some(t) = self.table(&name_key, dep, DEPENDENCY_KEYS) else {
                        continue;
                    };
                    let condition = self
                        .field(&t, "condition", |r, key, v| {
                            let s = r.string(key, v)?;
                            let found = Condition::ALL.iter().find(|(n, _)| *n == s);
                            if found.is_none() {
                                r.bad_value(
                                    key,
                                    v,
                                    "not one of service_started, service_healthy, \
                                     service_completed_successfully, ready",
                                );
                            }
                            found.map(|(_, c)| *c)
                        })
                        .unwrap_or(Condition::ServiceStarted);
                    let required = self.field(&t, "required", Self::boolean).unwrap_or(true);
                    deps.push(Dependency {
                        name: name.get_ref().to_string(),
                        condition,
                        required,
                    });
                }
            }
            _ => {
                self.wrong_type(
                    key,
                    v,
                    "a list of app names, or a table of name = { condition = \"...\" }",
                );
                return None;
            }
        }
        Some(deps)
    }

    /// `Some(None)`: present but disabled.
    fn healthcheck(&mut self, key: &str, v: &Value<'_>) -> Option<Option<Healthcheck>> {
        let t = self.table(key, v, HEALTHCHECK_KEYS)?;
        let disable = self.field(&t, "disable", Self::boolean).unwrap_or(false);
        // Read even when disabled, so a mistake in it shows before someone enables it.
        let test = self.field(&t, "test", Self::health_test);
        let interval = self
            .field(&t, "interval", Self::positive_duration)
            .unwrap_or(Healthcheck::DEFAULT_INTERVAL);
        let timeout = self
            .field(&t, "timeout", Self::positive_duration)
            .unwrap_or(Healthcheck::DEFAULT_TIMEOUT);
        let retries = self
            .field(&t, "retries", |r, key, v| r.count(key, v, 1))
            .unwrap_or(Healthcheck::DEFAULT_RETRIES);
        let start_period = self
            .field(&t, "start_period", Self::duration)
            .unwrap_or(Duration::ZERO);
        if disable {
            return Some(None);
        }
        if t.get("test").is_none() {
            // compose would take the image's HEALTHCHECK; a bundle has none.
            self.missing(
                &t,
                "test",
                "the command to run: a string for /bin/sh -c, or a list such as \
                 [\"CMD\", \"/bin/check\", \"--quick\"] (or disable = true)",
            );
            return None;
        }
        match test {
            Some(Some(test)) => Some(Some(Healthcheck {
                test,
                interval,
                timeout,
                retries,
                start_period,
            })),
            // ["NONE"]
            Some(None) => Some(None),
            // Already reported.
            None => None,
        }
    }

    /// `Some(None)` for `["NONE"]`.
    fn health_test(&mut self, key: &str, v: &Value<'_>) -> Option<Option<HealthTest>> {
        let items = match v.get_ref() {
            DeValue::String(s) if s.trim().is_empty() => {
                self.bad_value(key, v, "empty");
                return None;
            }
            DeValue::String(s) => return Some(Some(HealthTest::Shell(s.to_string()))),
            DeValue::Array(items) => items,
            _ => {
                self.wrong_type(
                    key,
                    v,
                    "a string, or a list starting with \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                );
                return None;
            }
        };
        let mut words = Vec::new();
        for (i, item) in items.iter().enumerate() {
            words.push(self.string(&format!("{key}[{i}]"), item)?.to_owned());
        }
        let (kind, args) = match words.split_first() {
            Some((kind, args)) => (kind.as_str(), args),
            None => ("", &[][..]),
        };
        match kind {
            "NONE" if args.is_empty() => Some(None),
            "CMD" if !args.is_empty() => Some(Some(HealthTest::Cmd(args.to_vec()))),
            // docker joins the words after CMD-SHELL with spaces.
            "CMD-SHELL" if !args.is_empty() => Some(Some(HealthTest::Shell(args.join(" ")))),
            "NONE" => {
                self.bad_value(key, v, "[\"NONE\"] takes nothing after NONE");
                None
            }
            "CMD" | "CMD-SHELL" => {
                self.bad_value(key, v, format!("{kind} needs a command after it"));
                None
            }
            _ => {
                self.bad_value(
                    key,
                    v,
                    "a list must start with \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                );
                None
            }
        }
    }

    fn environment(&mut self, key: &str, v: &Value<'_>) -> Option<BTreeMap<String, String>> {
        self.pairs(key, v, |name, value| {
            env_problem(name, value).map(str::to_owned)
        })
    }

    /// compose's `labels`; davit reads one of them, [`UPDATE_STRATEGY_LABEL`].
    fn labels(&mut self, key: &str, v: &Value<'_>) -> Option<BTreeMap<String, String>> {
        self.pairs(key, v, |name, value| {
            if name != UPDATE_STRATEGY_LABEL {
                return None;
            }
            match value {
                "download-then-kill" | "kill-then-download" | "hand-over" => None,
                _ => Some("expected download-then-kill, kill-then-download or hand-over".into()),
            }
        })
    }

    /// A table of NAME = "value", or compose's list of "NAME=VALUE"; `problem` judges each.
    fn pairs(
        &mut self,
        key: &str,
        v: &Value<'_>,
        problem: impl Fn(&str, &str) -> Option<String>,
    ) -> Option<BTreeMap<String, String>> {
        let mut env = BTreeMap::new();
        match v.get_ref() {
            DeValue::Table(entries) => {
                for (name, value) in entries.iter() {
                    let item_key = format!("{key}.{}", name.get_ref());
                    let Some(value_str) = self.string(&item_key, value) else {
                        continue;
                    };
                    if let Some(reason) = problem(name.get_ref(), value_str) {
                        self.bad_value(&item_key, value, reason);
                        continue;
                    }
                    env.insert(name.get_ref().to_string(), value_str.to_owned());
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_key = format!("{key}[{i}]");
                    let Some(pair) = self.string(&item_key, item) else {
                        continue;
                    };
                    let Some((name, value)) = pair.split_once('=') else {
                        // compose would take the value from its own environment; the daemon's
                        // is not the app's business.
                        self.bad_value(&item_key, item, "expected KEY=VALUE");
                        continue;
                    };
                    if let Some(reason) = problem(name, value) {
                        self.bad_value(&item_key, item, reason);
                    } else if env.insert(name.to_owned(), value.to_owned()).is_some() {
                        self.bad_value(&item_key, item, format!("{name} is set twice"));
                    }
                }
            }
            _ => {
                self.wrong_type(
                    key,
                    v,
                    "a table of KEY = \"value\", or a list of \"KEY=VALUE\" strings",
                );
                return None;
            }
        }
        Some(env)
    }

    fn pids_limit(&mut self, key: &str, v: &Value<'_>) -> Option<PidsLimit> {
        match self.integer(key, v)? {
            -1 => Some(PidsLimit::Unlimited),
            n if n > 0 => Some(PidsLimit::Max(n as u64)),
            _ => {
                self.bad_value(key, v, "must be more than 0, or -1 for no limit");
                None
            }
        }
    }

    fn cpus(&mut self, key: &str, v: &Value<'_>) -> Option<f64> {
        let cpus = match v.get_ref() {
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            DeValue::Integer(_) => self.integer(key, v).map(|n| n as f64),
            _ => {
                self.wrong_type(key, v, "a number of CPUs, such as 0.5 or 2");
                return None;
            }
        };
        let cpus = cpus.filter(|c| c.is_finite() && *c > 0.0);
        if cpus.is_none() {
            self.bad_value(
                key,
                v,
                "must be a number of CPUs more than 0, such as 0.5 or 2",
            );
        }
        cpus
    }

    fn backoff(&mut self, key: &str, v: &Value<'_>) -> Option<Backoff> {
        let t = self.table(key, v, BACKOFF_KEYS)?;
        let default = Backoff::default();
        let initial = self
            .field(&t, "initial", Self::positive_duration)
            .unwrap_or(default.initial);
        let max = self
            .field(&t, "max", |r, key, v| {
                let max = r.duration(key, v)?;
                if max < initial {
                    r.bad_value(key, v, "must not be less than backoff.initial");
                    return None;
                }
                Some(max)
            })
            .unwrap_or(default.max.max(initial));
        Some(Backoff { initial, max })
    }

    fn crash_loop(&mut self, key: &str, v: &Value<'_>) -> Option<Option<CrashLoop>> {
        let t = self.table(key, v, CRASH_LOOP_KEYS)?;
        let default = CrashLoop::default();
        let failures = self
            .field(&t, "failures", |r, key, v| r.count(key, v, 0))
            .unwrap_or(default.failures);
        let window = self
            .field(&t, "window", Self::positive_duration)
            .unwrap_or(default.window);
        Some((failures > 0).then_some(CrashLoop { failures, window }))
    }

    fn logs(&mut self, key: &str, v: &Value<'_>) -> Option<Logs> {
        let t = self.table(key, v, LOGS_KEYS)?;
        let default = Logs::default();
        Some(Logs {
            max_size: self
                .field(&t, "max_size", Self::size)
                .unwrap_or(default.max_size),
            files: self
                .field(&t, "files", |r, key, v| r.count(key, v, 1))
                .unwrap_or(default.files),
        })
    }
}

/// What would make `NAME=VALUE` unusable in a process environment.
fn env_problem(name: &str, value: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the variable name is empty")
    } else if name.contains('=') {
        Some("a variable name cannot contain =")
    } else if name.contains('\0') || value.contains('\0') {
        Some("cannot contain a NUL character")
    } else {
        None
    }
}

/// The known key a typo most likely meant: one that starts with the other (`stop_grace` for
/// `stop_grace_period`), or else the nearest within a small edit distance.
fn suggest(unknown: &str, known: &[&'static str]) -> Option<&'static str> {
    if unknown.len() >= 3
        && let Some(k) = known
            .iter()
            .find(|k| k.starts_with(unknown) || unknown.starts_with(**k))
    {
        return Some(k);
    }
    let limit = (unknown.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            row.push(substitute.min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}
