//! The harness's real servers start, answer, and are stopped with their processes gone.

use triage_tests::{Postgres, Prometheus};

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

/// Polls an instant query until it has a sample; returns the sample's value.
async fn wait_for_sample(prom: &Prometheus, promql: &str) -> anyhow::Result<String> {
    for _ in 0..100 {
        let data = prom.query(promql).await?;
        if let Some(v) = data["result"][0]["value"][1].as_str() {
            return Ok(v.to_owned());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("no sample for {promql} after 10 s")
}

#[tokio::test]
async fn prometheus_scrapes_and_answers_queries() -> anyhow::Result<()> {
    // Port 1 on loopback has no listener: that target must be reported down.
    let prom = Prometheus::start(&[("dead", "127.0.0.1:1".to_owned())]).await?;
    assert_eq!(wait_for_sample(&prom, "up{job=\"prometheus\"}").await?, "1");
    assert_eq!(wait_for_sample(&prom, "up{job=\"dead\"}").await?, "0");
    let data = prom.query("vector(42)").await?;
    assert_eq!(data["result"][0]["value"][1], "42");

    let pid = prom.pid();
    drop(prom);
    assert!(!process_alive(pid), "prometheus {pid} still running after drop");
    Ok(())
}

#[tokio::test]
async fn postgres_has_pg_stat_statements() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    let client = pg.connect("postgres").await?;
    client.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await?;
    client
        .batch_execute("CREATE TABLE probe (id int); INSERT INTO probe SELECT generate_series(1, 100)")
        .await?;
    for _ in 0..5 {
        client.query("SELECT count(*) FROM probe WHERE id > $1", &[&10i32]).await?;
    }
    let row = client
        .query_one(
            "SELECT calls FROM pg_stat_statements WHERE query LIKE 'SELECT count(*) FROM probe WHERE id > $1'",
            &[],
        )
        .await?;
    let calls: i64 = row.get(0);
    assert_eq!(calls, 5);

    let pid = pg.pid();
    drop(client);
    drop(pg);
    assert!(!process_alive(pid), "postgres {pid} still running after drop");
    Ok(())
}
