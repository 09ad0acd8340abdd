//! One step of the simulation: pod lifecycles, resource usage, the Kafka consumer group and the
//! platform's counters, all as functions of the current incident.

use chrono::Utc;
use rand::Rng;

use crate::incident::Incident;
use crate::store::Kind;
use crate::world::{NAMESPACE, PARTITIONS, PodState, World, app_spec};

const MIB: f64 = 1024.0 * 1024.0;
/// Events per second one ready stream-processor consumes at full speed.
pub const CONSUMER_CAPACITY: f64 = 300.0;

impl World {
    /// Advances the simulation by `dt` seconds.
    pub fn tick(&mut self, dt: f64) {
        self.advance_pods(dt);
        self.reconcile();
        self.advance_platform(dt);
        self.write_pods();
    }

    fn advance_pods(&mut self, dt: f64) {
        let incident = self.incident;
        let names: Vec<String> = self.pods.keys().cloned().collect();
        for name in names {
            let Some(mut p) = self.pods.remove(&name) else { continue };
            if let Some(left) = p.terminating {
                let left = left - dt;
                if left <= 0.0 {
                    self.store.remove(Kind::Pod, NAMESPACE, &name);
                    continue;
                }
                p.terminating = Some(left);
                p.ready = false;
            }
            p.state_age += dt;
            let mut events: Vec<(&str, &str, String)> = Vec::new();
            let mut logs: Vec<String> = Vec::new();
            match p.state {
                PodState::Pending if p.state_age > 0.5 => {
                    p.state = PodState::ContainerCreating;
                    p.state_age = 0.0;
                    events.push((
                        "Normal",
                        "Pulled",
                        "Container image already present on machine".to_owned(),
                    ));
                }
                PodState::ContainerCreating if p.state_age > 0.7 => {
                    p.state = PodState::Running;
                    p.state_age = 0.0;
                    p.started_at = Some(Utc::now());
                    for c in p.container_names() {
                        events.push(("Normal", "Created", format!("Created container {c}")));
                        events.push(("Normal", "Started", format!("Started container {c}")));
                    }
                    logs.extend(startup_lines(&p.app));
                }
                PodState::Running if !p.ready && p.terminating.is_none() && !p.is_platform() => {
                    // A created workload's pod is ready once started, or a second later when it
                    // has a readiness probe; it never fails one (fixtures stay quiet).
                    let probed = p.template.as_ref().is_some_and(|t| {
                        t["spec"]["containers"]
                            .as_array()
                            .is_some_and(|cs| cs.iter().any(|c| c["readinessProbe"].is_object()))
                    });
                    if !probed || p.state_age > 1.0 {
                        p.ready = true;
                    }
                }
                PodState::Running if !p.ready && p.terminating.is_none() => {
                    if p.app == "ml-inference" && incident == Incident::ModelLoading {
                        if p.state_age > 2.0 {
                            logs.push(
                                "ERROR Failed to load model 'event-classifier' version 12 from registry: \
                                       Connection refused (mlflow.mlops.svc.cluster.local:5000)"
                                    .to_owned(),
                            );
                            logs.push("CRITICAL Model loading failed after 3 attempts; exiting".to_owned());
                            restart_container(&mut p, "Error", 1);
                            p.state = PodState::BackOff;
                            events.push((
                                "Warning",
                                "BackOff",
                                "Back-off restarting failed container app".to_owned(),
                            ));
                        }
                    } else if p.state_age > 1.2 {
                        p.ready = true;
                    } else if p.state_age > 0.6 && p.state_age - dt <= 0.6 {
                        events.push((
                            "Warning",
                            "Unhealthy",
                            "Readiness probe failed: HTTP probe failed with statuscode: 503".to_owned(),
                        ));
                    }
                }
                PodState::BackOff if p.state_age > 3.0 => {
                    p.state = PodState::Running;
                    p.state_age = 0.0;
                    p.started_at = Some(Utc::now());
                    logs.extend(startup_lines(&p.app));
                }
                _ => {}
            }

            // Resource usage.
            let spec = app_spec(&p.app);
            let running = p.state == PodState::Running;
            let limit_cores = p.cpu_limit_cores().unwrap_or(2.0);
            let base_cores = match p.app.as_str() {
                _ if !p.is_platform() => 0.002,
                "websocket-server" => 0.3,
                "stream-processor" => 0.45,
                "ml-inference" => 1.1,
                _ => 0.6,
            };
            let hot = incident == Incident::HighCpu && p.app == "stream-processor";
            let target = if hot { limit_cores * 0.99 } else { base_cores };
            let noise: f64 = self.rng_f64() * 0.1 - 0.05;
            p.cpu_cores = if running { (target * (1.0 + noise)).min(limit_cores) } else { 0.0 };
            p.cpu_seconds_total += p.cpu_cores * dt;
            p.cfs_periods_total += dt * 10.0;
            if hot {
                p.cfs_throttled_total += dt * 10.0 * 0.45;
            } else if p.cpu_cores > limit_cores * 0.9 {
                p.cfs_throttled_total += dt * 10.0 * 0.05;
            }
            let growth_mib_per_s = match (incident, p.app.as_str()) {
                (Incident::MemoryLeak, "stream-processor") => 7.0,
                (Incident::WebsocketMemory, "websocket-server") => 5.0,
                _ => 0.0,
            };
            if running {
                let base = p.base_memory_bytes();
                if growth_mib_per_s > 0.0 {
                    p.memory_bytes += growth_mib_per_s * MIB * dt;
                } else {
                    // Settle towards the base with small jitter.
                    p.memory_bytes += (base - p.memory_bytes) * 0.2 * dt + (self.rng_f64() - 0.5) * MIB;
                }
                if growth_mib_per_s > 0.0 && self.rng_f64() < dt * 0.5 {
                    let used = p.memory_bytes / MIB;
                    logs.push(match p.app.as_str() {
                        "websocket-server" => format!(
                            "WARNING Connection buffer pool grew to {:.0} MiB; {} message buffers not released",
                            used * 0.6,
                            (used * 37.0) as u64
                        ),
                        _ => format!(
                            "WARNING Memory usage high: {used:.0} MiB RSS; event cache holds {} entries",
                            (used * 1100.0) as u64
                        ),
                    });
                }
                if let Some(a) = spec
                    && p.memory_bytes > f64::from(a.memory_limit_mib) * MIB
                {
                    logs.push("fatal: out of memory".to_owned());
                    restart_container(&mut p, "OOMKilled", 137);
                    p.memory_bytes = base;
                    events.push((
                        "Warning",
                        "OOMKilling",
                        format!("Memory cgroup out of memory: Killed process (app) in pod {}", p.name),
                    ));
                    events.push(("Normal", "Started", "Started container app".to_owned()));
                    logs.extend(startup_lines(&p.app));
                }
            }
            let pod_name = p.name.clone();
            self.pods.insert(name, p);
            for (kind, reason, message) in events {
                self.event("Pod", &pod_name, kind, reason, &message);
            }
            for line in logs {
                self.log(&pod_name, line);
            }
        }
    }

