use muster_domain::Millis;

/// Now, in unix milliseconds. The only place muster reads the clock for its rules.
pub fn now() -> Millis {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `2026-11-28 13:23 UTC` for display.
pub fn format(ms: Millis) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(&fmt).unwrap_or_default()
}

/// RFC 3339 for the API and CSV.
pub fn rfc3339(ms: Millis) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Parse `YYYY-MM-DD` (start of that day, UTC) or RFC 3339.
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
    Some(if end_of_day { start + 86_400_000 - 1 } else { start })
}
