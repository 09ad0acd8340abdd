//! What the Kubernetes page's URL says: `/kubernetes?ns=…&tab=…&selector=…&pod=…`.

use crate::format::url::encode;
use crate::widgets::PageTab;

/// The tabs of the Kubernetes page, as they appear in the URL (`tab=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Pods,
    Deployments,
    Events,
    Top,
    Services,
    NetworkPolicies,
}

impl Tab {
    pub const ALL: [Tab; 6] =
        [Tab::Pods, Tab::Deployments, Tab::Events, Tab::Top, Tab::Services, Tab::NetworkPolicies];

    /// The tab named in the URL; anything else is the pods tab.
    pub fn parse(id: Option<&str>) -> Tab {
        Self::ALL.into_iter().find(|t| Some(t.id()) == id).unwrap_or_default()
    }
}

impl PageTab for Tab {
    fn all() -> &'static [Tab] {
        &Self::ALL
    }

    fn id(self) -> &'static str {
        match self {
            Self::Pods => "pods",
            Self::Deployments => "deployments",
            Self::Events => "events",
            Self::Top => "top",
            Self::Services => "services",
            Self::NetworkPolicies => "netpol",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Pods => "Pods",
            Self::Deployments => "Deployments",
            Self::Events => "Events",
            Self::Top => "Top",
            Self::Services => "Services",
            Self::NetworkPolicies => "Network policies",
        }
    }
}

/// The page's view: namespace, tab, the pods' label selector and the pod shown in detail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct K8sLocation {
    pub ns: Option<String>,
    pub tab: Tab,
    pub selector: Option<String>,
    pub pod: Option<String>,
}

impl K8sLocation {
    /// The view the URL's query describes (`get` reads one of its keys) (empty values are absent ones).
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> K8sLocation {
        K8sLocation {
            ns: get("ns").filter(|n| !n.is_empty()),
            tab: Tab::parse(get("tab").as_deref()),
            selector: get("selector"),
            pod: get("pod").filter(|p| !p.is_empty()),
        }
    }

    pub fn href(&self) -> String {
        let mut url = String::from("/kubernetes?");
        if let Some(ns) = self.ns.as_deref().filter(|n| !n.is_empty()) {
            url.push_str(&format!("ns={}&", encode(ns)));
        }
        url.push_str("tab=");
        url.push_str(self.tab.id());
        if let Some(sel) = self.selector.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            url.push_str(&format!("&selector={}", encode(sel)));
        }
        if let Some(pod) = self.pod.as_deref().filter(|p| !p.is_empty()) {
            url.push_str(&format!("&pod={}", encode(pod)));
        }
        crate::env::href(&url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_round_trip_through_the_url() {
        let loc = K8sLocation {
            ns: Some("streaming-analytics".into()),
            tab: Tab::Pods,
            selector: Some("app=stream-processor".into()),
            pod: Some("kafka-0".into()),
        };
        assert_eq!(
            loc.href(),
            "/kubernetes?ns=streaming-analytics&tab=pods&selector=app%3Dstream-processor&pod=kafka-0"
        );
        assert_eq!(K8sLocation::default().href(), "/kubernetes?tab=pods");
        for t in Tab::ALL {
            assert_eq!(Tab::parse(Some(t.id())), t);
        }
        assert_eq!(Tab::parse(Some("nope")), Tab::Pods);
        assert_eq!(Tab::parse(None), Tab::Pods);
    }

    #[test]
    fn the_query_string_is_read_back() {
        let params: std::collections::BTreeMap<&str, String> =
            [("ns", "streaming-analytics"), ("tab", "events"), ("pod", "")]
                .map(|(k, v)| (k, v.to_owned()))
                .into();
        let loc = K8sLocation::parse(|k| params.get(k).cloned());
        assert_eq!(loc.ns.as_deref(), Some("streaming-analytics"));
        assert_eq!(loc.tab, Tab::Events);
        assert_eq!((loc.selector, loc.pod), (None, None));
    }
}
