//! Typed configuration: a TOML file, then `TRIAGE__SECTION__KEY` environment overrides.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default), every error names
//! the key it is about, and secrets are [`SecretString`]s so they never reach a log or a `Debug`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// Prefix of environment overrides; `__` separates the path: `TRIAGE__SERVER__LISTEN=0.0.0.0:8080`.
pub const ENV_PREFIX: &str = "TRIAGE__";

/// The whole configuration tree.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub prometheus: Option<PrometheusSettings>,
    pub kubernetes: Option<KubernetesSettings>,
    pub store: StoreSettings,
    pub postgres: Option<PostgresSettings>,
    pub kafka: Option<KafkaSettings>,
    pub runbooks: RunbookSettings,
    pub limits: LimitSettings,
    /// `[[environments]]`: several clusters, each with its own upstreams, access and protection.
    /// Without it the top-level `[prometheus]`, `[kubernetes]`, `[postgres]` and `[kafka]` are
    /// one environment named `default`.
    pub environments: Vec<EnvironmentSettings>,
    pub alerts: AlertSettings,
}

/// `[alerts]`: how an alert says which environment it fired in.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// The alert label whose value names the environment (e.g. `cluster`); its values are the
    /// environments' names or their `alert_values`.
    pub environment_label: Option<String>,
}

/// One `[[environments]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSettings {
    /// Short name used in URLs (`env=`): a DNS label, e.g. `prod-eu`.
    pub name: String,
    /// Display colour of the picker and of the production banner, `#rrggbb`.
    #[serde(default = "default_colour")]
    pub colour: String,
    /// `standard`, `production` or `approval`.
    #[serde(default)]
    pub protection: triage_shared::env::Protection,
    /// Under `approval`: seconds a requested action waits for a second operator.
    #[serde(default = "default_approval_ttl")]
    pub approval_ttl_secs: u64,
    /// Values of `[alerts] environment_label` meaning this environment besides its name.
    #[serde(default)]
    pub alert_values: Vec<String>,
    /// Who may read, act and administer here; without it the `[auth]` roles apply.
    pub access: Option<AccessSettings>,
    pub prometheus: Option<PrometheusSettings>,
    pub kubernetes: Option<KubernetesSettings>,
    pub postgres: Option<PostgresSettings>,
    pub kafka: Option<KafkaSettings>,
}

fn default_colour() -> String {
    "#4c6ef5".to_owned()
}

fn default_approval_ttl() -> u64 {
    900
}

/// `[environments.access]`: the roles single sign-on groups have in one environment.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSettings {
    /// Groups whose members may read here; empty: everyone who may sign in to Triage.
    pub reader_groups: Vec<String>,
    /// Groups whose members may act here; nobody else may, whatever their `[auth]` role.
    pub operator_groups: Vec<String>,
    /// Groups whose members may also administer here.
    pub admin_groups: Vec<String>,
    /// In no-auth mode, the local user's role here instead of `auth.local_role`.
    pub local_role: Option<triage_shared::actions::Role>,
}

/// Bounds on what callers can hold open or start at once; beyond them Triage answers 429 with
/// `Retry-After` (see RELIABILITY.md). "Per caller" is per signed-in user (`local` without SSO).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Server-sent event streams open at once (live charts, log follows, rollouts, run events).
    pub max_streams: usize,
    pub max_streams_per_caller: usize,
    /// Distinct live queries polled at once.
    pub max_live_queries: usize,
    pub max_live_queries_per_caller: usize,
    /// Runbook runs whose checks are still running.
    pub max_concurrent_runs: usize,
    pub max_concurrent_runs_per_caller: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_streams: 2000,
            max_streams_per_caller: 64,
            max_live_queries: 500,
            max_live_queries_per_caller: 40,
            max_concurrent_runs: 32,
            max_concurrent_runs_per_caller: 8,
        }
    }
}

/// The runbook engine: where the flows are read from and how their checks run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunbookSettings {
    /// Folder of `*.yaml` runbooks, loaded at start and on reload (SIGHUP or the admin endpoint).
    pub dir: PathBuf,
    /// Upper bound of each check of a run, in seconds; a check that takes longer is `error`.
    pub check_timeout_secs: u64,
    /// Runs kept in memory (finished runs are also kept in the store).
    pub max_runs: usize,
    /// Finished runs kept in the store: the newest this many...
    pub max_stored_runs: u32,
    /// ...and none older than this many days.
    pub stored_run_retention_days: u32,
    /// Base URLs that `http-health` checks name as `{{url:NAME}}`, e.g. `health`. Only these
    /// hosts are ever probed by a runbook.
    pub urls: std::collections::BTreeMap<String, Url>,
}

