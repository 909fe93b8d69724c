//! Byte sizes as docker-compose writes them (`mem_limit: 300m`): compose hands them to
//! go-units' `RAMInBytes`, whose units are binary (`1k` = 1024) and case-insensitive.

/// Why a string is not a size; shown after the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("expected a number with an optional unit: b, k, m, g, t, p (or kb, mb, ...)")]
    Syntax,
    #[error("unknown unit {0:?} (use b, k, m, g, t, p, or kb, mb, ...)")]
    UnknownUnit(String),
    #[error("too large")]
    Overflow,
}

/// Parses `"300m"`, `"1gb"`, `"1.5G"`, `"512 KiB"`, `"2048"` into bytes, rounding a fraction
/// down as go-units does.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let int_len = text.bytes().take_while(u8::is_ascii_digit).count();
    let (int, rest) = text.split_at(int_len);
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(after) => {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return Err(SizeError::Syntax);
            }
            after.split_at(n)
        }
        None => ("", rest),
    };
    if int.is_empty() {
        return Err(SizeError::Syntax);
    }
    // go-units allows one space between the number and the unit.
    let unit = rest.strip_prefix(' ').unwrap_or(rest);
    let shift = unit_shift(unit).ok_or_else(|| SizeError::UnknownUnit(unit.to_owned()))?;
    let per: u128 = 1 << shift;
    let whole = int
        .parse::<u128>()
        .ok()
        .and_then(|n| n.checked_mul(per))
        .ok_or(SizeError::Overflow)?;
    // Nineteen digits already resolve below one byte of a petabyte.
    let frac = &frac[..frac.len().min(19)];
    let part = if frac.is_empty() {
        0
    } else {
        let digits: u128 = frac.parse().map_err(|_| SizeError::Syntax)?;
        digits * per / 10u128.pow(frac.len() as u32)
    };
    whole
        .checked_add(part)
        .and_then(|bytes| u64::try_from(bytes).ok())
        .filter(|bytes| *bytes <= i64::MAX as u64)
        .ok_or(SizeError::Overflow)
}

/// The power of two a unit stands for: `""`/`b`, then `k`/`kb`/`kib`, ... up to `p`.
fn unit_shift(unit: &str) -> Option<u32> {
    let unit = unit.to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = if unit.len() == 2 {
        unit.strip_suffix('i')?
    } else {
        unit
    };
    match unit {
        "" => Some(0),
        "k" => Some(10),
        "m" => Some(20),
        "g" => Some(30),
        "t" => Some(40),
        "p" => Some(50),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1024;

    #[test]
    fn accepts_compose_sizes() {
        let cases = [
            ("0", 0),
            ("2048", 2048),
            ("2b", 2),
            ("2B", 2),
            ("1024kb", 1024 * K),
            ("2048k", 2048 * K),
            ("300m", 300 * K * K),
            ("300MB", 300 * K * K),
            ("1gb", K * K * K),
            ("1G", K * K * K),
            ("1.5g", 3 * K * K * K / 2),
            ("512 KiB", 512 * K),
            ("2mi", 2 * K * K),
            ("1t", K.pow(4)),
            ("1p", K.pow(5)),
            ("0.0001k", 0),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn refuses_malformed_sizes() {
        use SizeError::*;
        let cases = [
            ("", Syntax),
            ("m", Syntax),
            (".5m", Syntax),
            ("5.m", Syntax),
            ("-5m", Syntax),
            ("5x", UnknownUnit("x".into())),
            ("5ib", UnknownUnit("ib".into())),
            ("5kbb", UnknownUnit("kbb".into())),
            ("5  m", UnknownUnit(" m".into())),
            ("5 m ", UnknownUnit("m ".into())),
            ("8192p", Overflow),
            ("99999999999999999999999999999999999999999", Overflow),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), Err(want), "{text:?}");
        }
    }
}
