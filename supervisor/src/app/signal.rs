//! Signal names for `stop_signal`, parsed as docker does (`SIGTERM`, `TERM`, `term`, `15`,
//! `SIGRTMIN+3`).

use std::fmt;

// The numbers below are Linux's for x86, ARM and the asm-generic arches; MIPS, SPARC, Alpha
// and PA-RISC number signals differently. A table here keeps the crate free of libc.
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "loongarch64"
)))]
compile_error!("supervisor/src/app/signal.rs: check the signal numbers for this architecture");

const NAMES: [(&str, i32); 34] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// glibc reserves the kernel's first two real-time signals (32, 33), so its SIGRTMIN, and
/// docker's, is 34.
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// A signal number valid on this Linux arch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    pub const TERM: Signal = Signal(15);
    pub const KILL: Signal = Signal(9);

    /// Accepts docker's spellings: a number 1..=64, or a name with or without `SIG` in any case,
    /// including `RTMIN+N` and `RTMAX-N`. `None` for anything else (0 included).
    pub fn parse(text: &str) -> Option<Signal> {
        if let Ok(n) = text.parse::<i32>() {
            return Signal::from_number(n);
        }
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some((_, n)) = NAMES.iter().find(|(known, _)| *known == name) {
            return Some(Signal(*n));
        }
        let rt = if name == "RTMIN" {
            Some(RTMIN)
        } else if name == "RTMAX" {
            Some(RTMAX)
        } else if let Some(n) = name.strip_prefix("RTMIN+") {
            n.parse::<i32>().ok().map(|n| RTMIN.saturating_add(n))
        } else if let Some(n) = name.strip_prefix("RTMAX-") {
            n.parse::<i32>().ok().map(|n| RTMAX.saturating_sub(n))
        } else {
            None
        };
        rt.filter(|n| (RTMIN..=RTMAX).contains(n)).map(Signal)
    }

    pub fn from_number(n: i32) -> Option<Signal> {
        (1..=RTMAX).contains(&n).then_some(Signal(n))
    }

    pub fn number(self) -> i32 {
        self.0
    }
}

/// `SIGTERM`, `SIGRTMIN+3`, or the bare number for the two that glibc keeps for itself.
impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match NAMES.iter().find(|(_, n)| *n == self.0) {
            Some((name, _)) => write!(f, "SIG{name}"),
            None if self.0 == RTMIN => f.write_str("SIGRTMIN"),
            None if self.0 > RTMIN => write!(f, "SIGRTMIN+{}", self.0 - RTMIN),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_spellings() {
        for (text, n) in [
            ("SIGTERM", 15),
            ("TERM", 15),
            ("term", 15),
            ("SigKill", 9),
            ("15", 15),
            ("1", 1),
            ("64", 64),
            ("SIGUSR1", 10),
            ("IOT", 6),
            ("RTMIN", 34),
            ("SIGRTMIN+3", 37),
            ("RTMAX-1", 63),
            ("SIGRTMAX", 64),
        ] {
            assert_eq!(Signal::parse(text).map(Signal::number), Some(n), "{text:?}");
        }
        for bad in [
            "", "0", "65", "-9", "SIG", "SIGTERMS", "TERM ", "RTMIN+31", "RTMAX-31", "RTMIN-1",
        ] {
            assert_eq!(Signal::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn displays_the_canonical_name() {
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
        assert_eq!(Signal(6).to_string(), "SIGABRT");
        assert_eq!(Signal(17).to_string(), "SIGCHLD");
        assert_eq!(Signal(34).to_string(), "SIGRTMIN");
        assert_eq!(Signal(37).to_string(), "SIGRTMIN+3");
        assert_eq!(Signal(32).to_string(), "32");
    }
}
