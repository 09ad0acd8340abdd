//! The controllers: Deployments through ReplicaSets (a rolling update with maxSurge 25% and
//! maxUnavailable 25%), StatefulSets (pods `<name>-<ordinal>`, ordered or parallel, rolled from
//! the highest ordinal), and creating and deleting workloads for the API. Every controller finds
//! its pods by owner reference, never by label, so workloads whose labels overlap stay apart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};

use crate::store::{Kind, rfc3339};
use crate::world::{NAMESPACE, NewPod, PodOwner, PodSim, PodState, World, hash_text, platform_annotations};

/// Live pods per pod-template hash: (pods, ready pods).
type Counts = BTreeMap<String, (usize, usize)>;

/// What a deployment's rollout does this step.
struct Plan {
    hash: String,
    desired: usize,
    /// Live pods already at `hash`.
    new_count: usize,
    to_create: usize,
    to_delete: Vec<String>,
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn uid_of(object: &Value) -> &str {
    object["metadata"]["uid"].as_str().unwrap_or_default()
}

/// Hash of a pod template (changes on rollout restart or image change).
fn template_hash(object: &Value) -> String {
    hash_text(&object["spec"]["template"].to_string())
}

/// `labels` with `extra` added.
fn with_labels(labels: &Value, extra: &[(&str, &str)]) -> Value {
    let mut out = if labels.is_object() { labels.clone() } else { json!({}) };
    for (k, v) in extra {
        out[*k] = json!(v);
    }
    out
}

fn owned_by(object: &Value, uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid && r["controller"] == true))
}

