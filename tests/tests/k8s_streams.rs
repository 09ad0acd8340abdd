//! Streams from the Kubernetes API through Triage: a rollout followed until it completes, and a
//! pod's logs followed as new lines are written.

use std::time::Duration;

use serde_json::json;
use triage_sandbox::Incident;
use triage_shared::k8s::{DeploymentSummary, RolloutState};
use triage_tests::sse::SseReader;
use triage_tests::{TestApp, TestSandbox};

const NS: &str = "/api/k8s/namespaces/streaming-analytics";

#[tokio::test]
async fn rollout_progress_streams_until_complete() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;
    let mut reader = SseReader::connect(
        &app.http,
        &app.url(&format!("{NS}/deployments/stream-processor/rollout?timeout_secs=60")),
    )
    .await?;
    // The first event is the current state: complete at 6.
    let first = tokio::time::timeout(Duration::from_secs(10), reader.next())
        .await??
        .ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(first.event, "rollout");
    let summary: DeploymentSummary = serde_json::from_str(&first.data)?;
    assert_eq!(summary.desired, 6);
    let next = tokio::time::timeout(Duration::from_secs(10), reader.next())
        .await??
        .ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(
        next.event, "done",
        "an already complete rollout is done at once, like kubectl rollout status"
    );

    // Restart, then follow the rollout the restart started.
    let (status, body) = app
        .post_json(&format!("{NS}/deployments/ml-inference/restart"), &json!({"confirm": "ml-inference"}))
        .await?;
    assert_eq!(status, 200, "{body}");
    let mut reader = SseReader::connect(
        &app.http,
        &app.url(&format!("{NS}/deployments/ml-inference/rollout?timeout_secs=60")),
    )
    .await?;
    let mut saw_progress = false;
    let mut done = None;
    while done.is_none() {
        let event = tokio::time::timeout(Duration::from_secs(60), reader.next())
            .await??
            .ok_or_else(|| anyhow::anyhow!("stream ended early"))?;
        match event.event.as_str() {
            "rollout" => {
                let s: DeploymentSummary = serde_json::from_str(&event.data)?;
                saw_progress |= matches!(s.rollout, RolloutState::Progressing(_));
            }
            "done" => done = Some(serde_json::from_str::<DeploymentSummary>(&event.data)?),
            other => anyhow::bail!("unexpected event {other}: {}", event.data),
        }
    }
    assert!(saw_progress, "intermediate progress was streamed");
    let done = done.ok_or_else(|| anyhow::anyhow!("no done"))?;
    assert_eq!((done.ready, done.updated, done.desired), (4, 4, 4));
    Ok(())
}

#[tokio::test]
async fn logs_follow_new_lines() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::KafkaConnection).await?;
    let app = TestApp::start_with_kubernetes(&sb.kubeconfig).await?;
    let pod = sb
        .kubectl(&["get", "pods", "-l", "app=stream-processor", "-o", "jsonpath={.items[0].metadata.name}"])
        .await?;
    let mut reader =
        SseReader::connect(&app.http, &app.url(&format!("{NS}/pods/{}/logs/follow?tail=5", pod.trim())))
            .await?;
    let mut lines = Vec::new();
    while lines.len() < 8 {
        let event = tokio::time::timeout(Duration::from_secs(20), reader.next())
            .await??
            .ok_or_else(|| anyhow::anyhow!("ended"))?;
        assert_eq!(event.event, "line", "{}", event.data);
        lines.push(serde_json::from_str::<String>(&event.data)?);
    }
    // Beyond the 5 tail lines, new ones arrived while we listened, in the incident's words.
    assert!(lines.len() >= 8);
    let mut more = 0;
    while !lines.iter().any(|l| l.contains("could not be established") || l.contains("SASL")) && more < 60 {
        let event = tokio::time::timeout(Duration::from_secs(20), reader.next())
            .await??
            .ok_or_else(|| anyhow::anyhow!("ended"))?;
        lines.push(serde_json::from_str::<String>(&event.data)?);
        more += 1;
    }
    assert!(lines.iter().any(|l| l.contains("could not be established") || l.contains("SASL")), "{lines:?}");
    Ok(())
}

#[tokio::test]
async fn followed_log_lines_with_control_characters_arrive_exactly() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = TestApp::start_with_kubernetes(&sb.kubeconfig).await?;
    let pod = sb
        .kubectl(&["get", "pods", "-l", "app=ml-inference", "-o", "jsonpath={.items[0].metadata.name}"])
        .await?;
    let pod = pod.trim().to_owned();
    let mut reader =
        SseReader::connect(&app.http, &app.url(&format!("{NS}/pods/{pod}/logs/follow?tail=1"))).await?;
    let first = tokio::time::timeout(Duration::from_secs(20), reader.next()).await??;
    assert!(first.is_some(), "the tail line arrives first");
    // A progress bar's carriage returns, a colour escape, a NUL and a lone `data:` lookalike.
    let hostile = "loading 10%\rloading 90%\r\x1b[32mdone\x1b[0m\0\rdata: forged\revent: end";
    sb.sandbox.world.lock().map_err(|_| anyhow::anyhow!("world lock"))?.log(&pod, hostile.to_owned());
    let mut seen = Vec::new();
    for _ in 0..50 {
        let event = tokio::time::timeout(Duration::from_secs(20), reader.next())
            .await??
            .ok_or_else(|| anyhow::anyhow!("ended"))?;
        assert_eq!(event.event, "line", "no forged event: {}", event.data);
        let line: String = serde_json::from_str(&event.data)?;
        if line == hostile {
            return Ok(());
        }
        seen.push(line);
    }
    anyhow::bail!("the line never arrived intact: {seen:?}")
}
