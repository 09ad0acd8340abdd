//! Values and quantities: a chart's units (axes, legends, read-outs), CPU and memory as
//! Kubernetes prints them, sizes as PostgreSQL prints them, counts and ratios.

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

/// CPU as `kubectl top` prints it: millicores.
pub fn cpu(millicores: f64) -> String {
    format!("{:.0}m", millicores.max(0.0))
}

/// Memory in binary units, like Kubernetes quantities: `900Ki`, `512Mi`, `1.5Gi`.
pub fn memory(bytes: f64) -> String {
    const KI: f64 = 1024.0;
    let b = bytes.max(0.0);
    if b >= KI * KI * KI {
        let g = format!("{:.1}", b / (KI * KI * KI));
        format!("{}Gi", g.trim_end_matches(".0"))
    } else if b >= KI * KI {
        format!("{:.0}Mi", b / (KI * KI))
    } else if b >= KI {
        format!("{:.0}Ki", b / KI)
    } else {
        format!("{b:.0}B")
    }
}

/// `used` as a percentage of `total`, when there is a positive total.
pub fn percent(used: f64, total: Option<f64>) -> Option<f64> {
    total.filter(|t| *t > 0.0).map(|t| used / t * 100.0)
}

/// Sizes as PostgreSQL's `pg_size_pretty` prints them: `8192 bytes`, `16 kB`, `12 MB`, `1.5 GB`.
pub fn size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    const K: f64 = 1024.0;
    if b < 10.0 * K {
        format!("{bytes} bytes")
    } else if b < 10.0 * K * K {
        format!("{:.0} kB", b / K)
    } else if b < 10.0 * K * K * K {
        format!("{:.0} MB", b / (K * K))
    } else {
        format!("{:.1} GB", b / (K * K * K))
    }
}

/// Counts with thousands separators: `6200000` → `6,200,000`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A ratio 0..1 as a percentage with one decimal: `12.3%`.
pub fn pct(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
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
    fn quantities() {
        assert_eq!(cpu(249.6), "250m");
        assert_eq!(memory(512.0 * 1024.0 * 1024.0), "512Mi");
        assert_eq!(memory(1.5 * 1024.0 * 1024.0 * 1024.0), "1.5Gi");
        assert_eq!(memory(1024.0 * 1024.0 * 1024.0), "1Gi");
        assert_eq!(memory(900.0 * 1024.0), "900Ki");
        assert_eq!(memory(12.0), "12B");
        assert_eq!(percent(50.0, Some(200.0)), Some(25.0));
        assert_eq!(percent(50.0, Some(0.0)), None);
        assert_eq!(percent(50.0, None), None);
    }

    #[test]
    fn sizes_counts_and_ratios() {
        assert_eq!(size(8192), "8192 bytes");
        assert_eq!(size(16 * 1024 * 1024), "16 MB");
        assert_eq!(count(6_200_000), "6,200,000");
        assert_eq!(count(-1234), "-1,234");
        assert_eq!(count(12), "12");
        assert_eq!(pct(0.1234), "12.3%");
    }
}