    fn rng_f64(&mut self) -> f64 {
        self.rng_mut().random::<f64>()
    }

    fn advance_platform(&mut self, dt: f64) {
        let incident = self.incident;
        // Kafka: inbound per partition.
        let produce_rate = if incident == Incident::ConsumerLag { 2400.0 } else { 1200.0 };
        self.platform.produced_total += produce_rate * dt;
        let mut inbound = [produce_rate / PARTITIONS as f64; PARTITIONS];
        if incident == Incident::PartitionImbalance {
            // Hot keys: four partitions take 60% of the traffic.
            for (p, v) in inbound.iter_mut().enumerate() {
                *v = if p < 4 { produce_rate * 0.6 / 4.0 } else { produce_rate * 0.4 / 20.0 };
            }
        }
        // Consumers: ready stream-processor pods, at most one per partition.
        let mut consumers: Vec<String> = self
            .pods
            .values()
            .filter(|p| p.app == "stream-processor" && p.ready && p.terminating.is_none())
            .map(|p| p.name.clone())
            .collect();
        consumers.sort();
        consumers.truncate(PARTITIONS);
        let n = consumers.len();
        if n != self.platform.consumers {
            for c in &consumers {
                let assigned: Vec<String> = (0..PARTITIONS)
                    .filter(|p| n > 0 && consumers[p % n] == *c)
                    .map(|p| format!("events-{p}"))
                    .collect();
                self.log(
                    c,
                    format!(
                        "INFO [Consumer groupId={}] Revoking previously assigned partitions",
                        crate::world::CONSUMER_GROUP
                    ),
                );
                self.log(
                    c,
                    format!(
                        "INFO [Consumer groupId={}] Rebalance complete ({n} members); assigned partitions: [{}]",
                        crate::world::CONSUMER_GROUP,
                        assigned.join(", ")
                    ),
                );
            }
            self.platform.consumers = n;
        }
        if self.platform.consumer_names != consumers {
            self.platform.consumer_names.clone_from(&consumers);
        }
        let capacity = match incident {
            Incident::HighCpu => 170.0,
            Incident::SlowQueries => 200.0,
            Incident::KafkaConnection => 30.0,
            _ => CONSUMER_CAPACITY,
        };
        let error_ratio = match incident {
            Incident::ErrorRate => 0.08,
            Incident::KafkaConnection => 0.05,
            Incident::PoolExhaustion => 0.03,
            _ => 0.002,
        };
        let typical_ms = match incident {
            Incident::SlowQueries => 320.0,
            Incident::HighCpu => 140.0,
            Incident::PoolExhaustion => 220.0,
            Incident::ErrorRate => 35.0,
            _ => 18.0,
        };
        let mut per_consumer = vec![0.0; n];
        let mut partitions_of = vec![0usize; n];
        if n > 0 {
            for p in 0..PARTITIONS {
                partitions_of[p % n] += 1;
            }
        }
        for (p, inbound_rate) in inbound.iter().enumerate() {
            self.platform.log_end[p] += inbound_rate * dt;
            let available = self.platform.lag[p] + inbound_rate * dt;
            let consumed = if n == 0 {
                0.0
            } else {
                let c = p % n;
                let cap = capacity / partitions_of[c] as f64 * dt;
                let consumed = available.min(cap);
                per_consumer[c] += consumed;
                consumed
            };
            self.platform.lag[p] = (available - consumed).max(0.0);
        }
        self.platform.sample(Utc::now().timestamp_millis());
        let mut total_consumed = 0.0;
        for (c, name) in consumers.iter().enumerate() {
            let consumed = per_consumer[c];
            total_consumed += consumed;
            if let Some(pod) = self.pods.get_mut(name) {
                pod.processed_total += consumed;
                pod.failed_total += consumed * error_ratio;
            }
        }
        let mut rng = self.take_rng();
        self.platform.processing.observe_many(&mut rng, total_consumed, typical_ms);

        // WebSocket gateway.
        let ws: Vec<String> = self
            .pods
            .values()
            .filter(|p| p.app == "websocket-server" && p.ready)
            .map(|p| p.name.clone())
            .collect();
        let live: std::collections::HashSet<&str> = ws.iter().map(String::as_str).collect();
        self.platform.ws_connections.retain(|k, _| live.contains(k.as_str()));
        for name in &ws {
            let current = self.platform.ws_connections.get(name).copied().unwrap_or(0.0);
            let target = if incident == Incident::WebsocketDrops { 600.0 } else { 1500.0 };
            let next = current + (target - current) * 0.3 * dt + (rng.random::<f64>() - 0.5) * 20.0;
            self.platform.ws_connections.insert(name.clone(), next.max(0.0));
            let (reason, rate) = if incident == Incident::WebsocketDrops {
                ("ping_timeout", 30.0)
            } else {
                ("client_close", 0.8)
            };
            *self.platform.ws_disconnections.entry((name.clone(), reason)).or_default() += rate * dt;
            *self.platform.ws_disconnections.entry((name.clone(), "client_close")).or_default() += 0.8 * dt;
        }

        // ML inference.
        let ml_ready = self.pods.values().filter(|p| p.app == "ml-inference" && p.ready).count() as f64;
        let inferences = 40.0 * ml_ready * dt;
        self.platform.inference_total += inferences;
        // Healthy samples stay under the guide's 100 ms p95 alert: 35 ms times at most e^1 (see observe_many).
        let inference_ms = if incident == Incident::MlLatency { 850.0 } else { 35.0 };
        self.platform.inference.observe_many(&mut rng, inferences, inference_ms);
        self.put_rng(rng);

        self.emit_incident_logs(dt);
    }

