//! How long a consumer group needs to catch up at the current consume and produce rates: the
//! slope of its total lag (messages a minute), from Prometheus's series of it or from two reads
//! of the group from Kafka, said in words. Pure, so `cargo test -p triage-frontend` runs it.

use crate::format::duration::ago;
use crate::format::units::count;

/// The stretch of the lag series the slope is fitted on, in seconds.
pub const WINDOW_SECS: f64 = 300.0;

/// Where the lag's slope came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Prometheus,
    /// Two reads of the group from Kafka, this many seconds apart.
    Reads {
        apart_secs: u64,
    },
}

/// Where a group's lag is going.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CatchUp {
    /// No lag left.
    CaughtUp,
    /// The lag falls `per_minute` messages a minute: zero in about `minutes`.
    Falling { per_minute: f64, minutes: f64 },
    /// The lag grows `per_minute` messages a minute.
    Rising { per_minute: f64 },
    /// The lag barely moves (see [`is_tiny`]).
    Steady,
}

/// The estimate from a lag series (`[unix seconds, lag]`, in time order): the least-squares
/// slope over the last [`WINDOW_SECS`] of points; `None` with fewer than 3 points there.
pub fn from_series(points: &[[f64; 2]]) -> Option<CatchUp> {
    let last = points.last()?;
    let recent: Vec<[f64; 2]> = points.iter().copied().filter(|p| p[0] >= last[0] - WINDOW_SECS).collect();
    let slope = slope_per_minute(&recent)?;
    Some(classify(last[1], slope))
}

/// The estimate from two reads `(unix seconds, total lag)`, the older first; `None` when the
/// second is not later than the first.
pub fn from_reads(previous: (f64, i64), current: (f64, i64)) -> Option<CatchUp> {
    let dt = current.0 - previous.0;
    if !dt.is_finite() || dt <= 0.0 {
        return None;
    }
    let slope = (current.1 - previous.1) as f64 / dt * 60.0;
    Some(classify(current.1 as f64, slope))
}

/// The latest two reads of a group's total lag, `(unix seconds, lag)`, kept across reloads of
/// its page for [`from_reads`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LagReads {
    /// The reload the latest read answered, so one read is never counted twice.
    reload: Option<u32>,
    previous: Option<(f64, i64)>,
    latest: Option<(f64, i64)>,
}

impl LagReads {
    /// Records the read answering reload `reload`, made at `at`. An unknown total lag forgets
    /// both reads; `restart` (the offsets were just reset) keeps only this one.
    pub fn push(&mut self, reload: u32, at: f64, total_lag: Option<i64>, restart: bool) {
        if self.reload == Some(reload) {
            return;
        }
        self.reload = Some(reload);
        let read = total_lag.map(|lag| (at, lag));
        self.previous = if restart || read.is_none() { None } else { self.latest };
        self.latest = read;
    }

    /// The estimate from the last two reads, when there are two.
    pub fn estimate(&self) -> Option<(CatchUp, Source)> {
        let (previous, latest) = (self.previous?, self.latest?);
        let c = from_reads(previous, latest)?;
        Some((c, Source::Reads { apart_secs: (latest.0 - previous.0).round() as u64 }))
    }
}

pub use triage_shared::prom::slope_per_minute;

/// A slope too small to call a trend: under one message a minute, or under 0.1 % of the lag a
/// minute (more than about 17 hours to clear it).
pub fn is_tiny(lag: f64, per_minute: f64) -> bool {
    per_minute.abs() < 1.0_f64.max(lag.abs() * 0.001)
}

fn classify(lag: f64, per_minute: f64) -> CatchUp {
    if lag <= 0.0 && per_minute <= 0.0 {
        CatchUp::CaughtUp
    } else if is_tiny(lag, per_minute) {
        CatchUp::Steady
    } else if per_minute < 0.0 {
        CatchUp::Falling { per_minute: -per_minute, minutes: lag / -per_minute }
    } else {
        CatchUp::Rising { per_minute }
    }
}

/// The estimate in words, e.g. "catching up: about 12 min at the current rates (lag falling
/// 340/min)".
pub fn text(c: CatchUp) -> String {
    match c {
        CatchUp::CaughtUp => "caught up: no lag".to_owned(),
        CatchUp::Falling { per_minute, minutes } => format!(
            "catching up: about {} at the current rates (lag falling {}/min)",
            remaining(minutes),
            rate(per_minute)
        ),
        CatchUp::Rising { per_minute } => format!("not catching up: lag rising {}/min", rate(per_minute)),
        CatchUp::Steady => "steady: the lag barely moves".to_owned(),
    }
}

/// Where the estimate came from, in words.
pub fn source_text(s: Source) -> String {
    match s {
        Source::Prometheus => "from Prometheus".to_owned(),
        Source::Reads { apart_secs } => format!("from the last two reads, {} apart", ago(apart_secs as f64)),
    }
}

/// The time left, to the nearest minute from one minute up ("about 3 min", "about 2 h 5 min").
fn remaining(minutes: f64) -> String {
    let secs = minutes * 60.0;
    ago(if secs >= 60.0 { (secs / 60.0).round() * 60.0 } else { secs.ceil().max(1.0) })
}

