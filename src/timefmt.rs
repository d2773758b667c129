//! RFC 3339 timestamps in UTC with second precision, without a date crate: the facts record
//! when a run started, and DNSSEC signature times are shown in the same form.

use std::time::{Duration, SystemTime};

/// RFC 3339 in UTC with second precision, without pulling in a date crate.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant), valid for every date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the Unix epoch, as RFC 3339.
pub fn unix(secs: u64) -> String {
    rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Seconds since the Unix epoch of a UTC civil time (days-from-civil, H. Hinnant); `None`
/// when a field is out of range.
pub fn from_civil(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s))
}

/// Seconds since the Unix epoch of a time as [`rfc3339`] writes it (`2026-11-27T11:30:00Z`);
/// `None` for any other form.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let part = text.get(from..to)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    from_civil(
        i64::from(num(0, 4)?),
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_times_round_trip() {
        assert_eq!(from_civil(1970, 1, 1, 0, 0, 0), Some(0));
        assert_eq!(from_civil(2026, 11, 27, 11, 30, 0), Some(1_795_779_000));
        assert_eq!(from_civil(2000, 2, 29, 0, 0, 0), Some(951_782_400));
        assert_eq!(from_civil(2026, 13, 1, 0, 0, 0), None);
    }

    #[test]
    fn rfc3339_parses_what_it_formats_and_nothing_else() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_779_000);
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(1_795_779_000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "",
            "2026-11-27 11:30:00Z",
            "2026-11-27T11:30:00+01:00",
            "2026-13-01T00:00:00Z",
            "+026-11-27T11:30:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_779_000);
        assert_eq!(rfc3339(t), "2026-11-27T11:30:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
