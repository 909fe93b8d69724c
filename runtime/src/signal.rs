use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A signal to send to a container, parsed as runc parses it: `KILL`, `SIGKILL`, `kill` or
/// `9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(nix::sys::signal::Signal);

impl Signal {
    pub const KILL: Signal = Signal(nix::sys::signal::Signal::SIGKILL);
    pub const TERM: Signal = Signal(nix::sys::signal::Signal::SIGTERM);

    pub fn as_raw(self) -> i32 {
        self.0 as i32
    }

    pub(crate) fn nix(self) -> nix::sys::signal::Signal {
        self.0
    }
}

impl From<nix::sys::signal::Signal> for Signal {
    fn from(s: nix::sys::signal::Signal) -> Self {
        Signal(s)
    }
}

impl FromStr for Signal {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let unknown = || Error::UnknownSignal(s.to_owned());
        if let Ok(n) = s.parse::<i32>() {
            return nix::sys::signal::Signal::try_from(n)
                .map(Signal)
                .map_err(|_| unknown());
        }
        let upper = s.to_ascii_uppercase();
        let name = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        nix::sys::signal::Signal::from_str(&name)
            .map(Signal)
            .map_err(|_| unknown())
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        for ok in [
            "KILL", "SIGKILL", "kill", "9", "TERM", "15", "SIGUSR1", "hup",
        ] {
            assert!(ok.parse::<Signal>().is_ok(), "{ok}");
        }
        assert_eq!("9".parse::<Signal>().unwrap(), Signal::KILL);
        assert_eq!("term".parse::<Signal>().unwrap(), Signal::TERM);
        for bad in ["", "SIGFOO", "0", "65", "-9", "KILL9"] {
            assert!(
                matches!(bad.parse::<Signal>(), Err(Error::UnknownSignal(_))),
                "{bad} accepted"
            );
        }
    }
}