/// The rollout step of one deployment, from its live pods.
fn plan_rollout(d: &Value, live: &[&PodSim]) -> Plan {
    let hash = template_hash(d);
    let desired = d["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let new_count = live.iter().filter(|p| p.hash == hash).count();
    let mut old: Vec<(String, bool)> =
        live.iter().filter(|p| p.hash != hash).map(|p| (p.name.clone(), p.ready)).collect();
    let ready_total = live.iter().filter(|p| p.ready).count();
    let surge = desired.div_ceil(4).max(1);
    let max_unavailable = desired / 4;
    let mut to_create = 0;
    let mut to_delete: Vec<String> = Vec::new();
    if old.is_empty() {
        if new_count < desired {
            to_create = desired - new_count;
        } else if new_count > desired {
            // Scale down: not-ready pods first, then the newest.
            let mut candidates: Vec<&PodSim> = live.to_vec();
            candidates.sort_by(|a, b| a.ready.cmp(&b.ready).then(b.created.cmp(&a.created)));
            to_delete = candidates.iter().take(new_count - desired).map(|p| p.name.clone()).collect();
        }
    } else {
        let total = live.len();
        if new_count < desired && total < desired + surge {
            to_create = (desired + surge - total).min(desired - new_count);
        }
        // Old pods go while enough pods stay ready: not-ready ones at once, ready ones
        // down to `desired - maxUnavailable` ready pods.
        let min_available = desired.saturating_sub(max_unavailable);
        let mut ready_left = ready_total;
        old.sort_by_key(|(_, ready)| *ready);
        for (name, ready) in &old {
            if !ready {
                to_delete.push(name.clone());
            } else if ready_left > min_available {
                ready_left -= 1;
                to_delete.push(name.clone());
            }
        }
    }
    Plan { hash, desired, new_count, to_create, to_delete }
}

impl World {
    /// Brings ReplicaSets and pods in line with every Deployment and StatefulSet.
    pub fn reconcile(&mut self) {
        // StatefulSets first: the brokers were the platform's first pods and keep their nodes.
        let sets: Vec<Value> =
            self.store.list(Kind::StatefulSet, Some(NAMESPACE)).into_iter().cloned().collect();
        for s in &sets {
            self.reconcile_statefulset(s);
        }
        self.reconcile_deployments();
    }

    fn is_platform_uid(&self, object: &Value) -> bool {
        self.platform_uids.contains(uid_of(object))
    }

    fn reconcile_deployments(&mut self) {
        let deployments: Vec<Value> =
            self.store.list(Kind::Deployment, Some(NAMESPACE)).into_iter().cloned().collect();
        // One pass over the pods for every deployment's decisions, whatever their number.
        let plans: Vec<Plan> = {
            let mut live: HashMap<&str, Vec<&PodSim>> = HashMap::new();
            for p in self.pods.values().filter(|p| p.terminating.is_none()) {
                if let PodOwner::ReplicaSet { deployment, .. } = &p.owner {
                    live.entry(deployment.as_str()).or_default().push(p);
                }
            }
            deployments
                .iter()
                .map(|d| plan_rollout(d, live.get(name_of(d)).map_or(&[][..], Vec::as_slice)))
                .collect()
        };
        for (d, plan) in deployments.iter().zip(&plans) {
            self.apply_plan(d, plan);
        }
        let mut counts: HashMap<String, Counts> = HashMap::new();
        for p in self.pods.values().filter(|p| p.terminating.is_none()) {
            if let PodOwner::ReplicaSet { deployment, .. } = &p.owner {
                let e = counts.entry(deployment.clone()).or_default().entry(p.hash.clone()).or_default();
                e.0 += 1;
                e.1 += usize::from(p.ready);
            }
        }
        let none = Counts::new();
        for (d, plan) in deployments.iter().zip(&plans) {
            let per_hash = counts.get(name_of(d)).unwrap_or(&none);
            self.write_replicasets(d, &plan.hash, plan.desired, per_hash);
            self.write_deployment_status(name_of(d), &plan.hash, per_hash);
        }
    }

    fn apply_plan(&mut self, d: &Value, plan: &Plan) {
        let name = name_of(d).to_owned();
        let hash = &plan.hash;
        if plan.to_create > 0 {
            let rs_uid = self.ensure_replicaset(d, hash, plan.desired);
            let labels =
                with_labels(&d["spec"]["template"]["metadata"]["labels"], &[("pod-template-hash", hash)]);
            let platform = self.is_platform_uid(d);
            let template = (!platform).then(|| {
                let mut t = d["spec"]["template"].clone();
                t["metadata"]["labels"] = labels.clone();
                Arc::new(t)
            });
            let annotations = match &template {
                None => platform_annotations(&name),
                Some(t) => t["metadata"]["annotations"].clone(),
            };
            for _ in 0..plan.to_create {
                let pod = self.new_pod_name(&name, hash);
                self.add_pod(NewPod {
                    name: pod.clone(),
                    app: if platform { name.clone() } else { String::new() },
                    hash: hash.clone(),
                    owner: PodOwner::ReplicaSet { deployment: name.clone(), uid: rs_uid.clone() },
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                    template: template.clone(),
                });
                self.event(
                    "Pod",
                    &pod,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {NAMESPACE}/{pod}"),
                );
            }
            self.event(
                "Deployment",
                &name,
                "Normal",
                "ScalingReplicaSet",
                &format!("Scaled up replica set {name}-{hash} to {}", plan.new_count + plan.to_create),
            );
        }
        if !plan.to_delete.is_empty() {
            self.event(
                "Deployment",
                &name,
                "Normal",
                "ScalingReplicaSet",
                &format!("Scaled down replica set of {name} by {}", plan.to_delete.len()),
            );
        }
        for pod in &plan.to_delete {
            self.delete_pod(pod, 1.0);
        }
    }

    /// The uid of the deployment's ReplicaSet for `hash`, creating it first if it is new (its
    /// pods' owner references carry that uid from their first version on).
    fn ensure_replicaset(&mut self, d: &Value, hash: &str, desired: usize) -> String {
        let name = format!("{}-{hash}", name_of(d));
        if let Some(rs) = self.store.get(Kind::ReplicaSet, NAMESPACE, &name) {
            return uid_of(rs).to_owned();
        }
        let stored = self.store.put(Kind::ReplicaSet, replicaset_object(d, hash, desired, (0, 0), None));
        uid_of(&stored).to_owned()
    }

    fn write_replicasets(&mut self, d: &Value, current_hash: &str, desired: usize, per_hash: &Counts) {
        let mut hashes = per_hash.clone();
        hashes.entry(current_hash.to_owned()).or_default();
        // Old ReplicaSets that were scaled to zero stay (as in Kubernetes' revision history).
        let uid = uid_of(d);
        for rs in self.store.list(Kind::ReplicaSet, Some(NAMESPACE)) {
            if owned_by(rs, uid) {
                let h = rs["metadata"]["labels"]["pod-template-hash"].as_str().unwrap_or_default();
                hashes.entry(h.to_owned()).or_default();
            }
        }
        for (hash, counts) in hashes {
            let name = format!("{}-{hash}", name_of(d));
            let replicas = if hash == current_hash { desired } else { counts.0 };
            let existing = self.store.get(Kind::ReplicaSet, NAMESPACE, &name);
            let object = replicaset_object(d, &hash, replicas, counts, existing);
            let changed = existing.is_none_or(|e| {
                e["spec"]["replicas"] != object["spec"]["replicas"] || e["status"] != object["status"]
            });
            if changed {
                self.store.put(Kind::ReplicaSet, object);
            }
        }
    }

    fn write_deployment_status(&mut self, name: &str, hash: &str, per_hash: &Counts) {
        let Some(mut d) = self.store.get(Kind::Deployment, NAMESPACE, name).cloned() else { return };
        let desired = d["spec"]["replicas"].as_u64().unwrap_or(1);
        let replicas = per_hash.values().map(|c| c.0).sum::<usize>() as u64;
        let ready = per_hash.values().map(|c| c.1).sum::<usize>() as u64;
        let updated = per_hash.get(hash).map_or(0, |c| c.0) as u64;
        let generation = d["metadata"]["generation"].as_u64().unwrap_or(1);
        let complete = updated == desired && replicas == desired && ready == desired;
        let old_status = d["status"].clone();
        let transition = |kind: &str, status: &str| -> Value {
            let prev = old_status["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == kind).cloned())
                .unwrap_or(Value::Null);
            if prev["status"] == status {
                prev["lastTransitionTime"].clone()
            } else {
                json!(rfc3339(Utc::now()))
            }
        };
        let available = ready >= desired.saturating_sub(desired / 4);
        let (progress_reason, progress_message) = if complete {
            ("NewReplicaSetAvailable", format!("ReplicaSet \"{name}-{hash}\" has successfully progressed."))
        } else {
            ("ReplicaSetUpdated", format!("ReplicaSet \"{name}-{hash}\" is progressing."))
        };
        let now = json!(rfc3339(Utc::now()));
        let mut status = json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {"type": "Available", "status": if available { "True" } else { "False" },
                 "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                 "message": if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
                 "lastUpdateTime": now, "lastTransitionTime": transition("Available", if available { "True" } else { "False" })},
                {"type": "Progressing", "status": "True", "reason": progress_reason, "message": progress_message,
                 "lastUpdateTime": now, "lastTransitionTime": transition("Progressing", "True")}
            ]
        });
        if replicas > ready {
            status["unavailableReplicas"] = json!(replicas - ready);
        }
        // Only write when something other than timestamps changed.
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(cs) = s["conditions"].as_array_mut() {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove("lastUpdateTime");
                    c.remove("lastTransitionTime");
                }
            }
            s
        };
        if strip(&old_status) != strip(&status) {
            d["status"] = status;
            self.store.put(Kind::Deployment, d);
        }
    }

    // ---------- StatefulSets ----------

    fn reconcile_statefulset(&mut self, s: &Value) {
        let name = name_of(s).to_owned();
        let uid = uid_of(s).to_owned();
        let desired = s["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
        let parallel = s["spec"]["podManagementPolicy"] == "Parallel";
        let rolling = s["spec"]["updateStrategy"]["type"] != "OnDelete";
        let partition =
            s["spec"]["updateStrategy"]["rollingUpdate"]["partition"].as_u64().unwrap_or(0) as usize;
        let revision = template_hash(s);
        let pods = self.statefulset_pods(&name, &uid);
        let terminating = pods.values().any(|p| p.terminating);
        let usable = |i: usize| pods.get(&i).is_some_and(|p| p.ready && !p.terminating);

        // Scale down from the highest ordinal; one at a time unless the policy is Parallel.
        let excess: Vec<usize> =
            pods.range(desired..).filter(|(_, p)| !p.terminating).map(|(i, _)| *i).rev().collect();
        let remove: Vec<usize> = if parallel || !terminating {
            excess.into_iter().take(if parallel { usize::MAX } else { 1 }).collect()
        } else {
            Vec::new()
        };
        // Missing ordinals, in order: an ordered set waits for each pod to be ready.
        let mut create = Vec::new();
        for i in 0..desired {
            if pods.contains_key(&i) {
                if !parallel && !usable(i) {
                    break;
                }
                continue;
            }
            // A pod of that name that is not this set's blocks the ordinal (as it would in Kubernetes).
            if self.pods.contains_key(&format!("{name}-{i}")) {
                break;
            }
            create.push(i);
            if !parallel {
                break;
            }
        }
        // Rolling update: once every pod is there and ready, replace the highest outdated one.
        let mut outdated = None;
        if rolling && create.is_empty() && remove.is_empty() && !terminating && (0..desired).all(usable) {
            outdated =
                (partition..desired).rev().find(|i| pods.get(i).is_some_and(|p| p.revision != revision));
        }
        for i in remove.into_iter().chain(outdated) {
            let pod = format!("{name}-{i}");
            self.delete_pod(&pod, 1.0);
            self.event(
                "StatefulSet",
                &name,
                "Normal",
                "SuccessfulDelete",
                &format!("delete Pod {pod} in StatefulSet {name} successful"),
            );
        }
        for i in create {
            let pod = self.statefulset_pod(s, i, &revision);
            let pod_name = pod.name.clone();
            self.add_pod(pod);
            self.event(
                "StatefulSet",
                &name,
                "Normal",
                "SuccessfulCreate",
                &format!("create Pod {pod_name} in StatefulSet {name} successful"),
            );
            self.event(
                "Pod",
                &pod_name,
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {NAMESPACE}/{pod_name}"),
            );
        }
        self.write_statefulset_status(s, &revision);
    }

    /// This set's pods by ordinal. They are named `<name>-<ordinal>`, so they are a range of the
    /// pod map, not a pass over every pod.
    fn statefulset_pods(&self, name: &str, uid: &str) -> BTreeMap<usize, SetPod> {
        let prefix = format!("{name}-");
        self.pods
            .range(prefix.clone()..)
            .take_while(|(n, _)| n.starts_with(&prefix))
            .filter(|(_, p)| matches!(&p.owner, PodOwner::StatefulSet { uid: u, .. } if u == uid))
            .filter_map(|(n, p)| {
                let ordinal = n[prefix.len()..].parse::<usize>().ok()?;
                let ready = p.ready && p.state == PodState::Running;
                Some((
                    ordinal,
                    SetPod { ready, terminating: p.terminating.is_some(), revision: p.hash.clone() },
                ))
            })
            .collect()
    }

    fn statefulset_pod(&self, s: &Value, ordinal: usize, revision: &str) -> NewPod {
        let set = name_of(s);
        let name = format!("{set}-{ordinal}");
        let owner = PodOwner::StatefulSet { name: set.to_owned(), uid: uid_of(s).to_owned() };
        let template_labels = &s["spec"]["template"]["metadata"]["labels"];
        if self.is_platform_uid(s) {
            // The brokers keep the labels they always had.
            return NewPod {
                labels: with_labels(template_labels, &[("statefulset.kubernetes.io/pod-name", &name)]),
                annotations: platform_annotations(set),
                app: set.to_owned(),
                hash: revision.to_owned(),
                owner,
                template: None,
                name,
            };
        }
        let labels = with_labels(
            template_labels,
            &[
                ("controller-revision-hash", &format!("{set}-{revision}")),
                ("statefulset.kubernetes.io/pod-name", &name),
                ("apps.kubernetes.io/pod-index", &ordinal.to_string()),
            ],
        );
        let mut template = s["spec"]["template"].clone();
        template["metadata"]["labels"] = labels.clone();
        template["spec"]["hostname"] = json!(name);
        if let Some(service) = s["spec"]["serviceName"].as_str().filter(|n| !n.is_empty()) {
            template["spec"]["subdomain"] = json!(service);
        }
        NewPod {
            annotations: template["metadata"]["annotations"].clone(),
            labels,
            app: String::new(),
            hash: revision.to_owned(),
            owner,
            template: Some(Arc::new(template)),
            name,
        }
    }

    fn write_statefulset_status(&mut self, s: &Value, revision: &str) {
        let name = name_of(s);
        let pods = self.statefulset_pods(name, uid_of(s));
        let Some(mut object) = self.store.get(Kind::StatefulSet, NAMESPACE, name).cloned() else { return };
        let live: Vec<&SetPod> = pods.values().filter(|p| !p.terminating).collect();
        let update_revision = format!("{name}-{revision}");
        let updated = live.iter().filter(|p| p.revision == revision).count();
        let ready = live.iter().filter(|p| p.ready).count();
        // The current revision moves to the update revision once every pod runs it.
        let current_revision = match object["status"]["currentRevision"].as_str() {
            Some(current) if updated < live.len() => current.to_owned(),
            _ => update_revision.clone(),
        };
        let current = live.iter().filter(|p| format!("{name}-{}", p.revision) == current_revision).count();
        let status = json!({
            "observedGeneration": object["metadata"]["generation"].as_u64().unwrap_or(1),
            "replicas": live.len(), "readyReplicas": ready, "availableReplicas": ready,
            "currentReplicas": current, "updatedReplicas": updated,
            "currentRevision": current_revision, "updateRevision": update_revision, "collisionCount": 0
        });
        if object["status"] != status {
            object["status"] = status;
            self.store.put(Kind::StatefulSet, object);
        }
    }

    // ---------- created and deleted through the API ----------

    /// Stores a new Deployment, StatefulSet or bare Pod (validated and defaulted by admission) and
    /// reconciles at once, so its ReplicaSet and pods exist when the API answers.
    pub fn create_object(&mut self, kind: Kind, object: Value) -> Value {
        let name = name_of(&object).to_owned();
        if kind == Kind::Pod {
            let template = json!({"metadata": {"labels": object["metadata"]["labels"], "annotations": object["metadata"]["annotations"]},
                                  "spec": object["spec"]});
            self.add_pod(NewPod {
                name: name.clone(),
                app: String::new(),
                hash: String::new(),
                owner: PodOwner::None,
                labels: object["metadata"]["labels"].clone(),
                annotations: object["metadata"]["annotations"].clone(),
                template: Some(Arc::new(template)),
            });
            self.event(
                "Pod",
                &name,
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {NAMESPACE}/{name}"),
            );
        } else {
            self.store.put(kind, object);
            self.reconcile();
        }
        self.store.get(kind, NAMESPACE, &name).cloned().unwrap_or(Value::Null)
    }

    /// Deletes a Deployment or StatefulSet and what it owns, as the garbage collector does with
    /// background propagation: the object at once, its ReplicaSets next, its pods gracefully.
    pub fn delete_workload(&mut self, kind: Kind, name: &str) -> Option<Value> {
        let removed = self.store.remove(kind, NAMESPACE, name)?;
        let uid = uid_of(&removed).to_owned();
        self.platform_uids.remove(&uid);
        let pods: Vec<String> = match kind {
            Kind::Deployment => {
                let sets: Vec<String> = self
                    .store
                    .list(Kind::ReplicaSet, Some(NAMESPACE))
                    .into_iter()
                    .filter(|rs| owned_by(rs, &uid))
                    .map(|rs| name_of(rs).to_owned())
                    .collect();
                for rs in &sets {
                    self.store.remove(Kind::ReplicaSet, NAMESPACE, rs);
                }
                self.pods
                    .values()
                    .filter(
                        |p| matches!(&p.owner, PodOwner::ReplicaSet { deployment, .. } if deployment == name),
                    )
                    .map(|p| p.name.clone())
                    .collect()
            }
            _ => self.statefulset_pods(name, &uid).keys().map(|i| format!("{name}-{i}")).collect(),
        };
        for pod in pods {
            self.delete_pod(&pod, 1.0);
        }
        Some(removed)
    }
}

