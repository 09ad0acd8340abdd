//! `/metrics` in the Prometheus text format, with the metric names of the platform's guide and
//! cAdvisor's container series. One scrape target exposes every simulated pod, each series
//! labelled with its `namespace`, `pod` and `service`.

use std::fmt::Write as _;

use crate::world::{CONSUMER_GROUP, NAMESPACE, PodState, TOPIC, World};

fn histogram(out: &mut String, name: &str, help: &str, labels: &str, h: &crate::world::Histogram) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, count) in h.bounds.iter().zip(&h.counts) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {}", count.floor());
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count.floor());
    let _ = writeln!(out, "{name}_sum{{{labels}}} {:.3}", h.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count.floor());
}

pub fn render(world: &World) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let pods: Vec<&crate::world::PodSim> = world.pods.values().filter(|p| p.terminating.is_none()).collect();
    let pod_labels = |p: &crate::world::PodSim| {
        format!("namespace=\"{NAMESPACE}\",pod=\"{}\",service=\"{}\"", p.name, p.app)
    };

    out.push_str("# HELP events_processed_total Events processed by the stream processors.\n# TYPE events_processed_total counter\n");
    for p in pods.iter().filter(|p| p.app == "stream-processor") {
        let _ = writeln!(out, "events_processed_total{{{}}} {}", pod_labels(p), p.processed_total.floor());
    }
    out.push_str(
        "# HELP events_failed_total Events whose processing failed.\n# TYPE events_failed_total counter\n",
    );
    for p in pods.iter().filter(|p| p.app == "stream-processor") {
        let _ = writeln!(out, "events_failed_total{{{}}} {}", pod_labels(p), p.failed_total.floor());
    }
    histogram(
        &mut out,
        "event_processing_duration_ms",
        "Time to process one event, in milliseconds.",
        &format!("namespace=\"{NAMESPACE}\",service=\"stream-processor\""),
        &world.platform.processing,
    );
    out.push_str("# HELP kafka_consumer_lag Messages behind the partition's end offset, per consumer group.\n# TYPE kafka_consumer_lag gauge\n");
    for partition in 0..world.platform.lag.len() {
        let _ = writeln!(
            out,
            "kafka_consumer_lag{{namespace=\"{NAMESPACE}\",group=\"{CONSUMER_GROUP}\",topic=\"{TOPIC}\",partition=\"{partition}\"}} {}",
            world.platform.offsets(partition).lag()
        );
    }
    out.push_str("# HELP kafka_messages_produced_total Messages produced to the topic.\n# TYPE kafka_messages_produced_total counter\n");
    let _ = writeln!(
        out,
        "kafka_messages_produced_total{{namespace=\"{NAMESPACE}\",topic=\"{TOPIC}\"}} {}",
        world.platform.produced_total.floor()
    );
    out.push_str("# HELP kafka_consumer_group_members Consumers in the group.\n# TYPE kafka_consumer_group_members gauge\n");
    let _ = writeln!(
        out,
        "kafka_consumer_group_members{{namespace=\"{NAMESPACE}\",group=\"{CONSUMER_GROUP}\"}} {}",
        world.platform.consumers
    );

    out.push_str(
        "# HELP websocket_connections Open WebSocket connections.\n# TYPE websocket_connections gauge\n",
    );
    for (pod, n) in &world.platform.ws_connections {
        let _ = writeln!(
            out,
            "websocket_connections{{namespace=\"{NAMESPACE}\",pod=\"{pod}\",service=\"websocket-server\"}} {}",
            n.floor()
        );
    }
    out.push_str("# HELP websocket_disconnections_total WebSocket disconnections by reason.\n# TYPE websocket_disconnections_total counter\n");
    for ((pod, reason), n) in &world.platform.ws_disconnections {
        if world.pods.contains_key(pod) {
            let _ = writeln!(
                out,
                "websocket_disconnections_total{{namespace=\"{NAMESPACE}\",pod=\"{pod}\",service=\"websocket-server\",reason=\"{reason}\"}} {}",
                n.floor()
            );
        }
    }
    histogram(
        &mut out,
        "ml_inference_duration_ms",
        "Time to serve one prediction, in milliseconds.",
        &format!("namespace=\"{NAMESPACE}\",service=\"ml-inference\",model=\"event-classifier\""),
        &world.platform.inference,
    );
    out.push_str(
        "# HELP ml_model_loaded Whether the pod has its model loaded.\n# TYPE ml_model_loaded gauge\n",
    );
    for p in pods.iter().filter(|p| p.app == "ml-inference") {
        let _ = writeln!(
            out,
            "ml_model_loaded{{{},model=\"event-classifier\"}} {}",
            pod_labels(p),
            u8::from(p.ready)
        );
    }

    // cAdvisor-style container series (every pod's, created workloads' included).
    let container = |p: &crate::world::PodSim| {
        let name = p.container_names().into_iter().next().unwrap_or_default();
        format!("namespace=\"{NAMESPACE}\",pod=\"{}\",container=\"{name}\"", p.name)
    };
    out.push_str("# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed.\n# TYPE container_cpu_usage_seconds_total counter\n");
    for p in &pods {
        let _ =
            writeln!(out, "container_cpu_usage_seconds_total{{{}}} {:.3}", container(p), p.cpu_seconds_total);
    }
    out.push_str("# HELP container_memory_working_set_bytes Current working set.\n# TYPE container_memory_working_set_bytes gauge\n");
    for p in &pods {
        let _ = writeln!(
            out,
            "container_memory_working_set_bytes{{{}}} {}",
            container(p),
            p.memory_bytes.floor()
        );
    }
    out.push_str("# HELP container_memory_usage_bytes Current memory usage, including cache.\n# TYPE container_memory_usage_bytes gauge\n");
    for p in &pods {
        let _ = writeln!(
            out,
            "container_memory_usage_bytes{{{}}} {}",
            container(p),
            (p.memory_bytes * 1.15).floor()
        );
    }
    out.push_str("# HELP container_spec_memory_limit_bytes Memory limit for the container.\n# TYPE container_spec_memory_limit_bytes gauge\n");
    // A container without a limit has no limit series (no ratio to alert on).
    for p in &pods {
        if let Some(limit) = p.memory_limit_bytes() {
            let _ = writeln!(out, "container_spec_memory_limit_bytes{{{}}} {limit}", container(p));
        }
    }
    out.push_str("# HELP container_spec_cpu_quota CPU quota of the container.\n# TYPE container_spec_cpu_quota gauge\n");
    for p in &pods {
        if let Some(cores) = p.cpu_limit_cores() {
            let quota = (cores * 100_000.0).round();
            let _ = writeln!(out, "container_spec_cpu_quota{{{}}} {quota}", container(p));
        }
    }
    out.push_str("# HELP container_spec_cpu_period CPU period of the container.\n# TYPE container_spec_cpu_period gauge\n");
    for p in &pods {
        let _ = writeln!(out, "container_spec_cpu_period{{{}}} 100000", container(p));
    }
    out.push_str("# HELP container_cpu_cfs_periods_total Number of elapsed enforcement period intervals.\n# TYPE container_cpu_cfs_periods_total counter\n");
    for p in &pods {
        let _ = writeln!(
            out,
            "container_cpu_cfs_periods_total{{{}}} {}",
            container(p),
            p.cfs_periods_total.floor()
        );
    }
    out.push_str("# HELP container_cpu_cfs_throttled_periods_total Number of throttled period intervals.\n# TYPE container_cpu_cfs_throttled_periods_total counter\n");
    for p in &pods {
        let _ = writeln!(
            out,
            "container_cpu_cfs_throttled_periods_total{{{}}} {}",
            container(p),
            p.cfs_throttled_total.floor()
        );
    }
    out.push_str("# HELP kube_pod_container_status_restarts_total Container restarts.\n# TYPE kube_pod_container_status_restarts_total counter\n");
    for p in &pods {
        let _ = writeln!(out, "kube_pod_container_status_restarts_total{{{}}} {}", container(p), p.restarts);
    }
    out.push_str(
        "# HELP up Whether the simulated service instance answers its health check.\n# TYPE up gauge\n",
    );
    // Services only: a created workload's pod is no instance of a platform service.
    for p in pods.iter().filter(|p| p.is_platform()) {
        let healthy = p.state == PodState::Running && p.ready;
        let _ = writeln!(out, "up{{{}}} {}", pod_labels(p), u8::from(healthy));
    }
    out
}
