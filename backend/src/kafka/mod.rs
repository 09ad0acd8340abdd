//! Kafka, read first-hand: the cluster's metadata, each broker probed directly, topics with
//! leaders, replicas and ISR, consumer groups with members, assignments and per-partition lag,
//! and the guarded offset reset.
//!
//! librdkafka (through `rdkafka`) is the client: it brings TLS and SASL and is the reference
//! implementation. Its calls block, so each runs on the blocking pool with the configured
//! timeout. What it does not expose is read with `kafka-protocol`'s codecs: member assignments
//! (raw bytes in DescribeGroups) are decoded as `ConsumerProtocolAssignment`, and the direct
//! per-broker probe (`ApiVersions`, what `kafka-broker-api-versions.sh` shows) is one request
//! on a connection of its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use secrecy::ExposeSecret;
use triage_shared::kafka::{ConnectionErrorKind, KafkaProblem};
use triage_shared::{ApiError, ErrorKind};

use crate::config::KafkaSettings;

pub mod groups;
pub mod offsets;
pub mod probe;
pub mod reset;
pub mod views;

/// The answer when `[kafka]` is not configured.
pub fn not_configured() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "Kafka is not configured: set `[kafka] bootstrap = \"host:9092\"` in triage.toml \
         (or TRIAGE__KAFKA__BOOTSTRAP)",
    )
}

/// Remembers the last error librdkafka reported in the background (a refused connection, a
/// failed handshake), so a timed-out call can say why instead of only "timed out".
#[derive(Default)]
pub struct Context {
    last_error: Mutex<Option<String>>,
}

impl Context {
    fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

impl ClientContext for Context {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!("librdkafka: {error}: {reason}");
        // "1/1 brokers are down" follows the broker's own reason; it does not replace it.
        let summary = error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown);
        if let Ok(mut last) = self.last_error.lock()
            && !(summary && last.is_some())
        {
            *last = Some(reason.to_owned());
        }
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => tracing::warn!("librdkafka {fac}: {message}"),
            _ => tracing::debug!("librdkafka {fac}: {message}"),
        }
        // A failed connection (refused, TLS handshake, SASL) is often only logged as `FAIL`
        // before the call times out, without an error callback.
        if fac == "FAIL"
            && let Ok(mut last) = self.last_error.lock()
        {
            *last = Some(message.to_owned());
        }
    }
}

impl ConsumerContext for Context {}

pub type Handle = BaseConsumer<Context>;

/// The configured cluster: a shared handle for metadata and group lists, and a factory of
/// per-group handles (committed offsets are read, and committed, as the group).
pub struct Kafka {
    settings: KafkaSettings,
    shared: Arc<Handle>,
    /// The direct probe's TLS client and SASL settings, read once from `[kafka]`.
    probe_security: probe::Security,
    /// Bounds the blocking calls in flight (each holds a pool thread until its timeout).
    permits: Arc<tokio::sync::Semaphore>,
}

impl Kafka {
    pub fn new(settings: &KafkaSettings) -> Result<Arc<Self>, ApiError> {
        let shared = Arc::new(handle(settings, None)?);
        let probe_security = probe::Security::from_settings(settings).map_err(|e| {
            ApiError::new(ErrorKind::Unavailable, format!("cannot set up the Kafka TLS client: {e}"))
        })?;
        let permits = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1) * 2));
        Ok(Arc::new(Self { settings: settings.clone(), shared, probe_security, permits }))
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }

    pub fn timeout(&self) -> Duration {
        self.settings.timeout()
    }

    /// Runs a blocking librdkafka call on the blocking pool, bounded by the permits.
    async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::new(ErrorKind::Unavailable, "Triage is shutting down"))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("a Kafka call failed to run: {e}")))?
    }

    /// The cluster's metadata (every topic, or one).
    async fn metadata(&self, topic: Option<String>) -> Result<Metadata, ApiError> {
        let handle = self.shared.clone();
        let timeout = self.timeout();
        let bootstrap = self.settings.bootstrap.clone();
        self.blocking(move || {
            let md = handle.fetch_metadata(topic.as_deref(), timeout).map_err(|e| {
                deliver_logs(&handle);
                api_error(&e, handle.context(), &format!("reading the metadata of {bootstrap}"))
            })?;
            Ok(Metadata::from(&md))
        })
        .await
    }

    /// The cluster's metadata, or why not as the kind it is (TLS, authentication, …): the
    /// cluster view shows it beside the brokers instead of failing.
    async fn metadata_or_problem(&self) -> Result<Metadata, KafkaProblem> {
        let handle = self.shared.clone();
        let timeout = self.timeout();
        let bootstrap = self.settings.bootstrap.clone();
        let answer = self
            .blocking(move || {
                Ok(handle.fetch_metadata(None, timeout).map(|md| Metadata::from(&md)).map_err(|e| {
                    deliver_logs(&handle);
                    let p = classify(&e, handle.context().last_error().as_deref());
                    KafkaProblem {
                        kind: p.kind,
                        message: format!("reading the metadata of {bootstrap}: {}", p.message),
                    }
                }))
            })
            .await;
        match answer {
            Ok(result) => result,
            Err(e) => Err(KafkaProblem { kind: ConnectionErrorKind::Other, message: e.message }),
        }
    }

    pub(crate) fn probe_security(&self) -> &probe::Security {
        &self.probe_security
    }

    /// A handle acting as `group` (it never subscribes, so it never joins the group).
    fn group_handle(&self, group: &str) -> Result<Handle, ApiError> {
        handle(&self.settings, Some(group))
    }
}

