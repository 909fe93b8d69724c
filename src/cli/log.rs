//! runc's logging contract: `--log FILE` receives records, `--log-format json` writes one
//! `{"level","msg","time"}` object per line. containerd's runc shim reads the last "error"
//! record from that file to tell its user why a command failed.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use runtime::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn parse(s: Option<&str>) -> Result<Format> {
        match s {
            None | Some("text") => Ok(Format::Text),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(Error::Usage {
                what: format!("--log-format {other:?}"),
                reason: "expected \"text\" or \"json\"".into(),
            }),
        }
    }
}

/// Where davit's final error goes besides stderr.
pub struct Log {
    file: Option<Mutex<File>>,
    format: Format,
    fds: Vec<RawFd>,
}

impl Log {
    /// Opens the log and, when there is somewhere to send them, routes libcontainer's
    /// `tracing` events there: warnings and up to `--log`, everything with `--debug`.
    /// Without either, no subscriber is installed and tracing costs nothing.
    pub fn init(path: Option<&Path>, format: Option<&str>, debug: bool) -> Result<Log> {
        let format = Format::parse(format)?;
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Error::io("open log file", p, e))
        };
        let level = if debug { Level::DEBUG } else { Level::WARN };
        let events = RecordFormat(format);
        let file = path.map(open).transpose()?;
        let mut fds = Vec::new();
        match (&file, path) {
            (Some(f), Some(p)) => {
                let writer = f
                    .try_clone()
                    .map_err(|e| Error::io("open log file", p, e))?;
                fds.extend([f.as_raw_fd(), writer.as_raw_fd()]);
                let _ = tracing_subscriber::fmt()
                    .with_max_level(level)
                    .event_format(events)
                    .with_writer(Mutex::new(writer))
                    .try_init();
            }
            _ if debug => {
                let _ = tracing_subscriber::fmt()
                    .with_max_level(level)
                    .event_format(events)
                    .with_writer(std::io::stderr)
                    .try_init();
            }
            _ => {}
        }
        Ok(Log {
            file: file.map(Mutex::new),
            format,
            fds,
        })
    }

    /// The descriptors the log keeps open, which must survive `close_inherited_fds`.
    pub fn fds(&self) -> &[RawFd] {
        &self.fds
    }

    /// Records a failure in the log file (the caller prints it on stderr).
    pub fn error(&self, msg: &str) {
        if let Some(f) = &self.file
            && let Ok(mut f) = f.lock()
        {
            let _ = f.write_all(record("error", msg, self.format).as_bytes());
        }
    }
}

/// One log line in runc's shape (logrus's text or JSON formatter).
pub fn record(level: &str, msg: &str, format: Format) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    match format {
        Format::Json => {
            let v = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{v}\n")
        }
        Format::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
    }
}

struct RecordFormat(Format);

impl<S, N> FormatEvent<S, N> for RecordFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        writer.write_str(&record(level, msg.0.trim_start(), self.0))
    }
}

/// The event's message followed by its other fields as `key=value`.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}{rest}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_records_are_what_go_runc_parses() {
        let line = record("error", "container \"x\" does not exist", Format::Json);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
    }

    #[test]
    fn text_records_quote_the_message() {
        let line = record("error", "a \"b\"\nc", Format::Text);
        assert!(line.contains(r#"level=error msg="a \"b\"\nc""#), "{line}");
    }

    #[test]
    fn unknown_formats_are_refused() {
        assert!(Format::parse(Some("xml")).is_err());
        assert_eq!(Format::parse(None).unwrap(), Format::Text);
    }
}
