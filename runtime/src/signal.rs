use libcontainer::signal::Signal;

use crate::error::{Error, Result};

/// Parses a signal as runc does: `KILL`, `SIGKILL`, `kill` or `9`.
pub fn parse(s: &str) -> Result<Signal> {
    let unknown = || Error::UnknownSignal(s.to_owned());
    match s.parse::<i32>() {
        Ok(n) => Signal::try_from(n).map_err(|_| unknown()),
        Err(_) => Signal::try_from(s).map_err(|_| unknown()),
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
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "SIGFOO", "0", "65", "-9", "KILL9"] {
            assert!(
                matches!(parse(bad), Err(Error::UnknownSignal(_))),
                "{bad} accepted"
            );
        }
    }
}
