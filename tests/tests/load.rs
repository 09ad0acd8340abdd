//! Load and soak: 500 concurrent clients send a mix of reads (version, Prometheus queries through
//! the proxy, Kubernetes views, the audit log) to the real `triage` binary for a while, and none
//! may fail. CI runs 10 s; `TRIAGE_LOAD_SECS=60` is the full load test and
//! `TRIAGE_LOAD_SECS=1800` the 30-minute soak, during which the backend's memory must stay flat
//! (sampled every 10 s; the second half may not grow past the first half's peak by more than
//! 16 MiB).
//!
//! `cargo test -p triage-tests --release --test load -- --nocapture` prints requests/s, p50 and p99.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use triage_sandbox::Incident;
use triage_tests::triage_process::TriageProcess;
use triage_tests::{Prometheus, TestSandbox};

const CLIENTS: usize = 500;

const MIX: [&str; 6] = [
    "/api/version",
    "/api/prom/query?query=up",
    "/api/prom/query?query=sum%20by%20(job)%20(rate(prometheus_http_requests_total%5B1m%5D))",
    "/api/k8s/namespaces/streaming-analytics/deployments",
    "/api/k8s/namespaces/streaming-analytics/pods?limit=50",
    "/api/audit?limit=20",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_of_mixed_reads_see_no_errors() -> Result<()> {
    let seconds: u64 = std::env::var("TRIAGE_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let prom = Prometheus::start(&[]).await?;
    let dir = tempfile::tempdir()?;
    let triage = TriageProcess::start(
        dir.path(),
        &format!(
            "[log]\nfilter = \"warn\"\n[kubernetes]\nkubeconfig = \"{}\"\nnamespaces = [\"streaming-analytics\"]\n\
             [prometheus]\nurl = \"{}\"\n[store]\nsqlite_path = \"{}\"\n",
            sb.kubeconfig.display(),
            prom.url,
            dir.path().join("triage.db").display()
        ),
        "triage.log",
    )
    .await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .timeout(Duration::from_secs(30))
        .build()?;
    let urls: Arc<Vec<String>> = Arc::new(MIX.iter().map(|p| triage.url(p)).collect());

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let http = http.clone();
        let urls = urls.clone();
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                let url = &urls[n % urls.len()];
                n += 1;
                let t = Instant::now();
                match http.get(url).send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(e) => errors.push(format!("{url}: body: {e}")),
                    },
                    Ok(r) => errors.push(format!("{url}: {}", r.status())),
                    Err(e) => errors.push(format!("{url}: {e}")),
                }
            }
            (latencies, errors)
        }));
    }

    let mut rss = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(seconds.min(10))).await;
        rss.push(triage.rss_kib()?);
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for c in clients {
        let (l, e) = c.await?;
        latencies.extend(l);
        errors.extend(e);
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    println!(
        "{CLIENTS} clients, {:.0} s: {} requests, {:.0} req/s, p50 {:?}, p99 {:?}, {} errors; RSS samples (KiB) {rss:?}",
        elapsed.as_secs_f64(),
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.iter().take(5).collect::<Vec<_>>()
    );
    assert!(latencies.len() >= CLIENTS, "every client completed requests");
    if rss.len() >= 6 {
        let half = rss.len() / 2;
        let first_peak = rss[..half].iter().copied().max().unwrap_or(0);
        let second_peak = rss[half..].iter().copied().max().unwrap_or(0);
        assert!(
            second_peak <= first_peak + 16 * 1024,
            "memory kept growing: first half peak {first_peak} KiB, second half peak {second_peak} KiB"
        );
    }
    let log = triage.child.log();
    assert!(!log.contains("panicked"), "the backend panicked:\n{log}");
    Ok(())
}
