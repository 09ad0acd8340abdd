//! Every object the simulated API serves deserializes into its `k8s-openapi` type, before and
//! after the platform has moved (a scale-up, a rollout, an OOM kill, deletions).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Endpoints, Event, Namespace, Node, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::Value;
use triage_sandbox::Incident;
use triage_sandbox::store::Kind;
use triage_sandbox::world::{NAMESPACE, World};

fn check_all(world: &World) {
    for kind in Kind::ALL {
        let objects: Vec<Value> = match kind {
            Kind::Endpoints | Kind::EndpointSlice => triage_sandbox::virtual_objects::list(world, kind, None),
            _ => world.store.list(kind, None).into_iter().cloned().collect(),
        };
        assert!(!objects.is_empty(), "{kind:?} has objects");
        for o in objects {
            let text = o.to_string();
            let result = match kind {
                Kind::Namespace => serde_json::from_value::<Namespace>(o).map(drop),
                Kind::Node => serde_json::from_value::<Node>(o).map(drop),
                Kind::Pod => serde_json::from_value::<Pod>(o).map(drop),
                Kind::Service => serde_json::from_value::<Service>(o).map(drop),
                Kind::Endpoints => serde_json::from_value::<Endpoints>(o).map(drop),
                Kind::Event => serde_json::from_value::<Event>(o).map(drop),
                Kind::Secret => serde_json::from_value::<Secret>(o).map(drop),
                Kind::Deployment => serde_json::from_value::<Deployment>(o).map(drop),
                Kind::ReplicaSet => serde_json::from_value::<ReplicaSet>(o).map(drop),
                Kind::StatefulSet => serde_json::from_value::<StatefulSet>(o).map(drop),
                Kind::NetworkPolicy => serde_json::from_value::<NetworkPolicy>(o).map(drop),
                Kind::EndpointSlice => serde_json::from_value::<EndpointSlice>(o).map(drop),
            };
            if let Err(e) = result {
                panic!("{kind:?} does not deserialize: {e}\n{text}");
            }
        }
    }
}

#[test]
fn objects_match_the_kubernetes_types_while_the_platform_moves() {
    let mut world = World::new(Incident::MemoryLeak, 1);
    check_all(&world);
    let mut d =
        world.store.get(Kind::Deployment, NAMESPACE, "stream-processor").cloned().expect("deployment");
    d["spec"]["replicas"] = serde_json::json!(9);
    d["spec"]["template"]["metadata"]["annotations"] =
        serde_json::json!({"kubectl.kubernetes.io/restartedAt": "now"});
    world.store.put(Kind::Deployment, d);
    let first = world.pods.keys().next().cloned().expect("a pod");
    world.delete_pod(&first, 1.0);
    // 150 simulated seconds at 4 Hz: the rollout finishes and leaking pods get OOMKilled.
    for _ in 0..600 {
        world.tick(0.25);
    }
    check_all(&world);
    let d = world.store.get(Kind::Deployment, NAMESPACE, "stream-processor").expect("deployment");
    assert_eq!(d["status"]["updatedReplicas"], 9, "{}", d["status"]);
    assert_eq!(d["status"]["readyReplicas"], 9, "{}", d["status"]);
    let oom = world
        .store
        .list(Kind::Pod, Some(NAMESPACE))
        .into_iter()
        .any(|p| p["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "OOMKilled");
    assert!(oom, "leaking stream-processors are OOMKilled");
}
