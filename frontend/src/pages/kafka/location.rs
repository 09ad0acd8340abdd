//! What the Kafka page's URL says: `/kafka/<tab>` and `/kafka/<tab>/<selection>`
//! (`/kafka/topics/events`, `/kafka/groups/stream-processor-group`), so a topic or a group is a
//! permalink.

use crate::format::url::encode;
use crate::widgets::PageTab;

/// The tabs of the Kafka page, as the URL's first segment after `/kafka` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KafkaTab {
    #[default]
    Brokers,
    Topics,
    Groups,
}

impl KafkaTab {
    pub const ALL: [KafkaTab; 3] = [Self::Brokers, Self::Topics, Self::Groups];

    /// The tab named in the URL; anything else is the brokers tab.
    pub fn parse(id: Option<&str>) -> KafkaTab {
        Self::ALL.into_iter().find(|t| Some(t.id()) == id).unwrap_or_default()
    }
}

impl PageTab for KafkaTab {
    fn all() -> &'static [KafkaTab] {
        &Self::ALL
    }

    fn id(self) -> &'static str {
        match self {
            Self::Brokers => "brokers",
            Self::Topics => "topics",
            Self::Groups => "groups",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Brokers => "Brokers",
            Self::Topics => "Topics",
            Self::Groups => "Consumer groups",
        }
    }
}

/// The page's view: the tab and the topic or group shown in detail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KafkaLocation {
    pub tab: KafkaTab,
    pub selected: Option<String>,
}

impl KafkaLocation {
    /// The view the path's segments describe (already percent-decoded by the router); the
    /// brokers tab has no selection.
    pub fn parse(tab: Option<&str>, name: Option<&str>) -> KafkaLocation {
        let tab = KafkaTab::parse(tab);
        let selected = name.filter(|n| !n.is_empty() && tab != KafkaTab::Brokers).map(str::to_owned);
        KafkaLocation { tab, selected }
    }

    pub fn href(&self) -> String {
        let path = match self.selected.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => format!("/kafka/{}/{}", self.tab.id(), encode(s)),
            None => format!("/kafka/{}", self.tab.id()),
        };
        crate::env::href(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_round_trips_the_view() {
        let loc = KafkaLocation { tab: KafkaTab::Groups, selected: Some("stream processor/1".into()) };
        assert_eq!(loc.href(), "/kafka/groups/stream%20processor%2F1");
        assert_eq!(KafkaLocation::parse(Some("groups"), Some("stream processor/1")), loc);
        assert_eq!(KafkaLocation::parse(None, None).href(), "/kafka/brokers");
        assert_eq!(KafkaLocation::parse(Some("brokers"), Some("x")).selected, None);
        for t in KafkaTab::ALL {
            assert_eq!(KafkaTab::parse(Some(t.id())), t);
        }
        assert_eq!(KafkaTab::parse(Some("nope")), KafkaTab::Brokers);
    }
}
