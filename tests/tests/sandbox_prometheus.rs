//! Through real Prometheus scraping the sandbox: the consumer-lag incident raises
//! `kafka_consumer_lag`, and scaling `stream-processor` up (through the Kubernetes API) drains it.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use triage_sandbox::Incident;
use triage_tests::{Prometheus, TestSandbox};

async fn scalar(prom: &Prometheus, promql: &str) -> anyhow::Result<Option<f64>> {
    let data = prom.query(promql).await?;
    Ok(data["result"][0]["value"][1].as_str().and_then(|v| v.parse().ok()))
}

#[tokio::test]
async fn consumer_lag_rises_then_drains_after_scaling() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::ConsumerLag).await?;
    let target = sb.sandbox.metrics_addr.to_string();
    let prom = Prometheus::start(&[("sandbox", target)]).await?;

    // The guide's metric, with the guide's labels, for all 24 partitions.
    let started = Instant::now();
    let mut peak = 0.0;
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(lag) = scalar(&prom, "sum(kafka_consumer_lag{group=\"stream-processor-group\"})").await? {
            peak = lag;
            if lag > 4000.0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(peak > 4000.0, "lag should grow under consumer-lag, reached {peak}");
    let partitions = prom.query("count(kafka_consumer_lag{topic=\"events\"})").await?;
    assert_eq!(partitions["result"][0]["value"][1], "24");
    // Still rising before the fix: a later scrape shows more lag.
    let mut later = peak;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        later = scalar(&prom, "sum(kafka_consumer_lag)").await?.unwrap_or_default();
        if later > peak {
            break;
        }
    }
    assert!(later > peak, "lag is rising before the fix: {peak} then {later}");
    peak = later;

    let deployments: Api<Deployment> = Api::namespaced(sb.kube_client().await?, "streaming-analytics");
    deployments
        .patch_scale(
            "stream-processor",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 12}})),
        )
        .await?;

    let started = Instant::now();
    let mut low = f64::MAX;
    while started.elapsed() < Duration::from_secs(90) {
        if let Some(lag) = scalar(&prom, "sum(kafka_consumer_lag)").await? {
            peak = f64::max(peak, lag);
            low = low.min(lag);
            if lag < peak * 0.5 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(low < peak * 0.5, "lag should fall after scaling to 12: peak {peak}, lowest {low}");
    let members = scalar(&prom, "max(kafka_consumer_group_members)").await?.unwrap_or_default();
    assert_eq!(members, 12.0, "12 consumers after the scale-up");
    Ok(())
}
