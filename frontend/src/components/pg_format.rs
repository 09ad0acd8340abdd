//! Pure helpers for the Postgres page: tabs and URL, durations, sizes, ratios and levels. No
//! web-sys here, so `cargo test -p triage-frontend` runs these natively.

use triage_shared::pg::{AdviceKind, StatementOrder};

use crate::components::k8s_format::{Level, url_encode};

/// The tabs of the Postgres page, as they appear in the URL (`tab=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgTab {
    #[default]
    Statements,
    Diff,
    Connections,
    Indexes,
    Tables,
}

impl PgTab {
    pub const ALL: [PgTab; 5] =
        [Self::Statements, Self::Diff, Self::Connections, Self::Indexes, Self::Tables];

    pub fn id(self) -> &'static str {
        match self {
            Self::Statements => "statements",
            Self::Diff => "diff",
            Self::Connections => "connections",
            Self::Indexes => "indexes",
            Self::Tables => "tables",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Statements => "Statements",
            Self::Diff => "Window diff",
            Self::Connections => "Connections",
            Self::Indexes => "Index advice",
            Self::Tables => "Tables",
        }
    }

    pub fn parse(id: Option<&str>) -> PgTab {
        Self::ALL.into_iter().find(|t| Some(t.id()) == id).unwrap_or_default()
    }
}