/// Most queued librdkafka events handled at once after a failed call.
const MAX_EVENTS_DELIVERED: usize = 256;

/// Hands librdkafka's queued log and error events to the [`Context`]: rust-rdkafka routes them
/// to the main queue, which nothing else polls here (the handles never consume), so a failed
/// call polls it to learn the broker's reason ("SSL handshake failed", "SASL authentication").
fn deliver_logs(handle: &Handle) {
    for _ in 0..MAX_EVENTS_DELIVERED {
        // Without a subscription no message can come; each call handles at most one event.
        let _ = handle.poll(Duration::ZERO);
    }
}

/// A librdkafka handle with the configured security and timeouts.
fn handle(settings: &KafkaSettings, group: Option<&str>) -> Result<Handle, ApiError> {
    let mut cfg = ClientConfig::new();
    let timeout_ms = (settings.timeout_secs * 1000).to_string();
    cfg.set("bootstrap.servers", &settings.bootstrap)
        .set("client.id", "triage")
        .set("socket.timeout.ms", &timeout_ms)
        .set("socket.connection.setup.timeout.ms", &timeout_ms)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("allow.auto.create.topics", "false")
        .set("topic.metadata.refresh.interval.ms", "10000")
        .set("reconnect.backoff.max.ms", "2000")
        .set("log_level", "4");
    if let Some(group) = group {
        cfg.set("group.id", group);
    }
    let protocol = match (settings.tls.is_some(), settings.sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    cfg.set("security.protocol", protocol);
    if let Some(tls) = &settings.tls {
        if let Some(ca) = &tls.ca_file {
            cfg.set("ssl.ca.location", ca.to_string_lossy());
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            cfg.set("ssl.certificate.location", cert.to_string_lossy())
                .set("ssl.key.location", key.to_string_lossy());
        }
    }
    if let Some(sasl) = &settings.sasl {
        cfg.set("sasl.mechanism", sasl.mechanism.as_str())
            .set("sasl.username", &sasl.username)
            .set("sasl.password", sasl.password.expose_secret());
    }
    cfg.create_with_context(Context::default())
        .map_err(|e| ApiError::new(ErrorKind::Unavailable, format!("cannot create the Kafka client: {e}")))
}

/// What an rdkafka error means, in words, and the kind it is.
pub fn classify(e: &KafkaError, last: Option<&str>) -> KafkaProblem {
    use RDKafkaErrorCode as C;
    let code = e.rdkafka_error_code();
    let kind = match code {
        Some(C::Resolve) => ConnectionErrorKind::Dns,
        Some(C::Authentication | C::SaslAuthenticationFailed) => ConnectionErrorKind::Authentication,
        Some(C::SSL) => ConnectionErrorKind::Tls,
        Some(C::OperationTimedOut | C::RequestTimedOut | C::MessageTimedOut) => ConnectionErrorKind::Timeout,
        Some(C::AllBrokersDown | C::BrokerTransportFailure) => ConnectionErrorKind::Refused,
        _ => ConnectionErrorKind::Other,
    };
    // librdkafka's background reason is more precise than the call's code ("Connection
    // refused", "SSL handshake failed", "SASL authentication error"). Its broker prefix
    // (`sasl_ssl://host:9093/bootstrap: `) is left out: the scheme alone says "sasl" and "ssl".
    let kind = match (kind, last.map(|l| without_broker_prefix(l).to_ascii_lowercase())) {
        (
            ConnectionErrorKind::Timeout | ConnectionErrorKind::Other | ConnectionErrorKind::Refused,
            Some(l),
        ) => {
            if l.contains("resolve") {
                ConnectionErrorKind::Dns
            } else if l.contains("sasl") || l.contains("authentication") {
                ConnectionErrorKind::Authentication
            } else if l.contains("ssl") || l.contains("tls") || l.contains("certificate") {
                ConnectionErrorKind::Tls
            } else if l.contains("refused") {
                ConnectionErrorKind::Refused
            } else {
                kind
            }
        }
        (kind, _) => kind,
    };
    let mut message = e.to_string();
    if let Some(last) = last {
        message = format!("{message} (last broker error: {last})");
    }
    KafkaProblem { kind, message }
}

/// librdkafka's reason without the `scheme://host:port/id: ` naming the broker it is about.
fn without_broker_prefix(reason: &str) -> &str {
    match reason.split_once("://") {
        Some((scheme, rest)) if !scheme.contains(' ') => rest.split_once(": ").map_or(reason, |(_, r)| r),
        _ => reason,
    }
}

/// An rdkafka error as the API's error, naming what was being done.
fn api_error(e: &KafkaError, context: &Context, doing: &str) -> ApiError {
    let problem = classify(e, context.last_error().as_deref());
    let kind = match problem.kind {
        ConnectionErrorKind::Timeout => ErrorKind::Timeout,
        _ => ErrorKind::Upstream,
    };
    ApiError::new(kind, format!("{doing}: {}", problem.message))
}

/// The metadata, copied out of librdkafka's borrowed structures.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub brokers: Vec<(i32, String, i32)>,
    pub topics: Vec<TopicMeta>,
}

