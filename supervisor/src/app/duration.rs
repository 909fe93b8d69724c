//! Durations as docker-compose writes them: Go's `time.ParseDuration` grammar, so a value copied
//! from a compose file means the same here.

use std::time::Duration;

/// Why a string is not a duration; shown after the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("it is empty")]
    Empty,
    #[error("durations cannot be negative")]
    Negative,
    #[error("expected a number at {0:?}")]
    Number(String),
    #[error("a number needs a unit (ns, us, ms, s, m, h), as in \"10s\"")]
    MissingUnit,
    #[error("unknown unit {0:?} (use ns, us, ms, s, m, h)")]
    UnknownUnit(String),
    #[error("too long (at most about 292 years)")]
    Overflow,
}

// Go has no day unit; neither do we, so "1d" fails here as it would in compose.
const NANOS_PER: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    // Go accepts both micro signs: U+00B5 and the Greek mu, U+03BC.
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's bound (an int64 of nanoseconds), so nothing compose accepts is refused and nothing it
/// refuses is accepted.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses `"1m30s"`, `"10s"`, `"500ms"`, `"1.5h"`, `"2us"`/`"2µs"`, `"0"`: a sequence of decimal
/// numbers, each with an optional fraction and a unit. Case-sensitive, as in Go.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let mut s = match text.strip_prefix('+') {
        Some(rest) => rest,
        None if text.starts_with('-') => return Err(DurationError::Negative),
        None => text,
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int, rest) = s.split_at(int_len);
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(after) => {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(n)
            }
            None => ("", rest),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(DurationError::Number(s.to_owned()));
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit);
        }
        let per = NANOS_PER
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, per)| *per)
            .ok_or_else(|| DurationError::UnknownUnit(unit.to_owned()))?;
        total = total
            .checked_add(scaled(int, frac, per).ok_or(DurationError::Overflow)?)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or(DurationError::Overflow)?;
        s = rest;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    // The remainder of a division by 1e9 always fits.
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// `int.frac` times `per` nanoseconds, truncated like Go. Fraction digits past the 18th cannot
/// change a result in nanoseconds, so they are dropped instead of overflowing.
fn scaled(int: &str, frac: &str, per: u128) -> Option<u128> {
    let whole = if int.is_empty() {
        0
    } else {
        int.parse::<u128>().ok()?.checked_mul(per)?
    };
    let frac = &frac[..frac.len().min(18)];
    let part = if frac.is_empty() {
        0
    } else {
        let digits: u128 = frac.parse().ok()?;
        digits * per / 10u128.pow(frac.len() as u32)
    };
    whole.checked_add(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn accepts_go_durations() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("10s", ms(10_000)),
            ("+10s", ms(10_000)),
            ("1m30s", ms(90_000)),
            ("1h2m3s4ms", ms(3_723_004)),
            ("500ms", ms(500)),
            ("1.5h", ms(5_400_000)),
            (".5s", ms(500)),
            ("5.s", ms(5_000)),
            ("2us", Duration::from_micros(2)),
            ("2\u{b5}s", Duration::from_micros(2)),
            ("2\u{3bc}s", Duration::from_micros(2)),
            ("7ns", Duration::from_nanos(7)),
            ("1.0000000001s", ms(1000)),
            (
                "0.1234567891234567891234s",
                Duration::from_nanos(123_456_789),
            ),
            (
                "2562047h47m16.854775807s",
                Duration::new(9_223_372_036, 854_775_807),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        use DurationError::*;
        let cases = [
            ("", Empty),
            ("-5s", Negative),
            ("10", MissingUnit),
            ("1m30", MissingUnit),
            ("s", Number("s".into())),
            (".s", Number(".s".into())),
            ("1d", UnknownUnit("d".into())),
            ("10S", UnknownUnit("S".into())),
            ("10 s", UnknownUnit(" s".into())),
            ("2562047h47m16.854775808s", Overflow),
            ("99999999999999999999999999999999999999999h", Overflow),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Err(want), "{text:?}");
        }
    }
}
