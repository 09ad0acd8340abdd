//! The simulated platform: deployments reconciled into pods, pods that start, become ready,
//! leak memory, get OOMKilled and restart, a Kafka consumer group whose lag follows the
//! consumers' capacity, and the counters behind `/metrics`. `tick` advances it all by `dt`.
//!
//! Controllers find their pods by owner, never by label: a pod records the ReplicaSet or
//! StatefulSet that made it. Objects created through the API (test fixtures) get pods built from
//! their own template that take no part in the platform's simulation (no consumer, no incident).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::incident::Incident;
use crate::store::{Kind, Store, rfc3339};

pub const NAMESPACE: &str = "streaming-analytics";
pub const PARTITIONS: usize = 24;
pub const CONSUMER_GROUP: &str = "stream-processor-group";
pub const TOPIC: &str = "events";
const MIB: f64 = 1024.0 * 1024.0;

/// A service of the platform and its container's shape.
pub struct AppSpec {
    pub name: &'static str,
    pub replicas: u32,
    pub image: &'static str,
    pub port: u16,
    pub cpu_request_m: u32,
    pub cpu_limit_m: u32,
    pub memory_request_mib: u32,
    pub memory_limit_mib: u32,
    /// Working-set memory of a fresh container.
    pub base_memory_mib: f64,
}

pub const APPS: [AppSpec; 3] = [
    AppSpec {
        name: "websocket-server",
        replicas: 3,
        image: "registry.example.com/streaming/websocket-server:2.14.3",
        port: 8080,
        cpu_request_m: 250,
        cpu_limit_m: 1000,
        memory_request_mib: 512,
        memory_limit_mib: 1024,
        base_memory_mib: 280.0,
    },
    AppSpec {
        name: "stream-processor",
        replicas: 6,
        image: "registry.example.com/streaming/stream-processor:3.7.0",
        port: 8081,
        cpu_request_m: 500,
        cpu_limit_m: 1000,
        memory_request_mib: 512,
        memory_limit_mib: 1024,
        base_memory_mib: 340.0,
    },
    AppSpec {
        name: "ml-inference",
        replicas: 4,
        image: "registry.example.com/streaming/ml-inference:1.9.2",
        port: 8082,
        cpu_request_m: 1000,
        cpu_limit_m: 2000,
        memory_request_mib: 2048,
        memory_limit_mib: 4096,
        base_memory_mib: 1500.0,
    },
];

pub const KAFKA_BROKERS: usize = 3;

pub fn app_spec(name: &str) -> Option<&'static AppSpec> {
    APPS.iter().find(|a| a.name == name)
}

/// Where a pod is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    Pending,
    ContainerCreating,
    Running,
    /// Crash-looping: waiting before the next start.
    BackOff,
}

#[derive(Debug, Clone)]
pub struct LogLine {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub text: String,
}

/// Who controls a pod, which decides what replaces it when it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodOwner {
    /// A bare pod: nothing recreates it.
    None,
    /// A pod of ReplicaSet `<deployment>-<hash>` (`PodSim::hash`); `uid` is the ReplicaSet's.
    ReplicaSet { deployment: String, uid: String },
    /// Pod `<name>-<ordinal>` of a StatefulSet, at revision `PodSim::hash`; `uid` is the set's.
    StatefulSet { name: String, uid: String },
}

/// The simulation's view of one pod (the store holds its Kubernetes object).
#[derive(Debug, Clone)]
pub struct PodSim {
    pub name: String,
    /// The platform service it runs (`stream-processor`, `kafka`, …); empty for created workloads.
    pub app: String,
    /// Pod-template hash of its ReplicaSet, or a StatefulSet pod's revision.
    pub hash: String,
    pub owner: PodOwner,
    pub labels: Value,
    pub annotations: Value,
    /// The pod template (`metadata` and `spec`) of a created workload; `None` for the platform's
    /// own pods, whose shape comes from `APPS`.
    pub template: Option<Arc<Value>>,
    pub node: String,
    pub ip: String,
    pub created: DateTime<Utc>,
    /// Seconds since the current container state began.
    pub state_age: f64,
    pub state: PodState,
    pub ready: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub restarts: u32,
    pub last_termination: Option<(String, i32, DateTime<Utc>)>,
    /// Seconds left of graceful termination.
    pub terminating: Option<f64>,
    pub memory_bytes: f64,
    pub cpu_cores: f64,
    pub cpu_seconds_total: f64,
    pub cfs_periods_total: f64,
    pub cfs_throttled_total: f64,
    pub processed_total: f64,
    pub failed_total: f64,
    pub logs: VecDeque<LogLine>,
    pub previous_logs: Vec<LogLine>,
    /// Content hash of the last status written to the store, to avoid needless updates.
    written: String,
}

impl PodSim {
    /// Whether it is one of the platform's own pods (as opposed to a created workload's).
    pub fn is_platform(&self) -> bool {
        self.template.is_none()
    }

