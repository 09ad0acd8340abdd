//! The object store behind the simulated Kubernetes API: every object as JSON, keyed by kind,
//! namespace and name, with a global `resourceVersion` and a replayable change log for watches.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};
use tokio::sync::broadcast;

/// The kinds the sandbox serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Node,
    Pod,
    Service,
    Endpoints,
    Event,
    Secret,
    Deployment,
    ReplicaSet,
    StatefulSet,
    NetworkPolicy,
    EndpointSlice,
}

/// Static facts about a kind: where it lives in the API and how it is named.
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
}

const READ: &[&str] = &["get", "list", "watch"];
/// Kinds a client may create (Deployments, StatefulSets and bare Pods, for test fixtures).
const WRITE: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];
const WRITE_COLLECTION: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::Service,
        Kind::Endpoints,
        Kind::Event,
        Kind::Secret,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::NetworkPolicy,
        Kind::EndpointSlice,
    ];

    pub const fn info(self) -> KindInfo {
        let (group, version, plural, kind, namespaced, verbs, short_names): (
            &str,
            &str,
            &str,
            &str,
            bool,
            &[&str],
            &[&str],
        ) = match self {
            Kind::Namespace => ("", "v1", "namespaces", "Namespace", false, READ, &["ns"]),
            Kind::Node => ("", "v1", "nodes", "Node", false, READ, &["no"]),
            Kind::Pod => ("", "v1", "pods", "Pod", true, WRITE_COLLECTION, &["po"]),
            Kind::Service => ("", "v1", "services", "Service", true, READ, &["svc"]),
            Kind::Endpoints => ("", "v1", "endpoints", "Endpoints", true, READ, &["ep"]),
            Kind::Event => ("", "v1", "events", "Event", true, READ, &["ev"]),
            Kind::Secret => ("", "v1", "secrets", "Secret", true, READ, &[]),
            Kind::Deployment => ("apps", "v1", "deployments", "Deployment", true, WRITE, &["deploy"]),
            Kind::ReplicaSet => ("apps", "v1", "replicasets", "ReplicaSet", true, READ, &["rs"]),
            Kind::StatefulSet => ("apps", "v1", "statefulsets", "StatefulSet", true, WRITE, &["sts"]),
            Kind::NetworkPolicy => {
                ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, READ, &["netpol"])
            }
            Kind::EndpointSlice => {
                ("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, READ, &[])
            }
        };
        KindInfo { group, version, plural, kind, namespaced, verbs, short_names }
    }

    pub fn api_version(self) -> String {
        let i = self.info();
        if i.group.is_empty() { i.version.to_owned() } else { format!("{}/{}", i.group, i.version) }
    }

    /// The resource as the API server names it in messages: `pods`, `deployments.apps`.
    pub fn qualified(self) -> String {
        let i = self.info();
        if i.group.is_empty() { i.plural.to_owned() } else { format!("{}.{}", i.plural, i.group) }
    }

    /// The kind as the API server names it in `Invalid` messages: `Pod`, `Deployment.apps`.
    pub fn qualified_kind(self) -> String {
        let i = self.info();
        if i.group.is_empty() { i.kind.to_owned() } else { format!("{}.{}", i.kind, i.group) }
    }

    pub fn from_path(group: &str, version: &str, plural: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| {
            let i = k.info();
            i.group == group && i.version == version && i.plural == plural
        })
    }
}

pub type Key = (Kind, String, String);

/// One change, as a watch event.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub kind: Kind,
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub event_type: &'static str,
    pub object: Value,
}

const HISTORY: usize = 20_000;

pub struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    history: VecDeque<Change>,
    changes: broadcast::Sender<Change>,
    uid_counter: u64,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(16_384);
        Self { objects: BTreeMap::new(), rv: 1000, history: VecDeque::new(), changes, uid_counter: 0 }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Changes after `rv`, or None when `rv` is older than the kept history (410 Gone).
    pub fn changes_since(&self, rv: u64) -> Option<Vec<Change>> {
        if let Some(first) = self.history.front()
            && rv + 1 < first.rv
        {
            return None;
        }
        Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(&(kind, namespace.to_owned(), name.to_owned()))
    }

    /// Objects of `kind`, in one namespace or (None) in all, ordered by namespace then name.
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> Vec<&Value> {
        let start = (kind, namespace.unwrap_or_default().to_owned(), String::new());
        self.objects
            .range(start..)
            .take_while(|((k, ns, _), _)| *k == kind && namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v)
            .collect()
    }

    pub fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let n = self.uid_counter;
        format!("5a4d0b1e-{:04x}-4000-8000-{:012x}", (n >> 48) & 0xffff, n & 0xffff_ffff_ffff)
    }

    /// Inserts or replaces an object, filling in kind, apiVersion, uid, creationTimestamp and a
    /// fresh resourceVersion. Returns the stored object.
    pub fn put(&mut self, kind: Kind, mut object: Value) -> Value {
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let key = (kind, namespace.clone(), name);
        let existing = self.objects.get(&key);
        let event_type = if existing.is_some() { "MODIFIED" } else { "ADDED" };
        let (uid, created) = match existing {
            Some(old) => (old["metadata"]["uid"].clone(), old["metadata"]["creationTimestamp"].clone()),
            None => (json!(self.next_uid()), json!(now_rfc3339())),
        };
        self.rv += 1;
        object["kind"] = json!(kind.info().kind);
        object["apiVersion"] = json!(kind.api_version());
        let meta = &mut object["metadata"];
        if meta["uid"].is_null() {
            meta["uid"] = uid;
        }
        if meta["creationTimestamp"].is_null() {
            meta["creationTimestamp"] = created;
        }
        meta["resourceVersion"] = json!(self.rv.to_string());
        self.objects.insert(key, object.clone());
        self.record(kind, namespace, event_type, object.clone());
        object
    }

    pub fn remove(&mut self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let mut object = self.objects.remove(&(kind, namespace.to_owned(), name.to_owned()))?;
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(kind, namespace.to_owned(), "DELETED", object.clone());
        Some(object)
    }

    fn record(&mut self, kind: Kind, namespace: String, event_type: &'static str, object: Value) {
        let change = Change { rv: self.rv, kind, namespace, event_type, object };
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(change.clone());
        // No receivers is normal (nobody watching).
        let _ = self.changes.send(change);
    }
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