impl Default for RunbookSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("runbooks"),
            check_timeout_secs: 15,
            max_runs: 200,
            max_stored_runs: 10_000,
            stored_run_retention_days: 90,
            urls: std::collections::BTreeMap::new(),
        }
    }
}

impl RunbookSettings {
    pub fn check_timeout(&self) -> Duration {
        Duration::from_secs(self.check_timeout_secs.max(1))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// SQLite file for the audit log (used unless `postgres_url` is set).
    pub sqlite_path: PathBuf,
    /// PostgreSQL connection string, for several replicas sharing one store. Secret.
    pub postgres_url: Option<SecretString>,
    /// Most connections each replica holds to the PostgreSQL store.
    pub postgres_pool_size: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self { sqlite_path: PathBuf::from("triage.db"), postgres_url: None, postgres_pool_size: 4 }
    }
}

/// `[postgres]`: the databases Triage analyses (never the store). Each analysis query runs in
/// a `READ ONLY` transaction with `statement_timeout`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSettings {
    /// `[[postgres.targets]]`; the first is the default.
    pub targets: Vec<PostgresTarget>,
    /// `statement_timeout` of every analysis query, in milliseconds.
    #[serde(default = "default_pg_statement_timeout")]
    pub statement_timeout_ms: u64,
    /// Time allowed to open a connection, in seconds.
    #[serde(default = "default_pg_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Most connections Triage holds to each target.
    #[serde(default = "default_pg_pool_size")]
    pub pool_size: usize,
    /// Seconds between automatic `pg_stat_statements` snapshots; 0 turns them off.
    #[serde(default = "default_pg_snapshot_interval")]
    pub snapshot_interval_secs: u64,
    /// Automatic snapshots older than this are deleted (on-demand ones are kept).
    #[serde(default = "default_pg_snapshot_retention")]
    pub snapshot_retention_hours: u64,
    /// On-demand snapshots (any reader may take one) kept per target: the newest this many...
    #[serde(default = "default_pg_max_manual_snapshots")]
    pub max_manual_snapshots: u32,
    /// ...and none older than this many days.
    #[serde(default = "default_pg_manual_snapshot_days")]
    pub manual_snapshot_retention_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresTarget {
    /// Short name shown in the console and used in URLs: letters, digits, `-` and `_`.
    pub name: String,
    /// libpq connection string or `postgres://` URL, with the password. Secret.
    pub url: SecretString,
}

/// `[kafka]`: the cluster Triage reads first-hand (brokers, topics, consumer groups). Read-only
/// unless `allow_offset_reset` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// Bootstrap servers, `host:port` separated by commas.
    pub bootstrap: String,
    /// Timeout of each Kafka request (and of each broker probe), in seconds.
    #[serde(default = "default_kafka_timeout")]
    pub timeout_secs: u64,
    /// Allow operators the guarded offset reset of consumer groups without active members.
    #[serde(default)]
    pub allow_offset_reset: bool,
    /// Most consumer groups listed (by name); more are reported as truncated.
    #[serde(default = "default_kafka_max_groups")]
    pub max_groups: usize,
    /// Most partitions (over every topic) read for one answer.
    #[serde(default = "default_kafka_max_partitions")]
    pub max_partitions: usize,
    /// Groups whose offsets are read at once when listing groups.
    #[serde(default = "default_kafka_concurrency")]
    pub concurrency: usize,
    pub tls: Option<KafkaTls>,
    pub sasl: Option<KafkaSasl>,
}

/// `[kafka.tls]`: connect with TLS, verifying the brokers against `ca_file` (or the system's
/// roots) and presenting a client certificate when both `cert_file` and `key_file` are set.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KafkaTls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// `[kafka.sasl]`: authenticate with a user name and password (secret).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: SecretString,
}

fn default_kafka_timeout() -> u64 {
    5
}

fn default_kafka_max_groups() -> usize {
    2_000
}

fn default_kafka_max_partitions() -> usize {
    10_000
}

fn default_kafka_concurrency() -> usize {
    8
}

