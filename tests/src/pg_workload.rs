//! A deterministic database workload for the PostgreSQL analysis tests: the sandbox's `events`
//! table (seeded with 200,000 rows, indexed on `user_id` only) and the slow filter on
//! `(timestamp, event_type)` that no index serves, next to cheap indexed lookups.

use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::Postgres;

/// Creates `pg_stat_statements` and the seeded `events` table, then resets the statistics.
pub const SEED: &str = "
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
    CREATE TABLE events (
        event_id   bigserial   PRIMARY KEY,
        event_type text        NOT NULL,
        user_id    bigint      NOT NULL,
        timestamp  timestamptz NOT NULL,
        payload    jsonb       NOT NULL DEFAULT '{}'
    );
    INSERT INTO events (event_type, user_id, timestamp)
    SELECT (ARRAY['page_view','click','purchase','signup','logout','search'])[1 + i % 6],
           1 + i % 5000, now() - (i % 172800) * interval '1 second'
    FROM generate_series(1, 200000) AS i;
    CREATE INDEX events_user_id_idx ON events (user_id);
    ANALYZE events;
    SELECT pg_stat_statements_reset();";

/// The slow statement: a sequential scan of `events` on every call.
pub const SLOW: &str = "SELECT count(*) AS events, count(DISTINCT user_id) AS users FROM events
                    WHERE timestamp > $1 AND event_type = $2";

pub async fn seed(pg: &Postgres) -> Result<()> {
    pg.connect("postgres").await?.batch_execute(SEED).await?;
    Ok(())
}

/// Plays the workload on its own connection and closes it, so PostgreSQL publishes the table
/// statistics at once: `slow` runs of the unindexed filter, `fast` primary-key and user lookups.
pub async fn play(pg: &Postgres, slow: usize, fast: usize) -> Result<()> {
    let client = pg.connect("postgres").await?;
    let since = SystemTime::now() - Duration::from_secs(24 * 3600);
    for i in 0..slow {
        let kind = ["click", "purchase", "search"][i % 3];
        client.query_one(SLOW, &[&since, &kind]).await?;
    }
    for i in 0..fast {
        let id = 1 + (i as i64 * 7919) % 200_000;
        client.query_opt("SELECT event_type, user_id FROM events WHERE event_id = $1", &[&id]).await?;
        client.query("SELECT event_id FROM events WHERE user_id = $1 LIMIT 5", &[&(id % 5000)]).await?;
    }
    Ok(())
}

/// Whether `query` is [`SLOW`] as `pg_stat_statements` shows it.
pub fn is_slow(query: &str) -> bool {
    let q = query.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    q.contains("from events") && q.contains("timestamp > $1") && q.contains("event_type = $2")
}
