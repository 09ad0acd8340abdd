//! The simulated platform's database traffic, run against a real PostgreSQL.
//!
//! This module owns the `events` table (its schema and seed data) and every connection the three
//! simulated services hold: `websocket-server` writes events, `stream-processor` and `ml-inference`
//! read them. Each connection carries its service's `application_name`, so Triage can attribute it
//! in `pg_stat_activity`. Two incidents are played out in the database itself:
//!
//! - `slow-queries`: the stream processor keeps asking for recent events of one type, a filter on
//!   `(timestamp, event_type)` that no index covers, so every call scans the whole table;
//! - `pool-exhaustion`: the stream processor leaks connections that sit `idle in transaction`.
//!
//! Everything else is a steady, cheap baseline. All values are bound as parameters.

use std::future::Future;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use futures::future::join_all;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};
use tracing::{debug, info, warn};

use crate::incident::Incident;

/// Connections the stream processor leaks during `pool-exhaustion` (PostgreSQL allows 100 by default).
pub const POOL_EXHAUSTION_CONNECTIONS: usize = 60;
/// Rows `prepare` seeds into an empty `events` table.
pub const SEED_ROWS: i64 = 200_000;
/// Distinct users in the seed data and in the live traffic.
const USERS: i64 = 5_000;
/// The seed spreads events over this many hours before now.
const SEED_HOURS: i64 = 48;
/// Ordered from most to least frequent: the seed skews towards the front of the list.
const EVENT_TYPES: [&str; 12] = [
    "page_view",
    "click",
    "scroll",
    "search",
    "session_start",
    "session_end",
    "add_to_cart",
    "video_play",
    "login",
    "purchase",
    "share",
    "error",
];
const SOURCES: [&str; 3] = ["web", "ios", "android"];

/// Upper bound of the reconnect back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Used when the connection string sets no `connect_timeout`: a black-holed host must not stall a service.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the leaked-connection holder re-checks its connections while nothing changes.
const LEAK_RECHECK: Duration = Duration::from_secs(2);
/// Arbitrary key for the advisory lock that serialises concurrent `prepare` calls.
const PREPARE_LOCK_KEY: i64 = 0x7472_6961_6765; // "triage"

const CREATE_SCHEMA: &str = "
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
    CREATE TABLE IF NOT EXISTS events (
        event_id   bigserial   PRIMARY KEY,
        event_type text        NOT NULL,
        user_id    bigint      NOT NULL,
        timestamp  timestamptz NOT NULL,
        payload    jsonb       NOT NULL DEFAULT '{}'
    );";

/// One statement for the whole seed: generating rows server-side is far faster than sending them.
/// `power(random(), 2)` skews the event types so that `page_view` dominates, as on a real site.
const SEED_EVENTS: &str = "
    INSERT INTO events (event_type, user_id, timestamp, payload)
    SELECT types.t[1 + floor(power(random(), 2) * cardinality(types.t))::int],
           1 + floor(random() * $3::bigint)::bigint,
           now() - random() * make_interval(hours => $4::int),
           jsonb_build_object(
               'session_id', md5(i::text),
               'source', (ARRAY['web', 'ios', 'android'])[1 + i % 3],
               'duration_ms', floor(random() * 5000)::int)
    FROM generate_series(1, $1::bigint) AS i,
         (SELECT $2::text[] AS t) AS types";

// Why there is an index on `user_id` only: the missing `(timestamp, event_type)` index is the
// `slow-queries` incident, and Triage's index advice is expected to find it.
const CREATE_INDEXES: &str = "CREATE INDEX IF NOT EXISTS events_user_id_idx ON events (user_id)";

const INSERT_EVENT: &str = "
    INSERT INTO events (event_type, user_id, timestamp, payload)
    VALUES ($1, $2, $3, $4::text::jsonb)
    RETURNING event_id";
