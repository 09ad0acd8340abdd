//! The simulation reacts to what operators do: restarts reset leaking memory, scaling changes
//! consumer capacity, deleted brokers come back under their own name.

use serde_json::json;
use triage_sandbox::Incident;
use triage_sandbox::store::Kind;
use triage_sandbox::world::{NAMESPACE, World};

const MIB: f64 = 1024.0 * 1024.0;

fn run(world: &mut World, seconds: f64) {
    for _ in 0..(seconds * 4.0) as usize {
        world.tick(0.25);
    }
}

fn max_memory(world: &World, app: &str) -> f64 {
    world
        .pods
        .values()
        .filter(|p| p.app == app && p.terminating.is_none())
        .map(|p| p.memory_bytes)
        .fold(0.0, f64::max)
}

#[test]
fn rollout_restart_resets_leaking_memory() {
    let mut world = World::new(Incident::MemoryLeak, 3);
    run(&mut world, 40.0);
    let leaked = max_memory(&world, "stream-processor");
    assert!(leaked > 550.0 * MIB, "memory grows under memory-leak: {:.0} MiB", leaked / MIB);

    world.set_incident(Incident::Healthy);
    let mut d =
        world.store.get(Kind::Deployment, NAMESPACE, "stream-processor").cloned().expect("deployment");
    d["spec"]["template"]["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"});
    world.store.put(Kind::Deployment, d);
    run(&mut world, 30.0);
    let d = world.store.get(Kind::Deployment, NAMESPACE, "stream-processor").expect("deployment");
    assert_eq!(d["status"]["updatedReplicas"], 6, "{}", d["status"]);
    let fresh = max_memory(&world, "stream-processor");
    assert!(fresh < 400.0 * MIB, "restarted pods start small: {:.0} MiB", fresh / MIB);
}

#[test]
fn lag_grows_with_six_consumers_and_drains_with_twelve() {
    let mut world = World::new(Incident::ConsumerLag, 4);
    run(&mut world, 20.0);
    let grown: f64 = world.platform.lag.iter().sum();
    assert!(grown > 8_000.0, "lag after 20 s: {grown}");
    let mut d =
        world.store.get(Kind::Deployment, NAMESPACE, "stream-processor").cloned().expect("deployment");
    d["spec"]["replicas"] = json!(12);
    world.store.put(Kind::Deployment, d);
    run(&mut world, 30.0);
    let drained: f64 = world.platform.lag.iter().sum();
    assert!(drained < grown * 0.5, "lag after scaling: {drained} (was {grown})");
    assert_eq!(world.platform.consumers, 12);
}

#[test]
fn deleted_broker_returns_under_its_name_and_deleted_pod_is_replaced() {
    let mut world = World::new(Incident::Healthy, 5);
    assert!(world.delete_pod("kafka-1", 0.0));
    let victim = world.pods.keys().find(|n| n.starts_with("ml-inference-")).cloned().expect("pod");
    assert!(world.delete_pod(&victim, 0.0));
    run(&mut world, 5.0);
    assert!(world.pods.get("kafka-1").is_some_and(|p| p.ready), "kafka-1 is back and ready");
    let ml: Vec<&String> = world.pods.keys().filter(|n| n.starts_with("ml-inference-")).collect();
    assert_eq!(ml.len(), 4);
    assert!(!ml.contains(&&victim));
}

#[test]
fn created_workloads_take_no_part_in_the_platform() {
    let mut world = World::new(Incident::ConsumerLag, 6);
    // A deployment whose pods even carry `app: stream-processor` is no consumer: what a pod does
    // in the simulation follows from its owner, never from its labels.
    let shadow = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shadow", "namespace": NAMESPACE, "uid": "shadow-uid", "generation": 1},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "stream-processor", "shadow": "yes"}},
                 "template": {"metadata": {"labels": {"app": "stream-processor", "shadow": "yes"}},
                              "spec": {"containers": [{"name": "web", "image": "registry.example.com/fixtures/web:1.0"}]}}}
    });
    world.create_object(Kind::Deployment, shadow);
    run(&mut world, 5.0);
    let shadow_pods: Vec<_> = world.pods.values().filter(|p| p.name.starts_with("shadow-")).collect();
    assert_eq!(shadow_pods.len(), 3);
    assert!(shadow_pods.iter().all(|p| p.ready && !p.is_platform() && p.app.is_empty()));
    assert_eq!(world.platform.consumers, 6, "still the six stream-processors");
    let metrics = triage_sandbox::metrics::render(&world);
    assert!(!metrics.lines().any(|l| l.starts_with("up{") && l.contains("shadow-")), "no service instance");
    assert!(metrics.contains("container=\"web\""), "but cAdvisor sees its container");
    let owned = world.store.list(Kind::Pod, Some(NAMESPACE)).into_iter().filter(|p| {
        p["metadata"]["ownerReferences"][0]["name"].as_str().is_some_and(|rs| rs.starts_with("shadow-"))
    });
    assert_eq!(owned.count(), 3);

    // Deleting it takes its ReplicaSet and pods along; the platform's deployment is untouched.
    world.delete_workload(Kind::Deployment, "shadow");
    run(&mut world, 3.0);
    assert!(world.pods.keys().all(|n| !n.starts_with("shadow-")));
    assert!(
        world
            .store
            .list(Kind::ReplicaSet, Some(NAMESPACE))
            .iter()
            .all(|rs| rs["metadata"]["ownerReferences"][0]["name"] != "shadow")
    );
    assert_eq!(world.pods.values().filter(|p| p.app == "stream-processor").count(), 6);
}
