//! Timestamps: the backend's RFC 3339 times shown in UTC, and local wall-clock times (run bars,
//! chart axes and read-outs) in the browser's time zone. The three functions that ask the
//! browser (`now_unix`, `parse_unix`, `LocalTime::of_unix`) are the only ones not run natively.

/// Now, in seconds since the Unix epoch (the browser's clock; only in the browser).
pub fn now_unix() -> f64 {
    js_sys::Date::now() / 1000.0
}

/// A date and time as the browser reads it (`Date.parse`), in seconds since the Unix epoch; NaN
/// when it cannot be read (only in the browser).
pub fn parse_unix(text: &str) -> f64 {
    js_sys::Date::parse(text) / 1000.0
}

/// Seconds since the Unix epoch as RFC 3339 UTC to the second (`2026-12-01T23:10:00Z`); `None`
/// for NaN or a time outside years 0–9999.
pub fn rfc3339_of_unix(unix_secs: f64) -> Option<String> {
    if !unix_secs.is_finite() {
        return None;
    }
    let secs = unix_secs.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60))
}

/// `2025-06-01T12:03:04.123Z` → `2025-06-01 12:03:04` (audit log, snapshots: all in UTC).
pub fn utc(rfc3339: &str) -> String {
    let main: String = rfc3339.chars().take(19).collect();
    main.replacen('T', " ", 1)
}

/// Broken-down local time.
#[derive(Debug, Clone, Copy)]
pub struct LocalTime {
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl LocalTime {
    /// `unix_secs` in the browser's time zone (JavaScript's `Date`; only in the browser).
    pub fn of_unix(unix_secs: f64) -> LocalTime {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_secs * 1000.0));
        LocalTime {
            month: d.get_month() + 1,
            day: d.get_date(),
            hour: d.get_hours(),
            minute: d.get_minutes(),
            second: d.get_seconds(),
        }
    }
}

/// `HH:MM:SS`.
pub fn clock(t: LocalTime) -> String {
    format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second)
}

/// A time label fitting the visible span: seconds for short ranges, the date for long ones.
pub fn label(t: LocalTime, span_secs: f64) -> String {
    if span_secs <= 600.0 {
        clock(t)
    } else if span_secs <= 86_400.0 * 1.5 {
        format!("{:02}:{:02}", t.hour, t.minute)
    } else {
        format!("{:02}-{:02} {:02}:{:02}", t.month, t.day, t.hour, t.minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_as_rfc3339_utc() {
        assert_eq!(rfc3339_of_unix(0.0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339_of_unix(951_782_400.5).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(rfc3339_of_unix(1_796_166_600.0).as_deref(), Some("2026-12-01T23:10:00Z"));
        assert_eq!(rfc3339_of_unix(-1.0).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(rfc3339_of_unix(f64::NAN), None);
    }

    #[test]
    fn utc_times_drop_the_fraction_and_the_t() {
        assert_eq!(utc("2025-06-01T12:03:04.123456Z"), "2025-06-01 12:03:04");
        assert_eq!(utc("short"), "short");
    }

    #[test]
    fn labels_follow_the_span() {
        let t = LocalTime { month: 11, day: 29, hour: 5, minute: 7, second: 9 };
        assert_eq!(clock(t), "05:07:09");
        assert_eq!(label(t, 300.0), "05:07:09");
        assert_eq!(label(t, 3600.0), "05:07");
        assert_eq!(label(t, 7.0 * 86_400.0), "11-29 05:07");
    }
}