const EVENT_BY_ID: &str = "SELECT event_type, user_id, timestamp, payload FROM events WHERE event_id = $1";
const RECENT_EVENTS_OF_USER: &str = "
    SELECT event_id, event_type, timestamp FROM events
    WHERE user_id = $1 ORDER BY timestamp DESC LIMIT 20";
const USER_FEATURES: &str = "SELECT event_type, count(*) FROM events WHERE user_id = $1 GROUP BY event_type";
/// The `slow-queries` statement: no index serves this filter, so it is a sequential scan.
const RECENT_EVENTS_OF_TYPE: &str = "
    SELECT count(*) AS events, count(DISTINCT user_id) AS users FROM events
    WHERE timestamp > $1 AND event_type = $2";

/// Creates the pg_stat_statements extension and the `events` table if missing, and seeds the table
/// when it is empty. Idempotent, and safe to call concurrently.
pub async fn prepare(conninfo: &str) -> Result<()> {
    let mut config = base_config(conninfo)?;
    config.application_name("triage-sandbox-setup");
    let (mut client, connection) = config.connect(NoTls).await.context("cannot connect to PostgreSQL")?;
    let connection = tokio::spawn(connection);

    // The seed and the index build are set-up, not platform traffic: keep them out of
    // pg_stat_statements so they do not outrank the statements Triage is meant to look at.
    // Only a superuser may change this setting; without it the seed is merely visible.
    if let Err(e) = client.batch_execute("SET pg_stat_statements.track = 'none'").await {
        debug!(error = %e, "cannot hide the seed from pg_stat_statements");
    }

    let tx = client.transaction().await?;
    // Two sandboxes starting against one database would otherwise race on CREATE TABLE and both seed.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PREPARE_LOCK_KEY]).await?;
    tx.batch_execute(CREATE_SCHEMA).await.context("cannot create the events table")?;
    let empty: bool = tx.query_one("SELECT NOT EXISTS (SELECT 1 FROM events)", &[]).await?.get(0);
    if empty {
        let hours = i32::try_from(SEED_HOURS)?;
        tx.execute(SEED_EVENTS, &[&SEED_ROWS, &EVENT_TYPES.as_slice(), &USERS, &hours])
            .await
            .context("cannot seed the events table")?;
    }
    tx.batch_execute(CREATE_INDEXES).await?;
    // Hypothetical indexes, so Triage's index advice is checked by the planner; a server without
    // the package still runs the workload (behind a savepoint, the failure leaves the rest).
    tx.batch_execute("SAVEPOINT hypopg").await?;
    if let Err(e) = tx.batch_execute("CREATE EXTENSION IF NOT EXISTS hypopg").await {
        tracing::info!("HypoPG is not available ({e}); index advice stays the parser's");
        tx.batch_execute("ROLLBACK TO SAVEPOINT hypopg").await?;
    }
    if empty {
        // Fresh statistics, so the planner's choices (and Triage's EXPLAINs) match the data at once.
        tx.batch_execute("ANALYZE events").await?;
    }
    tx.commit().await?;

    drop(client);
    connection.await??;
    if empty {
        info!(rows = SEED_ROWS, "seeded the events table");
    }
    Ok(())
}

/// Runs the platform's database traffic until `shutdown` resolves. Changes of `incident` take
/// effect within about a second. Lost connections are logged and re-established; they never end
/// the workload.
pub async fn run(
    conninfo: String,
    incident: watch::Receiver<Incident>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let config = base_config(&conninfo)?;
    let mut tasks = JoinSet::new();
    for service in Service::ALL {
        tasks.spawn(serve(config.clone(), service, incident.clone()));
    }
    tasks.spawn(leak_connections(config, incident));
    info!("PostgreSQL workload running");

    // The tasks loop forever, so one ending means it panicked: report it, keep the others going.
    let supervise = async {
        while let Some(ended) = tasks.join_next().await {
            if let Err(e) = ended {
                warn!(error = %e, "a PostgreSQL workload task ended unexpectedly");
            }
        }
    };
    tokio::select! {
        () = shutdown => {}
        () = supervise => bail!("every PostgreSQL workload task ended before shutdown"),
    }
    // Aborting drops the clients; PostgreSQL then rolls back whatever they had open.
    tasks.shutdown().await;
    info!("PostgreSQL workload stopped");
    Ok(())
}