impl KafkaSettings {
    /// The bootstrap servers, each `host:port`.
    pub fn servers(&self) -> Vec<String> {
        self.bootstrap.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid { key: key.to_owned(), message };
        let servers = self.servers();
        if servers.is_empty() {
            return Err(invalid("kafka.bootstrap", "list at least one `host:port`".to_owned()));
        }
        for s in &servers {
            let port = s.rsplit_once(':').and_then(|(host, port)| (!host.is_empty()).then_some(port));
            if port.and_then(|p| p.parse::<u16>().ok()).is_none_or(|p| p == 0) {
                return Err(invalid("kafka.bootstrap", format!("{s:?} is not `host:port`")));
            }
        }
        if !(1..=120).contains(&self.timeout_secs) {
            return Err(invalid("kafka.timeout_secs", "must be between 1 and 120".to_owned()));
        }
        if !(1..=100_000).contains(&self.max_groups) {
            return Err(invalid("kafka.max_groups", "must be between 1 and 100000".to_owned()));
        }
        if !(1..=1_000_000).contains(&self.max_partitions) {
            return Err(invalid("kafka.max_partitions", "must be between 1 and 1000000".to_owned()));
        }
        if !(1..=64).contains(&self.concurrency) {
            return Err(invalid("kafka.concurrency", "must be between 1 and 64".to_owned()));
        }
        if let Some(tls) = &self.tls {
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                return Err(invalid("kafka.tls", "set both cert_file and key_file, or neither".to_owned()));
            }
            for (key, path) in
                [("ca_file", &tls.ca_file), ("cert_file", &tls.cert_file), ("key_file", &tls.key_file)]
            {
                if let Some(path) = path
                    && !path.is_file()
                {
                    return Err(invalid(
                        &format!("kafka.tls.{key}"),
                        format!("{} is not a file", path.display()),
                    ));
                }
            }
        }
        if let Some(sasl) = &self.sasl
            && sasl.username.is_empty()
        {
            return Err(invalid("kafka.sasl.username", "must not be empty".to_owned()));
        }
        Ok(())
    }
}

fn default_pg_statement_timeout() -> u64 {
    5_000
}

fn default_pg_connect_timeout() -> u64 {
    5
}

fn default_pg_pool_size() -> usize {
    4
}

fn default_pg_snapshot_interval() -> u64 {
    300
}

fn default_pg_snapshot_retention() -> u64 {
    72
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Kubeconfig file; without it the client is inferred (in-cluster, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of the current one.
    pub context: Option<String>,
    /// Namespaces Triage may read and act in; any other is refused before a request is made.
    #[serde(default = "default_namespaces")]
    pub namespaces: Vec<String>,
    /// Read timeout of each Kubernetes request, in seconds.
    #[serde(default = "default_k8s_timeout")]
    pub timeout_secs: u64,
    /// Also list the names of the Secrets in a namespace (metadata only), to tell whether the
    /// Secrets a deployment references exist. Off by default: it needs `list` on `secrets`,
    /// which in Kubernetes RBAC also grants reading their values.
    #[serde(default)]
    pub list_secret_names: bool,
    /// Also tell whether the keys a deployment references exist in their Secrets. Off by
    /// default: it needs `get` on `secrets`, and a Secret arrives with its values, which Triage
    /// drops on arrival, keeping only the key names (never logged, stored or sent).
    #[serde(default)]
    pub check_secret_keys: bool,
    /// Most bytes read of one pod's log (besides the line count), so a pod writing megabyte
    /// lines cannot fill Triage's memory.
    #[serde(default = "default_max_log_bytes")]
    pub max_log_bytes: i64,
}

fn default_max_log_bytes() -> i64 {
    4 << 20
}

fn default_pg_max_manual_snapshots() -> u32 {
    100
}

fn default_pg_manual_snapshot_days() -> u32 {
    30
}

fn default_namespaces() -> Vec<String> {
    vec!["default".to_owned()]
}

fn default_k8s_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address the console listens on.
    pub listen: SocketAddr,
    /// Upper bound for any non-streaming request, in seconds.
    pub request_timeout_secs: u64,
    /// Seconds to let in-flight requests finish after SIGTERM.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_secs: 30,
            shutdown_grace_secs: 10,
        }
    }
}

impl ServerSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing` filter directive; `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::Human, filter: "info,tower_http=info".to_owned() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthModeSetting {
    /// No login; only allowed when listening on loopback (the local demo).
    #[default]
    None,
    /// OpenID Connect single sign-on.
    Oidc,
}