    pub fn container_names(&self) -> Vec<String> {
        match &self.template {
            None => vec!["app".to_owned()],
            Some(t) => t["spec"]["containers"]
                .as_array()
                .map(|cs| cs.iter().filter_map(|c| c["name"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        }
    }

    /// The container memory limit; `None` when it has none.
    pub fn memory_limit_bytes(&self) -> Option<f64> {
        match &self.template {
            None => Some(app_spec(&self.app).map_or(4096.0, |a| f64::from(a.memory_limit_mib)) * MIB),
            Some(t) => sum_limits(t, "memory", parse_bytes),
        }
    }

    /// The container CPU limit in cores; `None` when it has none.
    pub fn cpu_limit_cores(&self) -> Option<f64> {
        match &self.template {
            None => Some(app_spec(&self.app).map_or(2.0, |a| f64::from(a.cpu_limit_m) / 1000.0)),
            Some(t) => sum_limits(t, "cpu", parse_cores),
        }
    }

    /// Working-set memory of a fresh container.
    pub fn base_memory_bytes(&self) -> f64 {
        let mib = match (&self.template, app_spec(&self.app)) {
            (Some(_), _) => 24.0,
            (None, Some(a)) => a.base_memory_mib,
            (None, None) => 900.0,
        };
        mib * MIB
    }
}

/// The pod's limit of `resource`, summed over its containers; `None` unless every container has one.
fn sum_limits(template: &Value, resource: &str, parse: fn(&str) -> Option<f64>) -> Option<f64> {
    let containers = template["spec"]["containers"].as_array()?;
    containers.iter().map(|c| c["resources"]["limits"][resource].as_str().and_then(parse)).sum()
}

/// A memory quantity (`512Mi`, `1G`, `1048576`) in bytes.
fn parse_bytes(q: &str) -> Option<f64> {
    const UNITS: [(&str, f64); 8] = [
        ("Ki", 1024.0),
        ("Mi", MIB),
        ("Gi", 1024.0 * MIB),
        ("Ti", 1024.0 * 1024.0 * MIB),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, factor) =
        UNITS.iter().find_map(|(u, f)| q.strip_suffix(u).map(|n| (n, *f))).unwrap_or((q, 1.0));
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// A CPU quantity (`250m`, `2`, `0.5`) in cores.
fn parse_cores(q: &str) -> Option<f64> {
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
        None => q.parse().ok(),
    }
}

/// What a new pod is: its name, role, owner, labels and (for created workloads) template.
pub struct NewPod {
    pub name: String,
    pub app: String,
    pub hash: String,
    pub owner: PodOwner,
    pub labels: Value,
    pub annotations: Value,
    pub template: Option<Arc<Value>>,
}

/// A cumulative histogram with fixed buckets (milliseconds).
#[derive(Debug, Clone)]
pub struct Histogram {
    pub bounds: &'static [f64],
    pub counts: Vec<f64>,
    pub sum: f64,
    pub count: f64,
}

pub const LATENCY_BUCKETS_MS: &[f64] = &[5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0];

impl Histogram {
    fn new() -> Self {
        Self { bounds: LATENCY_BUCKETS_MS, counts: vec![0.0; LATENCY_BUCKETS_MS.len()], sum: 0.0, count: 0.0 }
    }

    /// Records `n` observations spread around `typical_ms` (log-normal-ish, deterministic per call).
    pub(crate) fn observe_many(&mut self, rng: &mut SmallRng, n: f64, typical_ms: f64) {
        if n <= 0.0 {
            return;
        }
        // Split the batch over a few samples so that quantiles have a realistic spread.
        const SAMPLES: usize = 8;
        for _ in 0..SAMPLES {
            let factor: f64 = (rng.random::<f64>() * 1.6 - 0.6).exp();
            let v = typical_ms * factor;
            let share = n / SAMPLES as f64;
            for (bound, c) in self.bounds.iter().zip(self.counts.iter_mut()) {
                if v <= *bound {
                    *c += share;
                }
            }
            self.sum += v * share;
            self.count += share;
        }
    }
}

/// One partition's offsets as a Kafka client sees them: `end - committed` is the lag
/// `kafka_consumer_lag` exports, so the metric and the protocol read the same numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The log start offset; nothing is ever deleted from the simulated log.
    pub log_start: i64,
    pub log_end: i64,
    pub committed: i64,
}

impl PartitionOffsets {
    pub fn lag(&self) -> i64 {
        self.log_end - self.committed
    }
}

impl Platform {
    /// The group's offsets on `partition`: the end offset floored, and the committed offset that
    /// many messages behind it as the lag floored.
    pub fn offsets(&self, partition: usize) -> PartitionOffsets {
        let log_end = self.log_end[partition].floor() as i64;
        let lag = (self.lag[partition].floor() as i64).clamp(0, log_end);
        PartitionOffsets { log_start: 0, log_end, committed: log_end - lag }
    }

    /// The offset of the first message produced at or after `at_ms` (unix ms), from the
    /// sampled history: 0 before the first sample, `None` after the newest (no such message).
    pub fn offset_at(&self, partition: usize, at_ms: i64) -> Option<i64> {
        let mut before = 0.0_f64;
        for (t, ends) in &self.history {
            if *t >= at_ms {
                return Some(before.floor() as i64);
            }
            before = ends[partition];
        }
        None
    }

    /// Adds `n` idle groups named `bench-group-00000`, … (committed at 0), up to
    /// `MAX_IDLE_GROUPS` groups in all.
    pub fn add_idle_groups(&mut self, n: usize) {
        let room = MAX_IDLE_GROUPS.saturating_sub(self.idle_groups.len());
        for i in 0..n.min(room) {
            self.idle_groups.insert(format!("bench-group-{i:05}"), [0; PARTITIONS]);
        }
    }

    /// Records the log-end offsets at `now_ms` if a second has passed since the last sample.
    pub fn sample(&mut self, now_ms: i64) {
        if self.history.back().is_some_and(|(t, _)| now_ms - t < 1000) {
            return;
        }
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((now_ms, self.log_end));
    }

    /// Moves the group's committed offset on `partition` (an offset reset), clamped to the log.
    pub fn commit(&mut self, partition: usize, offset: i64) {
        let log_end = self.log_end[partition].floor() as i64;
        let committed = offset.clamp(0, log_end);
        self.lag[partition] = (log_end - committed) as f64;
    }
}

/// Platform-wide counters and gauges behind `/metrics`.
#[derive(Debug, Clone)]
pub struct Platform {
    pub produced_total: f64,
    /// Messages behind the end offset, per partition; `log_end - lag` is the committed offset.
    pub lag: [f64; PARTITIONS],
    /// Messages produced to each partition so far (the log-end offset before flooring).
    pub log_end: [f64; PARTITIONS],
    pub processing: Histogram,
    pub inference: Histogram,
    pub inference_total: f64,
    pub ws_connections: BTreeMap<String, f64>,
    pub ws_disconnections: BTreeMap<(String, &'static str), f64>,
    pub consumers: usize,
    /// The pods in `CONSUMER_GROUP`, sorted; member `i` owns the partitions `p % n == i`.
    pub consumer_names: Vec<String>,
    /// Groups on `TOPIC` with no members (`audit-replayer`, and `--extra-groups`): their
    /// committed offset per partition, moved only by an offset commit.
    pub idle_groups: BTreeMap<String, [i64; PARTITIONS]>,
    /// Log-end offsets sampled once a second (unix ms, per partition), the newest last and at
    /// most `HISTORY` of them: what an offset-by-time lookup reads.
    pub history: VecDeque<(i64, [f64; PARTITIONS])>,
}

/// The idle group every sandbox has, to reset offsets on.
pub const REPLAYER_GROUP: &str = "audit-replayer";
/// Samples kept in `Platform::history` (an hour at one a second).
pub const HISTORY: usize = 3600;
/// The most idle groups a sandbox holds, however many are asked for or committed to.
pub const MAX_IDLE_GROUPS: usize = 20_000;

pub struct World {
    pub store: Store,
    pub incident: Incident,
    pub incident_since: DateTime<Utc>,
    pub pods: BTreeMap<String, PodSim>,
    pub platform: Platform,
    pub nodes: Vec<String>,
    pub(crate) rng: SmallRng,
    log_seq: u64,
    pod_counter: u64,
    event_counter: u64,
    /// Names of the stored events, oldest first.
    event_names: VecDeque<String>,
    /// Address the Kubernetes API listens on (for discovery's serverAddressByClientCIDRs).
    pub api_addr: String,
    /// Uids of the platform's own Deployments and StatefulSet: their pods are simulated services.
    /// A workload created through the API (even under a platform name) is not among them.
    pub(crate) platform_uids: BTreeSet<String>,
}

pub(crate) fn hash_text(text: &str) -> String {
    // FNV-1a, printed in the alphabet Kubernetes uses for pod-template hashes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10).map(|i| ALPHABET[((h >> (i * 6)) % ALPHABET.len() as u64) as usize] as char).collect()
}

impl World {
    pub fn new(incident: Incident, seed: u64) -> Self {
        let mut world = Self {
            store: Store::new(),
            incident,
            incident_since: Utc::now(),
            pods: BTreeMap::new(),
            platform: Platform {
                produced_total: 0.0,
                lag: [0.0; PARTITIONS],
                log_end: [0.0; PARTITIONS],
                processing: Histogram::new(),
                inference: Histogram::new(),
                inference_total: 0.0,
                ws_connections: BTreeMap::new(),
                ws_disconnections: BTreeMap::new(),
                consumers: 0,
                consumer_names: Vec::new(),
                idle_groups: BTreeMap::from([(REPLAYER_GROUP.to_owned(), [0; PARTITIONS])]),
                history: VecDeque::new(),
            },
            nodes: (1..=3).map(|i| format!("node-{i}")).collect(),
            rng: SmallRng::seed_from_u64(seed),
            log_seq: 0,
            pod_counter: 0,
            event_counter: 0,
            event_names: VecDeque::new(),
            api_addr: String::new(),
            platform_uids: BTreeSet::new(),
        };
        world.seed_objects();
        world.reconcile();
        // Start with every pod running for days, as on a platform that has been up a while.
        let since = Utc::now() - chrono::Duration::days(3);
        for p in world.pods.values_mut() {
            p.state = PodState::Running;
            p.ready = true;
            p.state_age = 600.0;
            p.created = since;
            p.started_at = Some(since);
        }
        // A history of log lines, so that `kubectl logs --tail=100` has something to cut.
        let pods: Vec<(String, String)> =
            world.pods.values().map(|p| (p.name.clone(), p.app.clone())).collect();
        for (name, app) in pods {
            for line in crate::tick::startup_lines(&app) {
                world.log(&name, line);
            }
            for i in 0..150 {
                let r = f64::from((i * 37) % 100) / 100.0;
                world.log(&name, crate::tick::routine_line(&app, r));
            }
        }
        // One short step so usage figures and counters exist before the first request.
        world.tick(0.1);
        world
    }

    fn seed_objects(&mut self) {
        let created = rfc3339(Utc::now() - chrono::Duration::days(12));
        self.store.put(
            Kind::Namespace,
            json!({"metadata": {"name": NAMESPACE, "labels": {"kubernetes.io/metadata.name": NAMESPACE}, "creationTimestamp": created},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        );
        for name in ["default", "kube-system"] {
            self.store.put(
                Kind::Namespace,
                json!({"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}, "creationTimestamp": created},
                       "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            );
        }
        for (i, node) in self.nodes.clone().iter().enumerate() {
            self.store.put(
                Kind::Node,
                json!({
                    "metadata": {"name": node, "creationTimestamp": created, "labels": {
                        "kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
                        "node-role.kubernetes.io/worker": "", "topology.kubernetes.io/zone": format!("zone-{}", (b'a' + i as u8) as char)}},
                    "spec": {"podCIDR": format!("10.244.{i}.0/24")},
                    "status": {
                        "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                        "allocatable": {"cpu": "7800m", "memory": "31Gi", "pods": "110"},
                        "conditions": [
                            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": created, "lastTransitionTime": created},
                            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": created, "lastTransitionTime": created},
                            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": created, "lastTransitionTime": created},
                            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": created, "lastTransitionTime": created}
                        ],
                        "addresses": [{"type": "InternalIP", "address": format!("10.0.0.{}", 11 + i)}, {"type": "Hostname", "address": node}],
                        "nodeInfo": {"architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.22", "kernelVersion": "6.1.0-26-amd64",
                                     "kubeProxyVersion": "v1.33.0", "kubeletVersion": "v1.33.0", "machineID": "", "operatingSystem": "linux",
                                     "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": ""}
                    }
                }),
            );
        }
        for app in &APPS {
            let d = self.store.put(Kind::Deployment, deployment_object(app, &created));
            self.platform_uids.insert(d["metadata"]["uid"].as_str().unwrap_or_default().to_owned());
            self.store.put(Kind::Service, service_object(app.name, app.port, &created));
            self.store.put(
                Kind::Secret,
                json!({"metadata": {"name": format!("{}-credentials", app.name), "namespace": NAMESPACE, "creationTimestamp": created},
                       "type": "Opaque",
                       "data": {"username": "c3RyZWFtaW5n", "password": "bm90LWEtcmVhbC1wYXNzd29yZA=="}}),
            );
        }
        self.store.put(Kind::Service, service_object("kafka", 9092, &created));
        // The names the platform team's guide uses: the WebSocket gateway's service and the
        // streaming services' shared Secret with the Kafka credentials.
        let mut ws = service_object("websocket-server", 8080, &created);
        ws["metadata"]["name"] = json!("websocket-service");
        self.store.put(Kind::Service, ws);
        self.write_streaming_secret(&created);
        self.store.put(
            Kind::Secret,
            json!({"metadata": {"name": "kafka-sasl", "namespace": NAMESPACE, "creationTimestamp": created},
                   "type": "Opaque", "data": {"sasl.jaas.config": "c2FuZGJveC1vbmx5"}}),
        );
        self.store.put(
            Kind::NetworkPolicy,
            json!({"metadata": {"name": "allow-stream-processor-to-kafka", "namespace": NAMESPACE, "creationTimestamp": created},
                   "spec": {"podSelector": {"matchLabels": {"app": "kafka"}}, "policyTypes": ["Ingress"],
                            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "stream-processor"}}}],
                                         "ports": [{"protocol": "TCP", "port": 9092}]}]}}),
        );
        self.store.put(
            Kind::NetworkPolicy,
            json!({"metadata": {"name": "default-deny-ingress", "namespace": NAMESPACE, "creationTimestamp": created},
                   "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        );
        // The brokers' StatefulSet; `reconcile` makes kafka-0..2 from it.
        let kafka = self.store.put(Kind::StatefulSet, kafka_statefulset(&created));
        self.platform_uids.insert(kafka["metadata"]["uid"].as_str().unwrap_or_default().to_owned());
    }

    pub(crate) fn add_pod(&mut self, new: NewPod) {
        let node = self.nodes[self.pod_counter as usize % self.nodes.len()].clone();
        self.pod_counter += 1;
        let ip = format!("10.244.{}.{}", self.pod_counter % 3, 2 + self.pod_counter % 250);
        let NewPod { name, app, hash, owner, labels, annotations, template } = new;
        let mut sim = PodSim {
            name: name.clone(),
            app,
            hash,
            owner,
            labels,
            annotations,
            template,
            node,
            ip,
            created: Utc::now(),
            state_age: 0.0,
            state: PodState::Pending,
            ready: false,
            started_at: None,
            restarts: 0,
            last_termination: None,
            terminating: None,
            memory_bytes: 0.0,
            cpu_cores: 0.0,
            cpu_seconds_total: 0.0,
            cfs_periods_total: 0.0,
            cfs_throttled_total: 0.0,
            processed_total: 0.0,
            failed_total: 0.0,
            logs: VecDeque::new(),
            previous_logs: Vec::new(),
            written: String::new(),
        };
        sim.memory_bytes = sim.base_memory_bytes();
        let object = self.pod_object(&sim);
        self.store.put(Kind::Pod, object);
        self.pods.insert(name, sim);
    }

    /// Five characters of the alphabet Kubernetes uses for generated names.
    pub fn random_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5).map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char).collect()
    }

    pub(crate) fn new_pod_name(&mut self, app: &str, hash: &str) -> String {
        loop {
            let suffix = self.random_suffix();
            let name = format!("{app}-{hash}-{suffix}");
            if !self.pods.contains_key(&name) {
                return name;
            }
        }
    }

    /// Records a Kubernetes Event about an object.
    pub fn event(&mut self, kind: &str, name: &str, event_type: &str, reason: &str, message: &str) {
        self.event_counter += 1;
        let now = rfc3339(Utc::now());
        let store_kind = match kind {
            "Pod" => Some(Kind::Pod),
            "Deployment" => Some(Kind::Deployment),
            "ReplicaSet" => Some(Kind::ReplicaSet),
            "StatefulSet" => Some(Kind::StatefulSet),
            _ => None,
        };
        let uid = store_kind
            .and_then(|k| self.store.get(k, NAMESPACE, name))
            .map(|o| o["metadata"]["uid"].clone())
            .unwrap_or(Value::Null);
        let api_version = if kind == "Pod" { "v1" } else { "apps/v1" };
        let component = match kind {
            "Pod" => "kubelet",
            "StatefulSet" => "statefulset-controller",
            "ReplicaSet" => "replicaset-controller",
            _ => "deployment-controller",
        };
        let event_name = format!("{name}.{:016x}", 0x1800_0000_0000_0000u64 + self.event_counter);
        self.store.put(
            Kind::Event,
            json!({
                "metadata": {"name": event_name, "namespace": NAMESPACE},
                "involvedObject": {"kind": kind, "namespace": NAMESPACE, "name": name, "uid": uid, "apiVersion": api_version},
                "reason": reason, "message": message, "type": event_type,
                "source": {"component": component},
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "reportingComponent": component, "reportingInstance": ""
            }),
        );
        // Keep the newest 400 events, as an API server's TTL would; oldest first in `event_names`,
        // so a burst of thousands of events (a 5,000-pod scale) costs no scan per event.
        self.event_names.push_back(event_name);
        while self.event_names.len() > 400 {
            if let Some(old) = self.event_names.pop_front() {
                self.store.remove(Kind::Event, NAMESPACE, &old);
            }
        }
    }

    pub fn log(&mut self, pod: &str, text: String) {
        self.log_seq += 1;
        let seq = self.log_seq;
        if let Some(p) = self.pods.get_mut(pod) {
            if p.logs.len() >= 5000 {
                p.logs.pop_front();
            }
            p.logs.push_back(LogLine { seq, time: Utc::now(), text });
        }
    }

    pub(crate) fn rng_mut(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    /// Takes the generator out while other fields are borrowed; put it back with `put_rng`.
    pub(crate) fn take_rng(&mut self) -> SmallRng {
        std::mem::replace(&mut self.rng, SmallRng::seed_from_u64(0))
    }

    pub(crate) fn put_rng(&mut self, rng: SmallRng) {
        self.rng = rng;
    }

    pub fn set_incident(&mut self, incident: Incident) {
        if incident != self.incident {
            tracing::info!(from = %self.incident, to = %incident, "incident switched");
            self.incident = incident;
            self.incident_since = Utc::now();
            let created = rfc3339(self.incident_since);
            self.write_streaming_secret(&created);
        }
    }

    /// `streaming-secrets`: the Kafka user and password the stream processor logs in with. In
    /// `kafka-connection` someone rotated it and renamed the key `kafka-password` to `password`,
    /// so the deployment's `KAFKA_SASL_PASSWORD` reference points at a key that is not there.
    fn write_streaming_secret(&mut self, created: &str) {
        let password_key =
            if self.incident == Incident::KafkaConnection { "password" } else { "kafka-password" };
        let mut data = serde_json::Map::new();
        data.insert("kafka-username".to_owned(), json!("c3RyZWFtLXByb2Nlc3Nvcg=="));
        data.insert(password_key.to_owned(), json!("bm90LWEtcmVhbC1wYXNzd29yZA=="));
        self.store.put(
            Kind::Secret,
            json!({"metadata": {"name": "streaming-secrets", "namespace": NAMESPACE, "creationTimestamp": created},
                   "type": "Opaque", "data": data}),
        );
    }

    /// Marks a pod for deletion; with a zero grace period it disappears at once.
    pub fn delete_pod(&mut self, name: &str, grace_seconds: f64) -> bool {
        let Some(p) = self.pods.get_mut(name) else { return false };
        if grace_seconds <= 0.0 {
            self.pods.remove(name);
            self.store.remove(Kind::Pod, NAMESPACE, name);
        } else {
            if p.terminating.is_none() {
                p.terminating = Some(grace_seconds.min(2.0));
            }
            let message = format!("Stopping container {}", p.container_names().join(", "));
            self.event("Pod", name, "Normal", "Killing", &message);
            // Only this pod's object: deleting many pods must not rewrite every pod each time.
            self.write_pod(name);
        }
        true
    }

    /// Writes every pod whose visible state changed into the store.
    pub fn write_pods(&mut self) {
        let names: Vec<String> = self.pods.keys().cloned().collect();
        for name in names {
            self.write_pod(&name);
        }
    }

    /// Writes one pod's object into the store if its visible state changed.
    pub(crate) fn write_pod(&mut self, name: &str) {
        let Some(p) = self.pods.get(name) else { return };
        // Everything the stored object's status and deletion mark depend on: the object is
        // only built (and a watch event sent) when one of them changed, so thousands of
        // steady pods cost a string each per tick, not a JSON document each.
        let scheduled = p.state != PodState::Pending || p.state_age > 0.3;
        let fingerprint = format!(
            "{:?}|{scheduled}|{}|{:?}|{}|{:?}|{}",
            p.state,
            p.ready,
            p.started_at,
            p.restarts,
            p.last_termination,
            p.terminating.is_some()
        );
        if fingerprint != p.written {
            let object = self.pod_object(p);
            self.store.put(Kind::Pod, object);
            if let Some(p) = self.pods.get_mut(name) {
                p.written = fingerprint;
            }
        }
    }

    /// Changes a pod's labels, annotations and (for a created workload's pod) container images,
    /// the parts of a pod an update may change; the others were refused by admission.
    pub fn update_pod(&mut self, name: &str, object: &Value) {
        let Some(p) = self.pods.get_mut(name) else { return };
        p.labels = object["metadata"]["labels"].clone();
        p.annotations = object["metadata"]["annotations"].clone();
        if let Some(template) = &mut p.template {
            let t = Arc::make_mut(template);
            t["spec"] = object["spec"].clone();
            if let Some(m) = t["spec"].as_object_mut() {
                m.remove("nodeName");
            }
        }
        p.written.clear();
        self.write_pod(name);
    }

    /// The spec of one of the platform's own pods, from its service's shape.
    fn platform_pod_spec(p: &PodSim) -> Value {
        let (image, port, resources) = match app_spec(&p.app) {
            Some(a) => (
                a.image.to_owned(),
                a.port,
                json!({"requests": {"cpu": format!("{}m", a.cpu_request_m), "memory": format!("{}Mi", a.memory_request_mib)},
                       "limits": {"cpu": format!("{}m", a.cpu_limit_m), "memory": format!("{}Mi", a.memory_limit_mib)}}),
            ),
            None => (
                "registry.example.com/streaming/kafka:3.8.0".to_owned(),
                9092,
                json!({"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}),
            ),
        };
        json!({
            "nodeName": p.node,
            "containers": [{
                "name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": port, "protocol": "TCP", "name": "http"}],
                "resources": resources,
                "env": [{"name": "KAFKA_BOOTSTRAP_SERVERS", "value": "kafka:9092"},
                        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": format!("{}-credentials", p.app), "key": "password"}}}],
                "readinessProbe": {"httpGet": {"path": "/health", "port": port, "scheme": "HTTP"}, "periodSeconds": 5,
                                   "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
            }],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "schedulerName": "default-scheduler",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
        })
    }

    pub(crate) fn pod_object(&self, p: &PodSim) -> Value {
        let spec = match &p.template {
            None => Self::platform_pod_spec(p),
            Some(t) => {
                let mut spec = t["spec"].clone();
                spec["nodeName"] = json!(p.node);
                spec
            }
        };
        let containers: Vec<(&str, &str)> = spec["containers"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        (c["name"].as_str().unwrap_or_default(), c["image"].as_str().unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let first = containers.first().map_or("app", |c| c.0);
        let created = rfc3339(p.created);
        let scheduled = p.state != PodState::Pending || p.state_age > 0.3;
        let running = matches!(p.state, PodState::Running);
        let state = match p.state {
            PodState::Pending | PodState::ContainerCreating => {
                json!({"waiting": {"reason": "ContainerCreating"}})
            }
            PodState::BackOff => json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": format!("back-off restarting failed container {first} in pod {}_{NAMESPACE}", p.name)}}),
            PodState::Running => json!({"running": {"startedAt": p.started_at.map(rfc3339)}}),
        };
        let last_state = match &p.last_termination {
            Some((reason, code, at)) => json!({"terminated": {"exitCode": code, "reason": reason,
                "startedAt": rfc3339(*at - chrono::Duration::seconds(60)), "finishedAt": rfc3339(*at)}}),
            None => json!({}),
        };
        let statuses: Vec<Value> = containers
            .iter()
            .enumerate()
            .map(|(i, (name, image))| {
                // The first container keeps the id the platform's single-container pods always had.
                let id = if i == 0 { hash_text(&p.name) } else { hash_text(&format!("{}/{name}", p.name)) };
                json!({"name": name, "image": image, "imageID": "", "ready": p.ready, "started": running,
                       "restartCount": p.restarts, "state": state, "lastState": last_state,
                       "containerID": if running { json!(format!("containerd://{id}")) } else { Value::Null }})
            })
            .collect();
        let phase = if p.state == PodState::Pending || p.state == PodState::ContainerCreating {
            "Pending"
        } else {
            "Running"
        };
        let qos = if p.is_platform() { "Burstable" } else { qos_class(&spec) };
        let cond = |b: bool| if b { "True" } else { "False" };
        let mut object = json!({
            "metadata": {
                "name": p.name, "namespace": NAMESPACE, "labels": p.labels, "creationTimestamp": created,
                "annotations": p.annotations
            },
            "spec": spec,
            "status": {
                "phase": phase,
                "hostIP": format!("10.0.0.{}", 11 + self.nodes.iter().position(|n| *n == p.node).unwrap_or(0)),
                "podIP": if scheduled { json!(p.ip) } else { Value::Null },
                "podIPs": if scheduled { json!([{"ip": p.ip}]) } else { Value::Null },
                "startTime": created,
                "qosClass": qos,
                "conditions": [
                    {"type": "PodScheduled", "status": cond(scheduled), "lastTransitionTime": created},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": created},
                    {"type": "ContainersReady", "status": cond(p.ready), "lastTransitionTime": created},
                    {"type": "Ready", "status": cond(p.ready), "lastTransitionTime": created}
                ],
                "containerStatuses": statuses
            }
        });
        let owner = match &p.owner {
            PodOwner::None => Value::Null,
            PodOwner::ReplicaSet { deployment, uid } => {
                let rs = format!("{deployment}-{}", p.hash);
                if !p.is_platform() {
                    object["metadata"]["generateName"] = json!(format!("{rs}-"));
                }
                json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": uid,
                        "controller": true, "blockOwnerDeletion": true}])
            }
            PodOwner::StatefulSet { name, uid } => json!([{"apiVersion": "apps/v1", "kind": "StatefulSet",
                "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}]),
        };
        if !owner.is_null() {
            object["metadata"]["ownerReferences"] = owner;
        }
        if p.terminating.is_some() {
            object["metadata"]["deletionTimestamp"] = json!(rfc3339(Utc::now()));
            object["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        }
        strip_nulls(&mut object);
        object
    }
}

/// The annotations of the platform's own pods: Prometheus scrapes each on its service's port.
pub(crate) fn platform_annotations(app: &str) -> Value {
    let port = app_spec(app).map_or(9092, |a| a.port);
    json!({"prometheus.io/scrape": "true", "prometheus.io/port": port.to_string()})
}

/// A pod's QoS class from its containers' requests and limits, as the kubelet derives it.
fn qos_class(spec: &Value) -> &'static str {
    let containers = spec["containers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let resources = |c: &Value, kind: &str| c["resources"][kind].as_object().is_some_and(|m| !m.is_empty());
    if containers.iter().all(|c| !resources(c, "requests") && !resources(c, "limits")) {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let limits = &c["resources"]["limits"];
        let requests = &c["resources"]["requests"];
        ["cpu", "memory"]
            .iter()
            .all(|r| limits[r].is_string() && (requests[r].is_null() || requests[r] == limits[r]))
    });
    if guaranteed { "Guaranteed" } else { "Burstable" }
}

/// Removes `null` members so objects look like the API server's (which omits empty fields).
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for v in map.values_mut() {
                strip_nulls(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn deployment_object(app: &AppSpec, created: &str) -> Value {
    json!({
        "metadata": {"name": app.name, "namespace": NAMESPACE, "generation": 1, "creationTimestamp": created,
                     "labels": {"app": app.name, "app.kubernetes.io/part-of": "streaming-analytics"},
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {
            "replicas": app.replicas,
            "selector": {"matchLabels": {"app": app.name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": {"app": app.name}},
                "spec": {"containers": [{
                    "name": "app", "image": app.image,
                    "ports": [{"containerPort": app.port, "protocol": "TCP", "name": "http"}],
                    "env": template_env(app.name),
                    "resources": {"requests": {"cpu": format!("{}m", app.cpu_request_m), "memory": format!("{}Mi", app.memory_request_mib)},
                                  "limits": {"cpu": format!("{}m", app.cpu_limit_m), "memory": format!("{}Mi", app.memory_limit_mib)}}
                }]}
            }
        },
        "status": {}
    })
}

/// The brokers' StatefulSet (pods `kafka-0..2`, started in parallel as Kafka charts do).
fn kafka_statefulset(created: &str) -> Value {
    json!({
        "metadata": {"name": "kafka", "namespace": NAMESPACE, "generation": 1, "creationTimestamp": created,
                     "labels": {"app": "kafka", "app.kubernetes.io/part-of": "streaming-analytics"}},
        "spec": {
            "replicas": KAFKA_BROKERS,
            "serviceName": "kafka",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "kafka"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
            "template": {
                "metadata": {"labels": {"app": "kafka"}},
                "spec": {"containers": [{
                    "name": "app", "image": "registry.example.com/streaming/kafka:3.8.0",
                    "ports": [{"containerPort": 9092, "protocol": "TCP", "name": "http"}],
                    "env": template_env("kafka"),
                    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
                }]}
            }
        },
        "status": {}
    })
}

/// The pod template's environment: each service reads its database password from its own Secret,
/// and the stream processor its Kafka SASL settings from `kafka-sasl` (names only ever leave the
/// sandbox through Triage; values are never read).
fn template_env(app: &str) -> Value {
    let mut env = vec![
        json!({"name": "KAFKA_BOOTSTRAP_SERVERS", "value": "kafka:9092"}),
        json!({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": format!("{app}-credentials"), "key": "password"}}}),
    ];
    if app == "stream-processor" {
        env.push(json!({"name": "KAFKA_SASL_JAAS_CONFIG", "valueFrom": {"secretKeyRef": {"name": "kafka-sasl", "key": "sasl.jaas.config"}}}));
        env.push(json!({"name": "KAFKA_SECURITY_PROTOCOL", "value": "SASL_PLAINTEXT"}));
        env.push(json!({"name": "KAFKA_SASL_MECHANISM", "value": "SCRAM-SHA-512"}));
        env.push(json!({"name": "KAFKA_SASL_USERNAME", "valueFrom": {"secretKeyRef": {"name": "streaming-secrets", "key": "kafka-username"}}}));
        env.push(json!({"name": "KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "streaming-secrets", "key": "kafka-password"}}}));
    }
    Value::Array(env)
}

fn service_object(name: &str, port: u16, created: &str) -> Value {
    let mut annotations = json!({"prometheus.io/scrape": "true", "prometheus.io/port": port.to_string()});
    if name == "websocket-server" {
        annotations["service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout"] = json!("60");
    }
    json!({
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}, "annotations": annotations, "creationTimestamp": created},
        "spec": {
            "type": if name == "websocket-server" { "LoadBalancer" } else { "ClusterIP" },
            "selector": {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
            "clusterIP": format!("10.96.{}.{}", port % 200, port % 97 + 10),
            "clusterIPs": [format!("10.96.{}.{}", port % 200, port % 97 + 10)],
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"
        },
        "status": {"loadBalancer": {}}
    })
}

/// Duration helper used by the ticker.
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_agree_with_the_lag_and_a_commit_moves_it() {
        let mut world = World::new(Incident::ConsumerLag, 7);
        for _ in 0..40 {
            world.tick(0.25);
        }
        for p in 0..PARTITIONS {
            let o = world.platform.offsets(p);
            assert_eq!(o.lag(), world.platform.lag[p].floor() as i64);
            assert!(o.log_start <= o.committed && o.committed <= o.log_end);
        }
        let end = world.platform.offsets(3).log_end;
        world.platform.commit(3, end - 5);
        assert_eq!(world.platform.offsets(3).lag(), 5);
        world.platform.commit(3, end + 100);
        assert_eq!(world.platform.offsets(3).lag(), 0);
    }
}