/// The simulated services that talk to the database, named as in `pg_stat_activity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    WebsocketServer,
    StreamProcessor,
    MlInference,
}

impl Service {
    const ALL: [Service; 3] = [Self::WebsocketServer, Self::StreamProcessor, Self::MlInference];

    const fn name(self) -> &'static str {
        match self {
            Self::WebsocketServer => "websocket-server",
            Self::StreamProcessor => "stream-processor",
            Self::MlInference => "ml-inference",
        }
    }
}

/// Parses the connection string once, so that a malformed one fails `run` instead of retrying forever.
fn base_config(conninfo: &str) -> Result<Config> {
    let mut config: Config = conninfo.parse().context("invalid PostgreSQL connection string")?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config)
}

/// Connects as `service` and drives the connection on its own task; it ends when the client is dropped.
async fn connect(config: &Config, service: Service) -> Result<Client, tokio_postgres::Error> {
    let mut config = config.clone();
    config.application_name(service.name());
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(service = service.name(), error = %e, "PostgreSQL connection closed with an error");
        }
    });
    Ok(client)
}

/// Doubling delay between reconnect attempts, capped at `MAX_BACKOFF`.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(FIRST_BACKOFF)
    }

    fn reset(&mut self) {
        self.0 = FIRST_BACKOFF;
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
    }
}

/// True when `err` means the session is gone (server restarted, backend terminated, network).
fn connection_lost(client: &Client, err: &tokio_postgres::Error) -> bool {
    client.is_closed()
        || err.is_closed()
        || err.code().is_some_and(|c| {
            let code = c.code();
            // Class 08: connection exception; 57P0x: admin/crash shutdown, cannot connect now.
            code.starts_with("08") || code.starts_with("57P")
        })
}