#[derive(Debug, Clone)]
pub struct TopicMeta {
    pub name: String,
    pub error: Option<String>,
    pub partitions: Vec<PartitionMeta>,
}

#[derive(Debug, Clone)]
pub struct PartitionMeta {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub error: Option<String>,
}

impl From<&rdkafka::metadata::Metadata> for Metadata {
    fn from(md: &rdkafka::metadata::Metadata) -> Self {
        let brokers = md.brokers().iter().map(|b| (b.id(), b.host().to_owned(), b.port())).collect();
        let topics = md
            .topics()
            .iter()
            .map(|t| TopicMeta {
                name: t.name().to_owned(),
                error: t.error().map(|e| RDKafkaErrorCode::from(e).to_string()),
                partitions: t
                    .partitions()
                    .iter()
                    .map(|p| PartitionMeta {
                        id: p.id(),
                        leader: p.leader(),
                        replicas: p.replicas().to_vec(),
                        isr: p.isr().to_vec(),
                        error: p.error().map(|e| RDKafkaErrorCode::from(e).to_string()),
                    })
                    .collect(),
            })
            .collect();
        Self { brokers, topics }
    }
}

impl Metadata {
    /// Topics Triage shows: not the internal ones (`__consumer_offsets`, …).
    pub fn user_topics(&self) -> impl Iterator<Item = &TopicMeta> {
        self.topics.iter().filter(|t| !t.name.starts_with("__"))
    }

    pub fn broker_listed(&self, id: i32) -> bool {
        self.brokers.iter().any(|(b, _, _)| *b == id)
    }
}

/// Checks a topic or group name as Kafka would accept it (any printable text up to 249
/// characters for topics; groups are free text, but not empty and not absurdly long).
pub fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("{what} {name:?} is not a valid name (1 to 255 printable characters)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(last: &str) -> ConnectionErrorKind {
        let e = KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut);
        classify(&e, Some(last)).kind
    }

    #[test]
    fn the_broker_prefix_does_not_decide_the_kind() {
        // A TLS failure on a SASL_SSL listener is TLS, though the scheme says "sasl".
        let tls = "sasl_ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL \
                   routines::certificate verify failed (after 3ms in state SSL_HANDSHAKE)";
        assert_eq!(kind_of(tls), ConnectionErrorKind::Tls);
        let sasl = "sasl_ssl://127.0.0.1:9093/bootstrap: SASL authentication error: SASL SCRAM \
                    authentication failed: broker responded with unknown-user";
        assert_eq!(kind_of(sasl), ConnectionErrorKind::Authentication);
        let refused = "ssl://127.0.0.1:9093/bootstrap: Connect to ipv4#127.0.0.1:9093 failed: \
                       Connection refused (after 0ms in state CONNECT)";
        assert_eq!(kind_of(refused), ConnectionErrorKind::Refused);
        assert_eq!(without_broker_prefix("no prefix: here"), "no prefix: here");
    }
}