/// What the Postgres page's URL says:
/// `/postgres?target=…&tab=…&order=…&db=…&role=…&from=…&to=…`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgLocation {
    pub target: Option<String>,
    pub tab: PgTab,
    pub order: StatementOrder,
    pub database: String,
    pub role: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl PgLocation {
    pub fn href(&self) -> String {
        let mut url = String::from("/postgres?");
        if let Some(t) = self.target.as_deref().filter(|t| !t.is_empty()) {
            url.push_str(&format!("target={}&", url_encode(t)));
        }
        url.push_str("tab=");
        url.push_str(self.tab.id());
        if self.order != StatementOrder::default() {
            url.push_str(&format!("&order={}", self.order.id()));
        }
        if !self.database.is_empty() {
            url.push_str(&format!("&db={}", url_encode(&self.database)));
        }
        if !self.role.is_empty() {
            url.push_str(&format!("&role={}", url_encode(&self.role)));
        }
        if let Some(f) = self.from {
            url.push_str(&format!("&from={f}"));
        }
        if let Some(t) = self.to {
            url.push_str(&format!("&to={t}"));
        }
        url
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

/// Seconds as a short duration: `45 s`, `12 min 3 s`, `2 h 5 min`.
pub fn secs(v: f64) -> String {
    let s = v.max(0.0).round() as i64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
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

pub fn pct(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// A statement on one line, whitespace collapsed (the copy keeps PostgreSQL's text).
pub fn one_line(query: &str) -> String {
    query.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A shared-buffer hit ratio below 90 % reads from disk a lot; below 99 % is worth a look.
pub fn hit_level(ratio: Option<f64>) -> Level {
    match ratio {
        Some(r) if r < 0.9 => Level::Crit,
        Some(r) if r < 0.99 => Level::Warn,
        Some(_) => Level::Ok,
        None => Level::Neutral,
    }
}

/// Dead tuples: 20 % is where autovacuum steps in by default; above it vacuum is behind.
pub fn dead_level(ratio: f64) -> Level {
    if ratio >= 0.2 {
        Level::Crit
    } else if ratio >= 0.1 {
        Level::Warn
    } else {
        Level::Ok
    }
}

/// Session state → level: idle in transaction holds locks and a connection slot.
pub fn state_level(state: &str) -> Level {
    if state.starts_with("idle in transaction") {
        Level::Crit
    } else if state == "active" {
        Level::Ok
    } else {
        Level::Neutral
    }
}

pub fn advice_label(kind: AdviceKind) -> (&'static str, Level) {
    match kind {
        AdviceKind::CreateIndex => ("missing index", Level::Crit),
        AdviceKind::UnusedIndex => ("unused index", Level::Warn),
        AdviceKind::DuplicateIndex => ("duplicate index", Level::Warn),
        AdviceKind::RedundantIndex => ("redundant index", Level::Warn),
    }
}

/// The column header and tooltip of each order.
pub fn order_label(order: StatementOrder) -> (&'static str, &'static str) {
    match order {
        StatementOrder::Total => ("Total", "Total execution time, biggest first"),
        StatementOrder::Mean => ("Mean", "Mean execution time, slowest first"),
        StatementOrder::Calls => ("Calls", "Number of executions, most first"),
        StatementOrder::Max => ("Max", "Slowest single execution first"),
        StatementOrder::Stddev => ("Stddev", "Standard deviation of the execution time, most erratic first"),
        StatementOrder::Rows => ("Rows", "Rows returned or affected, most first"),
        StatementOrder::HitRatio => ("Hit ratio", "Shared-buffer hit ratio, lowest (most disk reads) first"),
    }
}

/// The psql line that shows the same top list.
pub fn psql_top(order: StatementOrder) -> String {
    let col = match order {
        StatementOrder::Total => "total_exec_time",
        StatementOrder::Mean => "mean_exec_time",
        StatementOrder::Calls => "calls",
        StatementOrder::Max => "max_exec_time",
        StatementOrder::Stddev => "stddev_exec_time",
        StatementOrder::Rows => "rows",
        StatementOrder::HitRatio => "shared_blks_hit::float / nullif(shared_blks_hit + shared_blks_read, 0)",
    };
    let dir = if order == StatementOrder::HitRatio { "ASC NULLS LAST" } else { "DESC" };
    format!(
        "psql -c \"SELECT query, calls, mean_exec_time, max_exec_time, stddev_exec_time, total_exec_time FROM pg_stat_statements ORDER BY {col} {dir} LIMIT 50\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_round_trips_the_view() {
        let loc = PgLocation {
            target: Some("main db".into()),
            tab: PgTab::Statements,
            order: StatementOrder::Mean,
            database: "app".into(),
            role: String::new(),
            from: None,
            to: None,
        };
        assert_eq!(loc.href(), "/postgres?target=main%20db&tab=statements&order=mean&db=app");
        let diff = PgLocation { tab: PgTab::Diff, from: Some(3), to: Some(9), ..PgLocation::default() };
        assert_eq!(diff.href(), "/postgres?tab=diff&from=3&to=9");
        for t in PgTab::ALL {
            assert_eq!(PgTab::parse(Some(t.id())), t);
        }
        assert_eq!(PgTab::parse(Some("nope")), PgTab::Statements);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(ms(0.0421), "0.042 ms");
        assert_eq!(ms(23.66), "23.7 ms");
        assert_eq!(ms(812.2), "812 ms");
        assert_eq!(ms(42_000.0), "42.0 s");
        assert_eq!(ms(600_000.0), "10.0 min");
        assert_eq!(secs(42.4), "42 s");
        assert_eq!(secs(723.0), "12 min 3 s");
        assert_eq!(size(8192), "8192 bytes");
        assert_eq!(size(16 * 1024 * 1024), "16 MB");
        assert_eq!(count(6_200_000), "6,200,000");
        assert_eq!(count(-1234), "-1,234");
        assert_eq!(count(12), "12");
        assert_eq!(pct(0.1234), "12.3%");
        assert_eq!(one_line("SELECT a\n   FROM  t"), "SELECT a FROM t");
    }

    #[test]
    fn levels() {
        assert_eq!(hit_level(Some(0.5)), Level::Crit);
        assert_eq!(hit_level(Some(0.995)), Level::Ok);
        assert_eq!(dead_level(0.25), Level::Crit);
        assert_eq!(state_level("idle in transaction (aborted)"), Level::Crit);
        assert!(psql_top(StatementOrder::Mean).contains("ORDER BY mean_exec_time DESC"));
    }
}
