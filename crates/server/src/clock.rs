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
    muster_domain::dates::parse_date(raw, end_of_day)
}
