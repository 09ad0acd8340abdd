//! The Secrets a deployment references, by name only: their values are never fetched.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use triage_shared::ApiError;
use triage_shared::k8s::{DeploymentSecrets, SecretReference};

use super::{K8s, map_error};

impl K8s {
    /// The Secrets a deployment's pod template references (env, envFrom, volumes), by name.
    /// With `list_secret_names`, also whether each exists, from a metadata-only list: the
    /// Secrets' data never reaches Triage.
    pub async fn deployment_secrets(&self, ns: &str, name: &str) -> Result<DeploymentSecrets, ApiError> {
        let deployment = self.get_deployment(ns, name).await?;
        let pod = deployment.spec.and_then(|s| s.template.spec).unwrap_or_default();
        let mut references = Vec::new();
        let containers = pod.init_containers.iter().flatten().chain(pod.containers.iter());
        for c in containers {
            for e in c.env.iter().flatten() {
                if let Some(r) = e.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()) {
                    references.push(SecretReference {
                        secret: r.name.clone(),
                        key: Some(r.key.clone()),
                        container: c.name.clone(),
                        via: format!("env {}", e.name),
                        exists: None,
                        key_exists: None,
                    });
                }
            }
            for f in c.env_from.iter().flatten() {
                if let Some(r) = &f.secret_ref {
                    references.push(SecretReference {
                        secret: r.name.clone(),
                        key: None,
                        container: c.name.clone(),
                        via: "envFrom".to_owned(),
                        exists: None,
                        key_exists: None,
                    });
                }
            }
        }
        for v in pod.volumes.iter().flatten() {
            if let Some(secret) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
                references.push(SecretReference {
                    secret,
                    key: None,
                    container: "(volume)".to_owned(),
                    via: format!("volume {}", v.name),
                    exists: None,
                    key_exists: None,
                });
            }
        }
        if self.list_secret_names {
            let ns = self.namespace(ns)?;
            let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
            let names: BTreeSet<String> = api
                .list_metadata(&ListParams::default())
                .await
                .map_err(|e| map_error(e, "list", "secrets"))?
                .items
                .into_iter()
                .filter_map(|m| m.metadata.name)
                .collect();
            for r in &mut references {
                r.exists = Some(names.contains(&r.secret));
            }
        }
        if self.check_secret_keys {
            let wanted: BTreeSet<String> =
                references.iter().filter(|r| r.key.is_some()).map(|r| r.secret.clone()).collect();
            let keys = self.secret_key_names(ns, &wanted).await?;
            for r in &mut references {
                match (keys.get(&r.secret), &r.key) {
                    (Some(None), _) => r.exists = Some(false),
                    (Some(Some(names)), Some(key)) => {
                        r.exists = Some(true);
                        r.key_exists = Some(names.contains(key));
                    }
                    _ => {}
                }
            }
        }
        Ok(DeploymentSecrets {
            deployment: name.to_owned(),
            references,
            checked_existence: self.list_secret_names,
        })
    }

    /// The key names of each of `names` (at most 50), `None` for a Secret that does not exist.
    /// Each Secret is read with `get` and its values are dropped here, on arrival: only key
    /// names leave this function.
    pub async fn secret_key_names(
        &self,
        ns: &str,
        names: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Option<BTreeSet<String>>>, ApiError> {
        let ns = self.namespace(ns)?;
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let mut out = BTreeMap::new();
        for name in names.iter().take(50) {
            let secret =
                api.get_opt(name).await.map_err(|e| map_error(e, "get", &format!("secret {name}")))?;
            let keys = secret.map(|s| {
                let data = s.data.into_iter().flat_map(BTreeMap::into_keys);
                let string_data = s.string_data.into_iter().flat_map(BTreeMap::into_keys);
                data.chain(string_data).collect::<BTreeSet<String>>()
            });
            out.insert(name.clone(), keys);
        }
        Ok(out)
    }
}