/// `[auth]`: no login (the loopback-only local user) or single sign-on. Read through
/// [`RawAuthSettings`], so a value of this type has every key its mode needs, each one valid.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawAuthSettings")]
pub enum AuthSettings {
    /// No login; every caller is the local user.
    Local {
        /// Role of every caller: `reader`, `operator` or `admin`.
        local_role: triage_shared::actions::Role,
    },
    /// OpenID Connect single sign-on with cookie sessions.
    Oidc(Box<SsoSettings>),
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self::Local { local_role: triage_shared::actions::Role::Reader }
    }
}

impl AuthSettings {
    pub fn mode(&self) -> AuthModeSetting {
        match self {
            Self::Local { .. } => AuthModeSetting::None,
            Self::Oidc(_) => AuthModeSetting::Oidc,
        }
    }

    /// The single sign-on settings, when that is the mode.
    pub fn sso(&self) -> Option<&SsoSettings> {
        match self {
            Self::Local { .. } => None,
            Self::Oidc(sso) => Some(sso),
        }
    }

    /// The single sign-on settings to change, when that is the mode.
    pub fn sso_mut(&mut self) -> Option<&mut SsoSettings> {
        match self {
            Self::Local { .. } => None,
            Self::Oidc(sso) => Some(sso),
        }
    }
}

/// `[auth]` with `mode = "oidc"`: the session cookies and the provider.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// Key that signs and encrypts session cookies (read as base64 of at least 64 bytes). Secret.
    pub session_key: crate::auth::session::SessionKey,
    /// A session ends after this many seconds without a request.
    pub session_idle_secs: u64,
    /// A session ends this many seconds after login, however active.
    pub session_max_secs: u64,
    pub oidc: OidcSettings,
}

/// `[auth]` as written: every key of every mode. [`AuthSettings`] is made from it, checking what
/// the mode requires; keys of the other mode are accepted and left unused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuthSettings {
    pub mode: AuthModeSetting,
    pub local_role: triage_shared::actions::Role,
    pub session_key: Option<SecretString>,
    pub session_idle_secs: u64,
    pub session_max_secs: u64,
    pub oidc: Option<OidcSettings>,
}

impl Default for RawAuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthModeSetting::None,
            local_role: triage_shared::actions::Role::Reader,
            session_key: None,
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 3600,
            oidc: None,
        }
    }
}

impl TryFrom<RawAuthSettings> for AuthSettings {
    type Error = ConfigError;

    /// Rules of `[auth]` that the raw types cannot express; every message names its key.
    fn try_from(raw: RawAuthSettings) -> Result<Self, ConfigError> {
        use crate::auth::CALLBACK_PATH;
        use secrecy::ExposeSecret;
        let invalid = |key: &str, message: String| ConfigError::Invalid { key: key.to_owned(), message };
        if raw.mode == AuthModeSetting::None {
            return Ok(Self::Local { local_role: raw.local_role });
        }
        let session_key = raw
            .session_key
            .ok_or_else(|| invalid("auth.session_key", "required with auth.mode = \"oidc\"".to_owned()))?;
        let session_key = crate::auth::session::SessionKey::decode(session_key.expose_secret())
            .map_err(|e| invalid("auth.session_key", e))?;
        if raw.session_idle_secs == 0 || raw.session_max_secs == 0 {
            return Err(invalid(
                "auth.session_idle_secs",
                "session lifetimes must be at least 1 second".to_owned(),
            ));
        }
        let oidc =
            raw.oidc.ok_or_else(|| invalid("auth.oidc", "required with auth.mode = \"oidc\"".to_owned()))?;
        match url::Url::parse(&oidc.issuer) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => return Err(invalid("auth.oidc.issuer", format!("not an http(s) URL: {:?}", oidc.issuer))),
        }
        if oidc.client_id.trim().is_empty() {
            return Err(invalid("auth.oidc.client_id", "must not be empty".to_owned()));
        }
        if oidc.redirect_url.path() != CALLBACK_PATH {
            return Err(invalid(
                "auth.oidc.redirect_url",
                format!(
                    "must end in {CALLBACK_PATH} (Triage's callback), e.g. https://triage.example{CALLBACK_PATH}"
                ),
            ));
        }
        if oidc.reader_groups.is_empty()
            && oidc.reader_email_domains.is_empty()
            && oidc.operator_groups.is_empty()
            && oidc.admin_groups.is_empty()
        {
            return Err(invalid(
                "auth.oidc.reader_groups",
                "no group or e-mail domain may use Triage; list at least one".to_owned(),
            ));
        }
        Ok(Self::Oidc(Box::new(SsoSettings {
            session_key,
            session_idle_secs: raw.session_idle_secs,
            session_max_secs: raw.session_max_secs,
            oidc,
        })))
    }
}

