//! The Postgres page in real headless Chromium against a real PostgreSQL 15: the slow unindexed
//! filter on top of the statements (sorting kept in the URL), the index advice naming
//! `events(event_type, timestamp)` with its DDL, idle-in-transaction sessions by application
//! against max_connections, tables, and the window diff after a snapshot taken from the page.
//! Saves screenshots under `target/test-output/`.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;
use fantoccini::Locator;
use fantoccini::elements::Element;
use triage::config::Settings;
use triage_tests::paths::require_frontend;
use triage_tests::pg_workload::{is_slow, play, seed};
use triage_tests::{Browser, Postgres, TestApp};

/// Retries `check` until it answers `Some`, for up to 20 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() > deadline {
            match last_error {
                Some(e) => return Err(e.context(format!("timed out waiting for {what}"))),
                None => bail!("timed out waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn all(browser: &Browser, css: &str) -> anyhow::Result<Vec<Element>> {
    Ok(browser.client.find_all(Locator::Css(css)).await?)
}

async fn attr(el: &Element, name: &str) -> anyhow::Result<String> {
    Ok(el.attr(name).await?.unwrap_or_default())
}

#[tokio::test]
async fn postgres_page_shows_the_slow_query_and_the_index_advice() -> anyhow::Result<()> {
    require_frontend()?;
    let pg = Postgres::start().await?;
    seed(&pg).await?;
    // HypoPG, so the advice is the planner's.
    pg.connect("postgres").await?.batch_execute("CREATE EXTENSION hypopg").await?;
    play(&pg, 30, 300).await?;
    // Three leaked sessions, idle in their transactions.
    let mut leaked = Vec::new();
    for _ in 0..3 {
        let conninfo = format!("{} application_name=leaky-worker", pg.conninfo("postgres"));
        let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute("BEGIN; SELECT 1").await?;
        leaked.push(client);
    }
    let app = TestApp::start_with(Settings {
        postgres: Some(pg.analysis_settings("postgres")),
        ..Settings::default()
    })
    .await?;
    let browser = Browser::start().await?;
    let result = views(&app, &pg, &browser).await;
    let _ = browser.screenshot("postgres-final").await;
    browser.close().await?;
    app.stop().await?;
    drop(leaked);
    result
}

async fn views(app: &TestApp, pg: &Postgres, browser: &Browser) -> anyhow::Result<()> {
    let client = &browser.client;
    client.goto(&app.url("/postgres")).await?;
    browser.wait_testid("page-postgres").await?;
    let target = browser.wait_testid("pg-target").await?.prop("value").await?;
    assert_eq!(target.as_deref(), Some("main"), "the first target is the default");

    // Statements: the slow filter is on top by total time, and by mean after a click on the header.
    browser.wait_testid("pg-statements").await?;
    let top = browser.wait_testid("pg-statement-query").await?.text().await?;
    assert!(is_slow(&top), "top by total: {top}");
    let first = all(browser, "[data-testid=pg-statement-row]").await?.remove(0);
    assert_eq!(attr(&first, "data-calls").await?, "30");
    let psql = browser.wait_testid("kubectl").await?.text().await?;
    assert!(psql.contains("pg_stat_statements ORDER BY total_exec_time DESC"), "{psql}");
    browser.screenshot("postgres-statements").await?;
    browser.wait_testid("pg-sort-mean").await?.click().await?;
    eventually("the order in the URL", || async {
        let url = client.current_url().await?;
        Ok(url.query().unwrap_or_default().contains("order=mean").then_some(()))
    })
    .await?;
    eventually("the slow query on top by mean", || async {
        let text = browser.wait_testid("kubectl").await?.text().await?;
        if !text.contains("mean_exec_time DESC") {
            return Ok(None);
        }
        let q = browser.wait_testid("pg-statement-query").await?.text().await?;
        Ok(is_slow(&q).then_some(()))
    })
    .await?;
    // Sorting by calls puts a lookup first; the copy button is a real button.
    browser.wait_testid("pg-sort-calls").await?.click().await?;
    eventually("a lookup on top by calls", || async {
        let q = browser.wait_testid("pg-statement-query").await?.text().await?;
        Ok((!is_slow(&q) && q.contains("events")).then_some(()))
    })
    .await?;
    assert!(browser.wait_testid("pg-copy-query").await?.is_enabled().await?);
    assert!(
        !browser.wait_testid("pg-reset-open").await?.is_enabled().await?,
        "a reader cannot reset the statistics"
    );

    // Index advice: the table and the filter's columns, with the DDL.
    browser.wait_testid("pg-tab-indexes").await?.click().await?;
    let advice = eventually("the missing-index advice", || async {
        for card in all(browser, "[data-testid=pg-advice]").await? {
            if attr(&card, "data-kind").await? == "missing index" {
                return Ok(Some(card));
            }
        }
        Ok(None)
    })
    .await?;
    assert_eq!(attr(&advice, "data-table").await?, "events");
    assert_eq!(attr(&advice, "data-columns").await?, "event_type,timestamp");
    let ddl = advice.find(Locator::Css("[data-testid=pg-ddl]")).await?.text().await?;
    assert_eq!(ddl, "CREATE INDEX CONCURRENTLY ON public.events (event_type, \"timestamp\");");
    let text = advice.text().await?.to_lowercase();
    assert!(
        text.contains("verified by the planner") && text.contains("rows read by them\n6,200,000"),
        "{text}"
    );
    assert_eq!(attr(&advice, "data-verified").await?, "true");
    // The planner's evidence: the statement, its cost without and with the index, the plan nodes.
    let row = advice.find(Locator::Css("[data-testid=pg-planner-row]")).await?.text().await?;
    assert!(
        row.contains("Seq Scan on events → ") && row.contains("using the suggested index on events"),
        "{row}"
    );
    let note = browser.wait_testid("pg-verification").await?;
    assert!(!attr(&note, "data-hypopg").await?.is_empty());
    assert!(note.text().await?.contains("Verified by the planner with HypoPG"));
    let url = client.current_url().await?;
    assert!(url.query().unwrap_or_default().contains("tab=indexes"), "{url}");
    browser.screenshot("postgres-index-advice").await?;

    // Connections: the bar against max_connections and the leaked sessions by application.
    browser.wait_testid("pg-tab-connections").await?.click().await?;
    let conns = browser.wait_testid("pg-connections").await?;
    assert_eq!(attr(&conns, "data-max").await?, "100");
    assert_eq!(attr(&conns, "data-idle-in-transaction").await?, "3");
    let text = conns.text().await?;
    assert!(text.contains("of 100 connections") && text.contains("3 reserved"), "{text}");
    let leaky = eventually("the leaky-worker row", || async {
        for row in all(browser, "[data-testid=pg-app-row]").await? {
            if attr(&row, "data-app").await? == "leaky-worker" {
                return Ok(Some(row));
            }
        }
        Ok(None)
    })
    .await?;
    assert_eq!(attr(&leaky, "data-state").await?, "idle in transaction");
    assert_eq!(attr(&leaky, "data-count").await?, "3");
    let sessions = all(browser, "[data-testid=pg-session-row][data-app=leaky-worker]").await?;
    assert_eq!(sessions.len(), 3);
    browser.screenshot("postgres-connections").await?;

    // Tables.
    browser.wait_testid("pg-tab-tables").await?.click().await?;
    browser.wait_testid("pg-tables").await?;
    let rows = all(browser, "[data-testid=pg-table-row][data-table=events]").await?;
    assert_eq!(rows.len(), 1);

    // Window diff: a snapshot from the page, a statement run after it, compared with now.
    browser.wait_testid("pg-tab-diff").await?.click().await?;
    browser.wait_testid("pg-take-snapshot").await?.click().await?;
    eventually("the snapshot listed", || async {
        let options = all(browser, "[data-testid=pg-diff-from] option").await?;
        Ok((!options.is_empty()).then_some(()))
    })
    .await?;
    let db = pg.connect("postgres").await?;
    for _ in 0..3 {
        db.query_one("SELECT count(*) FROM events WHERE payload ? $1", &[&"session_id"]).await?;
    }
    browser.wait_testid("refresh-button").await?.click().await?;
    eventually("the new statement first in the diff", || async {
        let rows = all(browser, "[data-testid=pg-diff-row]").await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let text = first.text().await?;
        Ok((text.contains("payload ? $1") && text.contains("new in window")).then_some(()))
    })
    .await?;
    browser.screenshot("postgres-diff").await?;
    Ok(())
}