/// One service's steady traffic on one connection, reconnecting with back-off whenever it is lost.
async fn serve(config: Config, service: Service, incident: watch::Receiver<Incident>) {
    let mut rng = SmallRng::from_os_rng();
    let mut backoff = Backoff::new();
    loop {
        let client = match connect(&config, service).await {
            Ok(client) => client,
            Err(e) => {
                warn!(service = service.name(), error = %e, "cannot connect to PostgreSQL; retrying");
                backoff.wait().await;
                continue;
            }
        };
        debug!(service = service.name(), "connected to PostgreSQL");
        backoff.reset();
        loop {
            // Read the incident afresh each step; never hold the watch guard across an await.
            let current = *incident.borrow();
            match step(&client, service, current, &mut rng).await {
                Ok(pause) => tokio::time::sleep(pause).await,
                Err(e) if connection_lost(&client, &e) => {
                    warn!(service = service.name(), error = %e, "lost the PostgreSQL connection; reconnecting");
                    break;
                }
                Err(e) => {
                    warn!(service = service.name(), error = %e, "PostgreSQL query failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        backoff.wait().await;
    }
}

/// Runs one round of `service`'s queries and returns how long to pause before the next.
async fn step(
    client: &Client,
    service: Service,
    incident: Incident,
    rng: &mut SmallRng,
) -> Result<Duration, tokio_postgres::Error> {
    let user: i64 = rng.random_range(1..=USERS);
    match service {
        Service::WebsocketServer => {
            // Messages arriving from browsers; during `error-rate` some of them are garbled.
            let garbled = incident == Incident::ErrorRate && rng.random_bool(0.3);
            let event_type = EVENT_TYPES[rng.random_range(0..EVENT_TYPES.len())];
            let mut payload = serde_json::json!({
                "session_id": format!("{:016x}", rng.random::<u64>()),
                "source": SOURCES[rng.random_range(0..SOURCES.len())],
                "duration_ms": rng.random_range(0..5000),
            })
            .to_string();
            if garbled {
                payload.truncate(payload.len() / 2);
            }
            let inserted =
                client.query_one(INSERT_EVENT, &[&event_type, &user, &SystemTime::now(), &payload]).await;
            match inserted {
                Ok(row) => {
                    let id: i64 = row.get(0);
                    client.query_opt(EVENT_BY_ID, &[&id]).await?;
                }
                // The rejection is the point of the incident, not a fault of the workload.
                Err(e) if garbled && e.code() == Some(&SqlState::INVALID_TEXT_REPRESENTATION) => {
                    debug!(error = %e, "garbled event rejected");
                }
                Err(e) => return Err(e),
            }
            Ok(jitter(rng, 200, 400))
        }
        Service::StreamProcessor => {
            client.query(RECENT_EVENTS_OF_USER, &[&user]).await?;
            if incident == Incident::SlowQueries {
                let hours_back = rng.random_range(1..=SEED_HOURS as u64);
                let since = SystemTime::now() - Duration::from_secs(hours_back * 3600);
                let event_type = EVENT_TYPES[rng.random_range(0..EVENT_TYPES.len())];
                client.query_one(RECENT_EVENTS_OF_TYPE, &[&since, &event_type]).await?;
                // A hot loop: this query dominates the database's time within seconds.
                return Ok(jitter(rng, 50, 100));
            }
            Ok(jitter(rng, 250, 450))
        }
        Service::MlInference => {
            client.query(USER_FEATURES, &[&user]).await?;
            let id: i64 = rng.random_range(1..=SEED_ROWS);
            client.query_opt(EVENT_BY_ID, &[&id]).await?;
            Ok(jitter(rng, 250, 450))
        }
    }
}

fn jitter(rng: &mut SmallRng, min_ms: u64, max_ms: u64) -> Duration {
    Duration::from_millis(rng.random_range(min_ms..=max_ms))
}

/// The `pool-exhaustion` leak: while the incident lasts, the stream processor holds
/// `POOL_EXHAUSTION_CONNECTIONS` extra connections, each stuck `idle in transaction`; when it ends
/// they are rolled back and closed. Connections lost meanwhile are replaced.
async fn leak_connections(config: Config, mut incident: watch::Receiver<Incident>) {
    let mut held: Vec<Client> = Vec::new();
    loop {
        let current = *incident.borrow_and_update();
        if current == Incident::PoolExhaustion {
            held.retain(|c| !c.is_closed());
            let missing = POOL_EXHAUSTION_CONNECTIONS.saturating_sub(held.len());
            if missing > 0 {
                let opened = join_all((0..missing).map(|_| open_idle_transaction(&config))).await;
                let mut failures = 0;
                let mut last_error = None;
                for result in opened {
                    match result {
                        Ok(client) => held.push(client),
                        Err(e) => {
                            failures += 1;
                            last_error = Some(e);
                        }
                    }
                }
                if let Some(e) = last_error {
                    warn!(failures, held = held.len(), error = %e, "cannot open every leaked connection; retrying");
                }
            }
        } else if !held.is_empty() {
            let released = held.len();
            // A failed ROLLBACK is harmless: closing the connection rolls back as well.
            join_all(held.iter().map(|c| c.batch_execute("ROLLBACK"))).await;
            held.clear();
            debug!(released, "released the leaked connections");
        }

        // Wake on an incident change, or periodically to replace leaked connections that died.
        let changed = async {
            if incident.changed().await.is_err() {
                // The sender is gone: the incident can no longer change.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep(LEAK_RECHECK) => {}
        }
    }
}

/// Opens a stream-processor connection, starts a transaction, reads once, and leaves it open.
async fn open_idle_transaction(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let client = connect(config, Service::StreamProcessor).await?;
    client.batch_execute("BEGIN").await?;
    let user: i64 = rand::rng().random_range(1..=USERS);
    client.query(RECENT_EVENTS_OF_USER, &[&user]).await?;
    Ok(client)
}
