//! Durations, each in the spelling of the place it is shown: kubectl's ages in the Kubernetes
//! tables, PostgreSQL timings and session lengths, and "how long ago" in the Alerts page.
//! All of them break a count of seconds down with [`Parts`].

/// Whole seconds broken down into days, hours, minutes and seconds (negative counts as zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    total: u64,
    days: u64,
    hours: u64,
    minutes: u64,
    seconds: u64,
}

impl Parts {
    fn of(total: u64) -> Parts {
        Parts {
            total,
            days: total / 86_400,
            hours: (total % 86_400) / 3600,
            minutes: (total % 3600) / 60,
            seconds: total % 60,
        }
    }
}

/// kubectl-style age: `45s`, `3m`, `5h`, `12d`.
pub fn age(seconds: i64) -> String {
    let p = Parts::of(seconds.max(0).unsigned_abs());
    if p.total < 60 {
        format!("{}s", p.total)
    } else if p.total < 3600 {
        format!("{}m", p.total / 60)
    } else if p.total < 86_400 {
        format!("{}h", p.total / 3600)
    } else {
        format!("{}d", p.days)
    }
}

/// Seconds as a short duration: `45 s`, `12 min 3 s`, `2 h 5 min`.
pub fn secs(v: f64) -> String {
    let p = Parts::of(v.max(0.0).round() as u64);
    if p.total < 60 {
        format!("{} s", p.total)
    } else if p.total < 3600 {
        format!("{} min {} s", p.minutes, p.seconds)
    } else {
        format!("{} h {} min", p.total / 3600, p.minutes)
    }
}

/// "12 s", "4 min", "3 h 5 min", "2 d": how long ago, for "updated … ago" and "active since".
pub fn ago(seconds: f64) -> String {
    let p = Parts::of(seconds.max(0.0).floor() as u64);
    if p.total < 60 {
        format!("{} s", p.total)
    } else if p.total < 3600 {
        format!("{} min", p.minutes)
    } else if p.total < 86_400 {
        if p.minutes == 0 { format!("{} h", p.hours) } else { format!("{} h {} min", p.hours, p.minutes) }
    } else {
        format!("{} d", p.days)
    }
}

/// Milliseconds with sensible precision: `0.042 ms`, `3.4 ms`, `812 ms`, `4.2 s`, `3.1 min`.
pub fn ms(v: f64) -> String {
    let v = v.max(0.0);
    if v < 1.0 {
        format!("{v:.3} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else if v < 10_000.0 {
        format!("{v:.0} ms")
    } else if v < 120_000.0 {
        format!("{:.1} s", v / 1000.0)
    } else if v < 7_200_000.0 {
        format!("{:.1} min", v / 60_000.0)
    } else {
        format!("{:.1} h", v / 3_600_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(45), "45s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(60), "1m");
        assert_eq!(age(3 * 60 + 59), "3m");
        assert_eq!(age(5 * 3600 + 10), "5h");
        assert_eq!(age(12 * 86_400 + 7), "12d");
    }

    #[test]
    fn postgres_durations() {
        assert_eq!(ms(0.0421), "0.042 ms");
        assert_eq!(ms(23.66), "23.7 ms");
        assert_eq!(ms(812.2), "812 ms");
        assert_eq!(ms(42_000.0), "42.0 s");
        assert_eq!(ms(600_000.0), "10.0 min");
        assert_eq!(secs(42.4), "42 s");
        assert_eq!(secs(723.0), "12 min 3 s");
        assert_eq!(secs(3600.0), "1 h 0 min");
        assert_eq!(secs(90_061.0), "25 h 1 min");
        assert_eq!(secs(-3.0), "0 s");
    }

    #[test]
    fn durations_ago_read_naturally() {
        assert_eq!(ago(0.4), "0 s");
        assert_eq!(ago(59.0), "59 s");
        assert_eq!(ago(61.0), "1 min");
        assert_eq!(ago(3600.0), "1 h");
        assert_eq!(ago(3900.0), "1 h 5 min");
        assert_eq!(ago(200_000.0), "2 d");
        assert_eq!(ago(-5.0), "0 s");
    }
}
