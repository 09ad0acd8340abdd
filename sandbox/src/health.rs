//! The services' `/health` answers, reflecting the incident the sandbox is in.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::incident::Incident;
use crate::world::World;

/// Status code and body of `GET /health/{service}`: 200 when healthy, 503 otherwise.
pub fn service_health(world: &World, service: &str) -> (StatusCode, Value) {
    let ready = world.pods.values().filter(|p| p.app == service && p.ready).count();
    let total = world.pods.values().filter(|p| p.app == service && p.terminating.is_none()).count();
    let incident = world.incident;
    let mut checks = serde_json::Map::new();
    let mut check = |name: &str, ok: bool, detail: &str| {
        checks
            .insert(name.to_owned(), json!({"status": if ok { "ok" } else { "failing" }, "detail": detail}));
    };
    check("replicas", ready > 0, &format!("{ready}/{total} pods ready"));
    match service {
        "websocket-server" => {
            check("connections", incident != Incident::WebsocketDrops, "ping/pong within 60 s");
            check("memory", incident != Incident::WebsocketMemory, "connection buffers within budget");
        }
        "stream-processor" => {
            check(
                "kafka",
                incident != Incident::KafkaConnection,
                "broker kafka:9092 reachable, SASL authenticated",
            );
            check(
                "database",
                !matches!(incident, Incident::PoolExhaustion | Incident::SlowQueries),
                "pool checkout under 100 ms",
            );
            let lag: f64 = world.platform.lag.iter().sum();
            check("consumer_lag", lag < 10_000.0, &format!("total lag {lag:.0} messages"));
        }
        "ml-inference" => {
            check("model", incident != Incident::ModelLoading, "model event-classifier v12 loaded");
            check("latency", incident != Incident::MlLatency, "p95 prediction latency under 200 ms");
        }
        _ => {}
    }
    let failing = checks.values().filter(|c| c["status"] == "failing").count();
    let status = if ready == 0 {
        "unhealthy"
    } else if failing > 0 {
        "degraded"
    } else {
        "healthy"
    };
    let code = if status == "healthy" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, json!({"service": service, "status": status, "checks": checks}))
}
