//! What the Postgres page's URL says:
//! `/postgres?target=…&tab=…&order=…&db=…&role=…&from=…&to=…`.

use triage_shared::pg::StatementOrder;

use crate::format::url::encode;
use crate::widgets::PageTab;

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

    pub fn parse(id: Option<&str>) -> PgTab {
        Self::ALL.into_iter().find(|t| Some(t.id()) == id).unwrap_or_default()
    }
}

impl PageTab for PgTab {
    fn all() -> &'static [PgTab] {
        &Self::ALL
    }

    fn id(self) -> &'static str {
        match self {
            Self::Statements => "statements",
            Self::Diff => "diff",
            Self::Connections => "connections",
            Self::Indexes => "indexes",
            Self::Tables => "tables",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Statements => "Statements",
            Self::Diff => "Window diff",
            Self::Connections => "Connections",
            Self::Indexes => "Index advice",
            Self::Tables => "Tables",
        }
    }
}

/// The page's view: target, tab, the statements' order and filters, the diff's snapshots.
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
    /// The view the URL's query describes (`get` reads one of its keys) (unreadable values are absent ones).
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> PgLocation {
        PgLocation {
            target: get("target").filter(|t| !t.is_empty()),
            tab: PgTab::parse(get("tab").as_deref()),
            order: get("order").and_then(|o| StatementOrder::parse(&o)).unwrap_or_default(),
            database: get("db").unwrap_or_default(),
            role: get("role").unwrap_or_default(),
            from: get("from").and_then(|f| f.parse().ok()),
            to: get("to").and_then(|t| t.parse().ok()),
        }
    }

    pub fn href(&self) -> String {
        let mut url = String::from("/postgres?");
        if let Some(t) = self.target.as_deref().filter(|t| !t.is_empty()) {
            url.push_str(&format!("target={}&", encode(t)));
        }
        url.push_str("tab=");
        url.push_str(self.tab.id());
        if self.order != StatementOrder::default() {
            url.push_str(&format!("&order={}", self.order.id()));
        }
        if !self.database.is_empty() {
            url.push_str(&format!("&db={}", encode(&self.database)));
        }
        if !self.role.is_empty() {
            url.push_str(&format!("&role={}", encode(&self.role)));
        }
        if let Some(f) = self.from {
            url.push_str(&format!("&from={f}"));
        }
        if let Some(t) = self.to {
            url.push_str(&format!("&to={t}"));
        }
        crate::env::href(&url)
    }
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
    fn the_query_string_is_read_back() {
        let p: std::collections::BTreeMap<&str, String> =
            [("target", "main"), ("tab", "diff"), ("from", "3"), ("to", "x")]
                .map(|(k, v)| (k, v.to_owned()))
                .into();
        let loc = PgLocation::parse(|k| p.get(k).cloned());
        assert_eq!(loc.target.as_deref(), Some("main"));
        assert_eq!((loc.tab, loc.from, loc.to), (PgTab::Diff, Some(3), None));
        assert_eq!(loc.order, StatementOrder::default());
    }
}