/// `[auth.oidc]`: the OpenID provider, this client, and who may read, act and administer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// Issuer URL exactly as the provider states it (`iss`); discovery reads
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Secret.
    pub client_secret: SecretString,
    /// This console's callback as registered at the provider: `https://triage.example/auth/callback`.
    pub redirect_url: Url,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// ID-token claim that lists the user's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Groups whose members may read.
    #[serde(default)]
    pub reader_groups: Vec<String>,
    /// E-mail domains whose users may read (the provider must mark the address verified).
    #[serde(default)]
    pub reader_email_domains: Vec<String>,
    /// Groups whose members may act (scale, restart, delete pods).
    #[serde(default)]
    pub operator_groups: Vec<String>,
    /// Groups whose members may also administer Triage (reload runbooks, reset statistics).
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// Tolerated difference between the provider's clock and ours when checking token times.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_secs: u64,
    /// After local logout, also end the session at the provider when it advertises
    /// `end_session_endpoint`.
    #[serde(default = "default_true")]
    pub provider_logout: bool,
    /// Logins that may start per minute on one replica (a token bucket); beyond it 429.
    #[serde(default = "default_login_starts")]
    pub login_starts_per_minute: u32,
}

fn default_login_starts() -> u32 {
    300
}

fn default_scopes() -> Vec<String> {
    vec!["email".to_owned(), "profile".to_owned(), "groups".to_owned()]
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

fn default_clock_skew() -> u64 {
    60
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSettings {
    /// Base URL of the Prometheus HTTP API, e.g. `http://127.0.0.1:9090`.
    pub url: Url,
    /// Limit Prometheus applies to each query (passed as its `timeout`), in seconds.
    #[serde(default = "default_prom_timeout")]
    pub timeout_secs: u64,
    /// Widest range a range query may span, in seconds (default 31 days).
    #[serde(default = "default_max_range")]
    pub max_range_secs: u64,
    /// Most points per series a range query may ask for (Prometheus's own limit is 11,000).
    #[serde(default = "default_max_points")]
    pub max_points: u64,
    /// Largest answer Triage reads from Prometheus, in MiB; a larger one is refused in words
    /// ("narrow the query") instead of being held in memory.
    #[serde(default = "default_max_response_mib")]
    pub max_response_mib: u64,
    /// How long, in milliseconds, an answer to the query and range-query routes is reused for the
    /// same query and parameters (concurrent identical requests always share one upstream call).
    /// 0 turns the reuse off.
    #[serde(default = "default_cache_ttl_ms")]
    pub cache_ttl_ms: u64,
}

fn default_max_response_mib() -> u64 {
    64
}

fn default_cache_ttl_ms() -> u64 {
    1000
}

fn default_prom_timeout() -> u64 {
    20
}

fn default_max_range() -> u64 {
    31 * 86_400
}

fn default_max_points() -> u64 {
    11_000
}

/// A configuration problem, always naming where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
}

impl Settings {
    /// Reads `path` (if given), applies environment overrides, deserializes and validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> =
            std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        Self::load_from(path, env)
    }

    /// Same as [`Settings::load`] with explicit overrides, so tests do not touch the process env.
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut tree = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Syntax { path: path.to_owned(), message: e.to_string() })?
            }
            None => toml::Table::new(),
        };
        for (var, value) in env {
            apply_override(&mut tree, &var, &value)?;
        }
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            // A conversion that checks several keys (`[auth]`) names the one at fault itself, as
            // a whole `ConfigError::Invalid` sentence.
            match message.strip_prefix("key `").and_then(|m| m.split_once("`: ")) {
                Some((key, message)) if key.starts_with(&path) => {
                    // Without the deserializer's own "in `auth`" that follows the sentence.
                    let message = message.split_once("\nin `").map_or(message, |(m, _)| m);
                    ConfigError::Invalid { key: key.to_owned(), message: message.to_owned() }
                }
                _ => ConfigError::Invalid { key: path, message },
            }
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Rules that span several keys or that types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth.mode() == AuthModeSetting::None && !self.server.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                key: "auth.mode".to_owned(),
                message: format!(
                    "no-auth mode is only allowed on a loopback address, but server.listen is {}; \
                     configure SSO (auth.mode = \"oidc\") or listen on 127.0.0.1",
                    self.server.listen
                ),
            });
        }
        if self.server.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "server.request_timeout_secs".to_owned(),
                message: "must be at least 1".to_owned(),
            });
        }
        if self.environments.is_empty() {
            return validate_upstreams(
                self.prometheus.as_ref(),
                self.kubernetes.as_ref(),
                self.postgres.as_ref(),
                self.kafka.as_ref(),
            );
        }
        if let Some(section) = [
            ("prometheus", self.prometheus.is_some()),
            ("kubernetes", self.kubernetes.is_some()),
            ("postgres", self.postgres.is_some()),
            ("kafka", self.kafka.is_some()),
        ]
        .into_iter()
        .find_map(|(name, set)| set.then_some(name))
        {
            return Err(ConfigError::Invalid {
                key: section.to_owned(),
                message: format!(
                    "with [[environments]], each environment has its own [environments.{section}]; \
                     move this section into the environment it belongs to"
                ),
            });
        }
        if let Some(label) = &self.alerts.environment_label
            && !is_label_name(label)
        {
            return Err(ConfigError::Invalid {
                key: "alerts.environment_label".to_owned(),
                message: format!("{label:?} is not a Prometheus label name"),
            });
        }
        // Every environment's problems at once, each naming its environment.
        let mut problems = Vec::new();
        let mut names = std::collections::HashSet::new();
        let mut values = std::collections::HashMap::new();
        for (i, env) in self.environments.iter().enumerate() {
            let at = |key: &str| format!("environments[{i}] ({}).{key}", env.name);
            let invalid = |key: &str, message: String| ConfigError::Invalid { key: at(key), message };
            if let Err(message) = triage_shared::env::check_env_name(&env.name) {
                problems.push(invalid("name", message));
            } else if !names.insert(env.name.as_str()) {
                problems.push(invalid("name", format!("{:?} is used twice", env.name)));
            }
            if !is_colour(&env.colour) {
                problems.push(invalid("colour", format!("{:?} is not a colour: use #rrggbb", env.colour)));
            }
            if !(1..=7 * 86_400).contains(&env.approval_ttl_secs) {
                problems.push(invalid("approval_ttl_secs", "must be between 1 and 604800".to_owned()));
            }
            for value in std::iter::once(&env.name).chain(&env.alert_values) {
                if let Some(other) = values.insert(value.as_str(), env.name.as_str())
                    && other != env.name
                {
                    problems.push(invalid(
                        "alert_values",
                        format!("{value:?} already names the environment {other:?}"),
                    ));
                }
            }
            if let Err(ConfigError::Invalid { key, message }) = validate_upstreams(
                env.prometheus.as_ref(),
                env.kubernetes.as_ref(),
                env.postgres.as_ref(),
                env.kafka.as_ref(),
            ) {
                problems.push(ConfigError::Invalid { key: at(&key), message });
            }
        }
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Several(problems)),
        }
    }

    /// The environments this configuration describes, in order; the first is the default.
    pub fn environments(&self) -> Vec<EnvironmentSettings> {
        if !self.environments.is_empty() {
            return self.environments.clone();
        }
        vec![EnvironmentSettings {
            name: triage_shared::env::DEFAULT_ENV.to_owned(),
            colour: default_colour(),
            protection: triage_shared::env::Protection::Standard,
            approval_ttl_secs: default_approval_ttl(),
            alert_values: Vec::new(),
            access: None,
            prometheus: self.prometheus.clone(),
            kubernetes: self.kubernetes.clone(),
            postgres: self.postgres.clone(),
            kafka: self.kafka.clone(),
        }]
    }
}

