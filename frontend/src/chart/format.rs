//! Value and time formatting for axes, legends and read-outs.

/// How a chart's values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    #[default]
    Plain,
    /// Milliseconds.
    Ms,
    /// A ratio 0..1 shown as a percentage.
    Ratio,
    Bytes,
    /// Events (or operations) per second.
    PerSecond,
    /// Already a percentage (0..100).
    Percent,
    Seconds,
}

fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        // Keep one decimal when there is one, so close axis ticks (197.5, 198) stay distinct.
        format!("{v:.1}").trim_end_matches('0').trim_end_matches('.').to_owned()
    } else if a >= 1.0 {
        format!("{v:.2}").trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

pub fn value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Plain => compact(v),
        Unit::Ms => {
            if v.abs() >= 1000.0 {
                format!("{} s", compact(v / 1000.0))
            } else {
                format!("{} ms", compact(v))
            }
        }
        Unit::Ratio => format!("{}%", compact(v * 100.0)),
        Unit::Bytes => {
            const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
            let mut x = v;
            let mut i = 0;
            while x.abs() >= 1024.0 && i < UNITS.len() - 1 {
                x /= 1024.0;
                i += 1;
            }
            format!("{} {}", compact(x), UNITS[i])
        }
        Unit::PerSecond => format!("{}/s", compact(v)),
        Unit::Percent => format!("{}%", compact(v)),
        Unit::Seconds => format!("{} s", compact(v)),
    }
}

/// Broken-down local time, supplied by the caller (the browser's clock zone).
#[derive(Debug, Clone, Copy)]
pub struct LocalTime {
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// A time label fitting the visible span: seconds for short ranges, the date for long ones.
pub fn time_label(t: LocalTime, span_secs: f64) -> String {
    if span_secs <= 600.0 {
        format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second)
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
    fn units() {
        assert_eq!(value(0.0523, Unit::Ratio), "5.23%");
        assert_eq!(value(250.0, Unit::Ms), "250 ms");
        assert_eq!(value(2500.0, Unit::Ms), "2.5 s");
        assert_eq!(value(1536.0 * 1024.0 * 1024.0, Unit::Bytes), "1.5 GiB");
        assert_eq!(value(1234.0, Unit::PerSecond), "1234/s");
        assert_eq!(value(54_321.0, Unit::Plain), "54.3k");
        assert_eq!(value(197.5, Unit::PerSecond), "197.5/s");
        assert_eq!(value(0.0, Unit::Plain), "0");
    }

    #[test]
    fn time_labels_follow_the_span() {
        let t = LocalTime { month: 11, day: 29, hour: 5, minute: 7, second: 9 };
        assert_eq!(time_label(t, 300.0), "05:07:09");
        assert_eq!(time_label(t, 3600.0), "05:07");
        assert_eq!(time_label(t, 7.0 * 86_400.0), "11-29 05:07");
    }
}
