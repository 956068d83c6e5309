//! RFC 3339 timestamps for `expires_at` (`2026-12-31T23:59:59Z`, `...+02:00`), turned into
//! seconds since the Unix epoch with the shared civil-date module (`crate::date`).

use crate::date::{days_from_civil, is_leap_year};

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`T`/`Z` in either case, or a space for
/// `T`). The fraction is dropped. Returns UTC seconds since 1970-01-01T00:00:00Z.
pub fn parse_rfc3339_unix_secs(text: &str) -> Result<u64, String> {
    let err =
        || format!("invalid timestamp `{text}`: expected RFC 3339 such as `2026-12-31T23:59:59Z`");
    let bytes = text.as_bytes();
    if bytes.len() < 20 {
        return Err(err());
    }
    let separators_ok = bytes.get(4) == Some(&b'-')
        && bytes.get(7) == Some(&b'-')
        && matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && bytes.get(13) == Some(&b':')
        && bytes.get(16) == Some(&b':');
    if !separators_ok {
        return Err(err());
    }
    let year = digits(bytes, 0, 4).ok_or_else(err)?;
    let month = digits(bytes, 5, 2).ok_or_else(err)?;
    let day = digits(bytes, 8, 2).ok_or_else(err)?;
    let hour = digits(bytes, 11, 2).ok_or_else(err)?;
    let minute = digits(bytes, 14, 2).ok_or_else(err)?;
    let second = digits(bytes, 17, 2).ok_or_else(err)?;
    let mut rest = bytes.get(19..).ok_or_else(err)?;
    if let Some((b'.', fraction)) = rest.split_first() {
        let fraction_len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if fraction_len == 0 {
            return Err(err());
        }
        rest = fraction.get(fraction_len..).ok_or_else(err)?;
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let offset_hours = digits(rest, 1, 2).ok_or_else(err)?;
            let offset_minutes = digits(rest, 4, 2).ok_or_else(err)?;
            if offset_hours > 23 || offset_minutes > 59 {
                return Err(err());
            }
            let magnitude = i64::from(offset_hours * 3_600 + offset_minutes * 60);
            if *sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return Err(err()),
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(i64::from(year)) => 29,
        2 => 28,
        _ => return Err(err()),
    };
    // Second 60 is allowed for leap seconds, as RFC 3339 does.
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return Err(err());
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let local_secs =
        days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second);
    u64::try_from(local_secs - offset_secs)
        .map_err(|_| format!("timestamp `{text}` is before 1970-01-01T00:00:00Z"))
}

/// The ASCII decimal number in `bytes[start..start + len]`, if all digits.
fn digits(bytes: &[u8], start: usize, len: usize) -> Option<u32> {
    let field = bytes.get(start..start.checked_add(len)?)?;
    field.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}