    fn emit_incident_logs(&mut self, dt: f64) {
        let incident = self.incident;
        let lines: &[(&str, &str)] = match incident {
            Incident::ConsumerLag => &[(
                "stream-processor",
                "WARNING Consumer lag growing: fetched batch of 500 records, backlog keeps increasing",
            )],
            Incident::PartitionImbalance => &[(
                "stream-processor",
                "WARNING Partition events-2 is hot: 40% of fetched records come from 4 of 24 partitions",
            )],
            Incident::KafkaConnection => &[
                (
                    "stream-processor",
                    "ERROR [Consumer clientId=sp-1] Connection to node -1 (kafka.streaming-analytics.svc.cluster.local/10.96.92.20:9092) could not be established. Broker may not be available.",
                ),
                (
                    "stream-processor",
                    "ERROR SASL authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
                ),
                (
                    "kafka",
                    "INFO [SocketServer listenerType=ZK_BROKER, nodeId=0] Failed authentication with /10.244.1.7 (channelId=10.244.0.5:9092-10.244.1.7:53022-3) (Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512)",
                ),
            ],
            Incident::WebsocketDrops => &[
                (
                    "websocket-server",
                    "WARNING WebSocket connection closed: ping timeout after 60s (client 10.0.3.17)",
                ),
                ("websocket-server", "ERROR ConnectionResetError: [Errno 104] Connection reset by peer"),
            ],
            Incident::MlLatency => &[(
                "ml-inference",
                "WARNING Slow prediction: 912 ms for batch of 64 (model event-classifier v12); queue depth 340",
            )],
            Incident::PoolExhaustion => &[(
                "stream-processor",
                "ERROR sqlalchemy.exc.TimeoutError: QueuePool limit of size 20 overflow 10 reached, connection timed out, timeout 30",
            )],
            Incident::SlowQueries => &[(
                "stream-processor",
                "WARNING Slow query (2.4 s): SELECT * FROM events WHERE timestamp > $1 AND event_type = $2",
            )],
            Incident::HighCpu => &[(
                "stream-processor",
                "WARNING Event loop lagging: 850 ms behind schedule; processing batch took 3.1 s",
            )],
            Incident::ErrorRate => &[(
                "stream-processor",
                "ERROR Failed to process event: ValueError: unexpected schema version 7 in payload (expected <= 6)",
            )],
            _ => &[],
        };
        let mut normal: Vec<(String, String)> = Vec::new();
        // Created workloads' pods log only at start: they are fixtures, not services.
        let names: Vec<(String, String)> =
            self.pods.values().filter(|p| p.is_platform()).map(|p| (p.name.clone(), p.app.clone())).collect();
        for (name, app) in &names {
            if self.rng_f64() < dt * 0.6 {
                normal.push((name.clone(), routine_line(app, self.rng_f64())));
            }
            for (target, line) in lines {
                if app == target && self.rng_f64() < dt * 1.5 {
                    normal.push((name.clone(), (*line).to_owned()));
                }
            }
        }
        for (name, line) in normal {
            self.log(&name, line);
        }
    }
}