/// What the StatefulSet controller needs to know of one of its pods.
struct SetPod {
    ready: bool,
    terminating: bool,
    revision: String,
}

/// A deployment's ReplicaSet for `hash`: the template's labels plus `pod-template-hash`, the
/// deployment's selector narrowed to that hash, and a controller reference to the deployment.
fn replicaset_object(
    d: &Value,
    hash: &str,
    replicas: usize,
    (count, ready): (usize, usize),
    existing: Option<&Value>,
) -> Value {
    let deployment = name_of(d);
    let mut template = d["spec"]["template"].clone();
    template["metadata"]["labels"] =
        with_labels(&template["metadata"]["labels"], &[("pod-template-hash", hash)]);
    let mut selector = d["spec"]["selector"].clone();
    selector["matchLabels"]["pod-template-hash"] = json!(hash);
    let desired = d["spec"]["replicas"].as_u64().unwrap_or(1);
    let mut object = json!({
        "metadata": {
            "name": format!("{deployment}-{hash}"), "namespace": NAMESPACE,
            "labels": template["metadata"]["labels"],
            "annotations": {"deployment.kubernetes.io/desired-replicas": desired.to_string()},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                                 "uid": d["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
        "status": {"replicas": count, "readyReplicas": ready, "availableReplicas": ready, "fullyLabeledReplicas": count, "observedGeneration": 1}
    });
    if let Some(created) =
        existing.map(|e| e["metadata"]["creationTimestamp"].clone()).filter(|c| !c.is_null())
    {
        object["metadata"]["creationTimestamp"] = created;
    }
    object
}