/// The checks of one environment's upstream sections; keys are relative to the environment.
fn validate_upstreams(
    prometheus: Option<&PrometheusSettings>,
    kubernetes: Option<&KubernetesSettings>,
    postgres: Option<&PostgresSettings>,
    kafka: Option<&KafkaSettings>,
) -> Result<(), ConfigError> {
    if let Some(k8s) = kubernetes {
        if k8s.namespaces.is_empty() {
            return Err(ConfigError::Invalid {
                key: "kubernetes.namespaces".to_owned(),
                message: "list at least one namespace".to_owned(),
            });
        }
        for ns in &k8s.namespaces {
            triage_shared::k8s::check_namespace(ns).map_err(|message| ConfigError::Invalid {
                key: "kubernetes.namespaces".to_owned(),
                message,
            })?;
        }
    }
    if let Some(pg) = postgres {
        pg.validate()?;
    }
    if let Some(kafka) = kafka {
        kafka.validate()?;
    }
    if let Some(prom) = prometheus
        && !matches!(prom.url.scheme(), "http" | "https")
    {
        return Err(ConfigError::Invalid {
            key: "prometheus.url".to_owned(),
            message: format!("scheme must be http or https, not {}", prom.url.scheme()),
        });
    }
    Ok(())
}

/// `#rrggbb`.
fn is_colour(text: &str) -> bool {
    text.len() == 7 && text.starts_with('#') && text[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl PostgresSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid { key: key.to_owned(), message };
        if self.targets.is_empty() {
            return Err(invalid(
                "postgres.targets",
                "list at least one target ([[postgres.targets]])".to_owned(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            let key = format!("postgres.targets[{i}].name");
            let ok = !t.name.is_empty()
                && t.name.len() <= 63
                && t.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(invalid(&key, format!("{:?}: use 1 to 63 letters, digits, `-` or `_`", t.name)));
            }
            if !seen.insert(t.name.as_str()) {
                return Err(invalid(&key, format!("{:?} is used twice", t.name)));
            }
            use secrecy::ExposeSecret;
            if let Err(e) = t.url.expose_secret().parse::<tokio_postgres::Config>() {
                // The parser's message never repeats the password.
                return Err(invalid(
                    &format!("postgres.targets[{i}].url"),
                    format!("not a connection string: {e}"),
                ));
            }
        }
        if !(100..=600_000).contains(&self.statement_timeout_ms) {
            return Err(invalid(
                "postgres.statement_timeout_ms",
                "must be between 100 and 600000".to_owned(),
            ));
        }
        if !(1..=120).contains(&self.connect_timeout_secs) {
            return Err(invalid("postgres.connect_timeout_secs", "must be between 1 and 120".to_owned()));
        }
        if !(1..=64).contains(&self.pool_size) {
            return Err(invalid("postgres.pool_size", "must be between 1 and 64".to_owned()));
        }
        Ok(())
    }
}

/// Sets `TRIAGE__A__B=v` as `a.b = v` in the tree. The value is read as a TOML value when it
/// parses as one (numbers, booleans, quoted strings), otherwise as a plain string.
fn apply_override(tree: &mut toml::Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let path: Vec<String> = var[ENV_PREFIX.len()..].split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return Err(ConfigError::Env { var: var.to_owned(), message: "empty key segment".to_owned() });
    }
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let (last, parents) = path.split_last().ok_or_else(|| ConfigError::Env {
        var: var.to_owned(),
        message: "no key after the prefix".to_owned(),
    })?;
    let err = |message: String| ConfigError::Env { var: var.to_owned(), message };
    let mut table = tree;
    let mut i = 0;
    while let Some(segment) = parents.get(i) {
        let entry = table.entry(segment.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            // A list of tables (`[[postgres.targets]]`) is addressed by index: `TARGETS__0__URL`.
            toml::Value::Array(items) => {
                let index = parents.get(i + 1).and_then(|s| s.parse::<usize>().ok()).ok_or_else(|| {
                    err(format!("`{segment}` is a list: name an entry, e.g. `{segment}__0`"))
                })?;
                i += 2;
                let item =
                    items.get_mut(index).ok_or_else(|| err(format!("`{segment}` has no entry {index}")))?;
                item.as_table_mut()
                    .ok_or_else(|| err(format!("entry {index} of `{segment}` is not a section")))?
            }
            other => {
                i += 1;
                other.as_table_mut().ok_or_else(|| err(format!("`{segment}` is not a section")))?
            }
        };
    }
    table.insert(last.clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn env_overrides_reach_entries_of_a_list_by_index() {
        let f = write(
            "[postgres]\n[[postgres.targets]]\nname = \"a\"\n[[postgres.targets]]\nname = \"b\"\nurl = \"host=b\"\n",
        );
        let settings = Settings::load_from(
            Some(f.path()),
            [("TRIAGE__POSTGRES__TARGETS__0__URL".to_owned(), "host=a password=s3cret".to_owned())],
        )
        .expect("the override fills the first target's url");
        let targets = settings.postgres.expect("postgres").targets;
        assert_eq!(targets[0].url.expose_secret(), "host=a password=s3cret");
        assert_eq!(targets[1].url.expose_secret(), "host=b");
        let err = Settings::load_from(
            Some(f.path()),
            [("TRIAGE__POSTGRES__TARGETS__5__URL".to_owned(), "x".to_owned())],
        )
        .expect_err("no sixth target");
        assert!(err.to_string().contains("no entry 5"), "{err}");
    }

    #[test]
    fn defaults_listen_on_loopback_8080() {
        let s = Settings::load_from(None, []).expect("defaults are valid");
        assert_eq!(s.server.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(s.log.format, LogFormat::Human);
    }

    #[test]
    fn file_then_env_override() {
        let f = write("[server]\nlisten = \"127.0.0.1:9999\"\nrequest_timeout_secs = 5\n");
        let s = Settings::load_from(
            Some(f.path()),
            [("TRIAGE__SERVER__REQUEST_TIMEOUT_SECS".to_owned(), "7".to_owned())],
        )
        .expect("valid");
        assert_eq!(s.server.listen.port(), 9999);
        assert_eq!(s.server.request_timeout_secs, 7);
    }

    #[test]
    fn unknown_key_is_named() {
        let f = write("[server]\nlisen = \"127.0.0.1:1\"\n");
        let err = Settings::load_from(Some(f.path()), []).expect_err("typo must fail");
        let text = err.to_string();
        assert!(text.contains("server"), "{text}");
        assert!(text.contains("lisen"), "{text}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let f = write("[server]\nrequest_timeout_secs = \"soon\"\n");
        let err = Settings::load_from(Some(f.path()), []).expect_err("must fail");
        assert!(err.to_string().contains("server.request_timeout_secs"), "{err}");
    }

    #[test]
    fn no_auth_on_public_address_is_refused() {
        let err =
            Settings::load_from(None, [("TRIAGE__SERVER__LISTEN".to_owned(), "0.0.0.0:8080".to_owned())])
                .expect_err("must refuse");
        assert!(err.to_string().contains("auth.mode"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        // "hunter2-very-secret-" four times, base64: a usable session key.
        let secret = "aHVudGVyMi12ZXJ5LXNlY3JldC1odW50ZXIyLXZlcnktc2VjcmV0LWh1bnRlcjItdmVyeS1zZWNyZXQtaHVudGVyMi12ZXJ5LXNlY3JldC0=";
        let f = write(&format!(
            "[auth]\nmode = \"oidc\"\nsession_key = \"{secret}\"\n[auth.oidc]\nissuer = \"https://sso.example\"\n\
             client_id = \"triage\"\nclient_secret = \"s\"\nredirect_url = \"https://t.example/auth/callback\"\n\
             reader_groups = [\"sre\"]\n"
        ));
        let s = Settings::load_from(Some(f.path()), []).expect("valid");
        let key = &s.auth.sso().expect("single sign-on").session_key;
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(secret).expect("base64");
        // The cookie key is the first 64 bytes of what the setting decodes to.
        assert_eq!(key.key().master(), &decoded[..64]);
        assert!(!format!("{s:?}").contains(secret), "Debug leaked the secret");
    }

    #[test]
    fn postgres_targets_are_checked_and_secret() {
        let f = write(
            "[postgres]\nstatement_timeout_ms = 2000\n[[postgres.targets]]\nname = \"main\"\n\
             url = \"postgres://ro:s3cret-pw@db:5432/app\"\n",
        );
        let s = Settings::load_from(Some(f.path()), []).expect("valid");
        let pg = s.postgres.as_ref().expect("set");
        assert_eq!(pg.targets[0].name, "main");
        assert_eq!(pg.statement_timeout_ms, 2000);
        assert_eq!(pg.pool_size, 4);
        assert!(!format!("{s:?}").contains("s3cret"), "Debug leaked the password");

        let f = write("[postgres]\n[[postgres.targets]]\nname = \"a b\"\nurl = \"host=x\"\n");
        let err = Settings::load_from(Some(f.path()), []).expect_err("bad name");
        assert!(err.to_string().contains("postgres.targets[0].name"), "{err}");
        let f = write("[postgres]\ntargets = []\n");
        let err = Settings::load_from(Some(f.path()), []).expect_err("no target");
        assert!(err.to_string().contains("postgres.targets"), "{err}");
        let f = write("[postgres]\n[[postgres.targets]]\nname = \"a\"\nurl = \"host=x\"\nport = 1\n");
        let err = Settings::load_from(Some(f.path()), []).expect_err("unknown key");
        assert!(err.to_string().contains("port"), "{err}");
    }

    #[test]
    fn syntax_error_names_the_file() {
        let f = write("[server\n");
        let err = Settings::load_from(Some(f.path()), []).expect_err("must fail");
        assert!(err.to_string().contains(&f.path().display().to_string()), "{err}");
    }
}
