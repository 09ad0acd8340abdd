//! The Secrets a deployment references, by name only: their values are never fetched.

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
                });
            }
        }
        if self.list_secret_names {
            let ns = self.namespace(ns)?;
            let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(self.client.clone(), ns);
            let names: std::collections::BTreeSet<String> = api
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
        Ok(DeploymentSecrets {
            deployment: name.to_owned(),
            references,
            checked_existence: self.list_secret_names,
        })
    }
}
