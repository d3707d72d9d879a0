//! Dates as filters give them: a day (`2026-01-31`) or an RFC 3339 time, as
//! unix milliseconds; a day is its first millisecond, or its last for the end
//! of a range.

use crate::Millis;

const DAY_MS: Millis = 86_400_000;

/// `2026-01-31` (start or end of that day, UTC) or an RFC 3339 time.
pub fn parse_date(raw: &str, end_of_day: bool) -> Option<Millis> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Ok(t) = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(raw, &fmt).ok()?;
    let start = d.midnight().assume_utc().unix_timestamp() * 1000;
    Some(if end_of_day { start + DAY_MS - 1 } else { start })
}

/// The shortest text that [`parse_date`] reads back as `t`: the day when `t`
/// is the day's first millisecond (or last, for an end), else RFC 3339.
pub fn format_bound(t: Millis, end_of_day: bool) -> String {
    let day_start = if end_of_day { t + 1 } else { t };
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000_000) else {
        return t.to_string();
    };
    if day_start.rem_euclid(DAY_MS) == 0 {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        if let Ok(s) = at.date().format(&fmt) {
            return s;
        }
    }
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times_round_trip() {
        let from = parse_date("2026-01-01", false).unwrap();
        let to = parse_date("2026-01-01", true).unwrap();
        assert_eq!(from, 1_767_225_600_000);
        assert_eq!(to, from + DAY_MS - 1);
        assert_eq!(format_bound(from, false), "2026-01-01");
        assert_eq!(format_bound(to, true), "2026-01-01");
        let t = parse_date("2026-01-01T10:30:00Z", false).unwrap();
        assert_eq!(parse_date(&format_bound(t, false), false), Some(t));
        assert_eq!(parse_date(&format_bound(t, true), true), Some(t));
        assert_eq!(parse_date("yesterday", false), None);
        assert_eq!(parse_date("  ", false), None);
    }
}