/// Ends the current container: its logs become `previous`, the restart is counted.
fn restart_container(p: &mut crate::world::PodSim, reason: &str, exit_code: i32) {
    p.restarts += 1;
    p.last_termination = Some((reason.to_owned(), exit_code, Utc::now()));
    p.previous_logs = p.logs.drain(..).collect();
    p.ready = false;
    p.state_age = 0.0;
    p.started_at = Some(Utc::now());
}

pub(crate) fn startup_lines(app: &str) -> Vec<String> {
    match app {
        "ml-inference" => vec![
            "INFO Starting ml-inference server on :8082".to_owned(),
            "INFO Loading model 'event-classifier' version 12 from registry".to_owned(),
            "INFO Model loaded in 1.8 s; warming up".to_owned(),
        ],
        "stream-processor" => vec![
            "INFO Starting stream-processor 3.7.0".to_owned(),
            format!(
                "INFO [Consumer groupId={}] Subscribed to topic(s): events",
                crate::world::CONSUMER_GROUP
            ),
            "INFO Database pool ready (size=20, overflow=10)".to_owned(),
        ],
        "websocket-server" => vec!["INFO WebSocket server listening on :8080".to_owned()],
        "kafka" => vec!["INFO [KafkaServer id=0] started".to_owned()],
        _ => vec!["INFO started".to_owned()],
    }
}

pub(crate) fn routine_line(app: &str, r: f64) -> String {
    match app {
        "stream-processor" => format!(
            "INFO Processed batch of {} events in {} ms",
            200 + (r * 300.0) as u32,
            8 + (r * 20.0) as u32
        ),
        "websocket-server" => format!(
            "INFO Active connections: {}; messages/s: {}",
            1400 + (r * 200.0) as u32,
            3000 + (r * 900.0) as u32
        ),
        "ml-inference" => format!("INFO Prediction batch of 64 served in {} ms", 30 + (r * 25.0) as u32),
        "kafka" => {
            format!("INFO [ReplicaManager broker=0] Incremental fetch sessions: {}", 20 + (r * 10.0) as u32)
        }
        _ => "INFO ok".to_owned(),
    }
}
