//! Triage keeps answering when its upstreams misbehave. The real `triage` binary runs as its own
//! process (so its memory and its log are its own) against the sandbox's Kubernetes API made to
//! answer 500, 429 or nothing at all, against a real Prometheus that is stopped and started again
//! on the same port, and against SSE clients that never read. For each fault: every request
//! answers within its timeout with a typed error, other routes keep working, nothing panics,
//! memory returns to its baseline, and service recovers by itself within 5 s.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;
use triage_sandbox::Incident;
use triage_sandbox::api::ApiFault;
use triage_shared::{ErrorBody, ErrorKind};
use triage_tests::triage_process::TriageProcess;
use triage_tests::{Prometheus, TestSandbox};

const PODS: &str = "/api/k8s/namespaces/streaming-analytics/pods";

/// GET `path`: (status, error kind if any, how long it took).
async fn probe(http: &reqwest::Client, url: &str) -> Result<(u16, Option<ErrorKind>, Duration)> {
    let started = Instant::now();
    let response = http.get(url).send().await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    let kind = serde_json::from_slice::<ErrorBody>(&body).ok().map(|b| b.error.kind);
    Ok((status, kind, started.elapsed()))
}

/// Polls `url` until it answers 200; returns how long that took.
async fn recovery_time(http: &reqwest::Client, url: &str, limit: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        if let Ok((200, _, _)) = probe(http, url).await {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(started.elapsed() < limit, "{url} did not recover within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_no_panic(triage: &TriageProcess) {
    let log = triage.child.log();
    assert!(!log.contains("panicked"), "the backend panicked:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_api_errors_and_hangs_are_typed_bounded_and_recovered_from() -> Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let prom = Prometheus::start(&[]).await?;
    let dir = tempfile::tempdir()?;
    let triage = TriageProcess::start(
        dir.path(),
        &format!(
            "[kubernetes]\nkubeconfig = \"{}\"\nnamespaces = [\"streaming-analytics\"]\ntimeout_secs = 2\n\
             [prometheus]\nurl = \"{}\"\n[store]\nsqlite_path = \"{}\"\n",
            sb.kubeconfig.display(),
            prom.url,
            dir.path().join("triage.db").display()
        ),
        "triage.log",
    )
    .await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let pods = triage.url(PODS);
    let other = triage.url("/api/prom/query?query=up");
    assert_eq!(probe(&http, &pods).await?.0, 200);
    // Warm up the paths under test, then take the memory baseline.
    for _ in 0..20 {
        probe(&http, &pods).await?;
        probe(&http, &other).await?;
    }
    let baseline = triage.rss_kib()?;

    for (fault, status, kind, bound) in [
        (ApiFault::Status(500), 502, ErrorKind::Upstream, Duration::from_secs(3)),
        (ApiFault::Status(429), 429, ErrorKind::RateLimited, Duration::from_secs(3)),
        // The Kubernetes read timeout is 2 s; the answer comes right after it.
        (ApiFault::Hang, 504, ErrorKind::Timeout, Duration::from_secs(5)),
    ] {
        sb.sandbox.api_faults.set(fault);
        // Several at once: a faulty upstream must not serialise or wedge the backend.
        let answers = futures::future::join_all((0..8).map(|_| probe(&http, &pods))).await;
        for answer in answers {
            let (got_status, got_kind, took) = answer?;
            assert_eq!((got_status, got_kind), (status, Some(kind)), "{fault:?}");
            assert!(took <= bound, "{fault:?}: answered after {took:?}");
        }
        // Prometheus routes are unaffected while Kubernetes misbehaves.
        let (s, _, took) = probe(&http, &other).await?;
        assert_eq!(s, 200, "{fault:?}: an unrelated route failed");
        assert!(took < Duration::from_secs(2));
        sb.sandbox.api_faults.set(ApiFault::None);
        let recovered = recovery_time(&http, &pods, Duration::from_secs(5)).await?;
        println!("{fault:?}: answered {status} in time, recovered in {recovered:?}");
    }

    // Hung requests were abandoned, not leaked: memory comes back to its baseline.
    for _ in 0..20 {
        probe(&http, &pods).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = triage.rss_kib()?;
    println!("RSS: baseline {baseline} KiB, after the faults {after} KiB");
    assert!(after <= baseline + 16 * 1024, "RSS grew from {baseline} KiB to {after} KiB");
    assert_no_panic(&triage);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stopped_and_started_again_is_recovered_from_without_a_restart() -> Result<()> {
    let mut prom = Prometheus::start(&[]).await?;
    let dir = tempfile::tempdir()?;
    let triage = TriageProcess::start(
        dir.path(),
        &format!(
            "[prometheus]\nurl = \"{}\"\ntimeout_secs = 3\n[store]\nsqlite_path = \"{}\"\n",
            prom.url,
            dir.path().join("triage.db").display()
        ),
        "triage.log",
    )
    .await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let query = triage.url("/api/prom/query?query=up");
    // Warm up with another query: Triage reuses an answer for a second (prometheus.cache_ttl_ms),
    // and this test is about what a query that has to reach Prometheus gets.
    assert_eq!(probe(&http, &triage.url("/api/prom/query?query=vector(1)")).await?.0, 200);

    prom.stop();
    let (status, kind, took) = probe(&http, &query).await?;
    assert_eq!((status, kind), (503, Some(ErrorKind::Unavailable)));
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
    // The rest of Triage is unaffected.
    assert_eq!(probe(&http, &triage.url("/api/version")).await?.0, 200);

    prom.restart().await?;
    let recovered = recovery_time(&http, &query, Duration::from_secs(5)).await?;
    println!("Prometheus back: Triage answered again after {recovered:?}");
    assert_no_panic(&triage);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_clients_that_never_read_do_not_hold_memory_or_block_others() -> Result<()> {
    let prom = Prometheus::start(&[]).await?;
    let dir = tempfile::tempdir()?;
    let triage = TriageProcess::start(
        dir.path(),
        &format!(
            // The stalled viewers stand for many people: one caller's stream limit is raised.
            "[prometheus]\nurl = \"{}\"\n[store]\nsqlite_path = \"{}\"\n[limits]\nmax_streams_per_caller = 1000\n",
            prom.url,
            dir.path().join("triage.db").display()
        ),
        "triage.log",
    )
    .await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let baseline = triage.rss_kib()?;
    // Two rounds: the allocator keeps what the first round needed, so the first round's "after"
    // is the real baseline; a leak shows as growth from round to round.
    let mut afters = Vec::new();
    for round in 1..=2 {
        let (during, after) = stalled_round(&triage, &http).await?;
        println!(
            "round {round}: RSS at start {baseline} KiB, 100 stalled viewers {during} KiB, after they left {after} KiB"
        );
        assert!(during <= baseline + 64 * 1024, "stalled viewers grew RSS from {baseline} to {during} KiB");
        afters.push(after);
    }
    assert!(
        afters[1] <= afters[0] + 8 * 1024,
        "memory grew from round to round: {} KiB after the first, {} KiB after the second",
        afters[0],
        afters[1]
    );
    assert_no_panic(&triage);
    Ok(())
}

/// 100 clients subscribe to a large live query (every series Prometheus has, once a second) and
/// never read a byte: their socket buffers fill and the server must stop writing to them rather
/// than queue updates without bound. Meanwhile others are served. Returns RSS (KiB) while they
/// are connected and after they left.
async fn stalled_round(triage: &TriageProcess, http: &reqwest::Client) -> Result<(u64, u64)> {
    let query = "/api/live?query=%7B__name__%3D~%22.%2B%22%7D&step=1&window=300&interval=1";
    let mut stalled = Vec::new();
    for _ in 0..100 {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", triage.port)).await?;
        let request = format!("GET {query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
        socket.write_all(request.as_bytes()).await?;
        stalled.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    let during = triage.rss_kib()?;

    let (status, _, took) = probe(http, &triage.url("/api/version")).await?;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "a normal request took {took:?}");
    let mut reader = triage_tests::SseReader::connect(http, &triage.url(query)).await?;
    let event = tokio::time::timeout(Duration::from_secs(10), reader.next()).await??.context("ended")?;
    assert_eq!(event.event, "update");

    drop(stalled);
    drop(reader);
    tokio::time::sleep(Duration::from_secs(4)).await;
    Ok((during, triage.rss_kib()?))
}