/// Messages a minute: whole with thousands separators from 10 up, one decimal below.
fn rate(per_minute: f64) -> String {
    let v = per_minute.abs();
    if v >= 10.0 { count(v.round() as i64) } else { format!("{v:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point every 15 s from `start` with lag `lag0 + per_minute × minutes`.
    fn line(n: u32, lag0: f64, per_minute: f64) -> Vec<[f64; 2]> {
        (0..n).map(|i| [1000.0 + f64::from(i) * 15.0, lag0 + per_minute * f64::from(i) / 4.0]).collect()
    }

    #[test]
    fn falling_lag_says_when_it_is_caught_up() {
        // 4,000 behind at the last point, falling 400/min: about 10 minutes.
        let points = line(9, 4800.0, -400.0);
        let Some(CatchUp::Falling { per_minute, minutes }) = from_series(&points) else {
            panic!("{:?}", from_series(&points))
        };
        assert!((per_minute - 400.0).abs() < 1e-6, "{per_minute}");
        assert!((minutes - 10.0).abs() < 1e-6, "{minutes}");
        assert_eq!(
            text(CatchUp::Falling { per_minute, minutes }),
            "catching up: about 10 min at the current rates (lag falling 400/min)"
        );
    }

    #[test]
    fn rising_lag_is_not_catching_up() {
        let c = from_series(&line(6, 1000.0, 1500.0));
        assert!(
            matches!(c, Some(CatchUp::Rising { per_minute }) if (per_minute - 1500.0).abs() < 1e-6),
            "{c:?}"
        );
        assert_eq!(text(c.expect("estimate")), "not catching up: lag rising 1,500/min");
    }

    #[test]
    fn flat_or_noisy_small_changes_are_steady() {
        assert_eq!(from_series(&line(5, 50_000.0, 0.0)), Some(CatchUp::Steady));
        // 20/min on 50,000 is under 0.1 % a minute.
        assert_eq!(from_series(&line(5, 50_000.0, -20.0)), Some(CatchUp::Steady));
        assert_eq!(from_series(&line(5, 200.0, 0.5)), Some(CatchUp::Steady));
        assert_eq!(text(CatchUp::Steady), "steady: the lag barely moves");
    }

    #[test]
    fn too_few_points_say_nothing() {
        assert_eq!(from_series(&[]), None);
        assert_eq!(from_series(&line(2, 100.0, -10.0)), None);
        // Three points, but only two in the last five minutes.
        let points = [[0.0, 900.0], [600.0, 500.0], [660.0, 400.0]];
        assert_eq!(from_series(&points), None);
        // Three at one instant have no slope.
        assert_eq!(from_series(&[[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]]), None);
    }

    #[test]
    fn only_the_last_five_minutes_count() {
        // Rising an hour ago, falling in the last five minutes.
        let mut points = line(20, 0.0, 600.0);
        let t = points.last().map(|p| p[0]).unwrap_or_default() + 3600.0;
        points.extend((0..10).map(|i| [t + f64::from(i) * 30.0, 3000.0 - 100.0 * f64::from(i)]));
        assert!(matches!(from_series(&points), Some(CatchUp::Falling { .. })), "{:?}", from_series(&points));
    }

    #[test]
    fn zero_lag_is_caught_up() {
        assert_eq!(from_series(&line(5, 0.0, 0.0)), Some(CatchUp::CaughtUp));
        assert_eq!(from_series(&[[0.0, 30.0], [15.0, 10.0], [30.0, 0.0]]), Some(CatchUp::CaughtUp));
        assert_eq!(from_reads((0.0, 0), (10.0, 0)), Some(CatchUp::CaughtUp));
        assert_eq!(text(CatchUp::CaughtUp), "caught up: no lag");
        // Zero now but growing is not caught up.
        assert!(matches!(from_series(&line(5, 0.0, 200.0)), Some(CatchUp::Rising { .. })));
    }

    #[test]
    fn two_reads_give_the_rate_between_them() {
        // 1,200 fewer in 30 s: falling 2,400/min, 6,000 left is 2.5 min.
        let c = from_reads((100.0, 7200), (130.0, 6000));
        assert_eq!(c, Some(CatchUp::Falling { per_minute: 2400.0, minutes: 2.5 }));
        assert_eq!(
            text(c.expect("estimate")),
            "catching up: about 3 min at the current rates (lag falling 2,400/min)"
        );
        assert!(matches!(from_reads((100.0, 6000), (110.0, 6500)), Some(CatchUp::Rising { .. })));
        assert_eq!(from_reads((100.0, 6000), (100.0, 5000)), None, "same instant");
        assert_eq!(from_reads((110.0, 6000), (100.0, 5000)), None, "out of order");
    }

    #[test]
    fn reads_are_compared_two_by_two() {
        let mut reads = LagReads::default();
        reads.push(0, 100.0, Some(9000), false);
        assert_eq!(reads.estimate(), None, "one read");
        reads.push(0, 101.0, Some(1), false);
        assert_eq!(reads.estimate(), None, "the same reload again is not a second read");
        reads.push(1, 130.0, Some(8000), false);
        assert!(
            matches!(reads.estimate(), Some((CatchUp::Falling { .. }, Source::Reads { apart_secs: 30 }))),
            "{reads:?}"
        );
        reads.push(2, 160.0, Some(9000), false);
        assert!(matches!(reads.estimate(), Some((CatchUp::Rising { .. }, _))), "{reads:?}");
        reads.push(3, 170.0, None, false);
        assert_eq!(reads.estimate(), None, "an unknown lag forgets");
        reads.push(4, 180.0, Some(100), false);
        reads.push(5, 190.0, Some(0), true);
        assert_eq!(reads.estimate(), None, "not across an offset reset");
    }

    #[test]
    fn sources_in_words() {
        assert_eq!(source_text(Source::Prometheus), "from Prometheus");
        assert_eq!(source_text(Source::Reads { apart_secs: 12 }), "from the last two reads, 12 s apart");
        assert_eq!(rate(2.34), "2.3");
        assert_eq!(remaining(0.25), "15 s");
        assert_eq!(remaining(125.2), "2 h 5 min");
    }
}
