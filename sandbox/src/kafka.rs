//! The sandbox's Kafka: three brokers, each on its own listener, speaking the Kafka wire
//! protocol (`kafka-protocol`'s codecs) about the simulated platform's topic `events` and its
//! consumer groups, so that `kcat`, `confluent-kafka` and Triage read the same numbers the
//! `kafka_consumer_lag` metric exports.
//!
//! What it answers: `ApiVersions`, `Metadata`, `FindCoordinator`, `ListGroups`,
//! `DescribeGroups`, `OffsetFetch`, `ListOffsets` (earliest, latest and by time, from the
//! platform's sampled history) and `OffsetCommit` (refused while the group has members, as a
//! broker refuses a commit from outside a live group), `DescribeCluster`. It does not produce or
//! fetch records: the messages exist only as offsets. Any other request closes the connection,
//! as a broker does with an API it does not know.
//!
//! The incidents reach the protocol: in `partition-imbalance` broker 0 leads 16 of the 24
//! partitions; in `kafka-connection` broker [`DOWN_BROKER`] stops listening (its port refuses
//! connections and open ones are closed), it leaves the metadata and every ISR, its partitions
//! fail over to their other replica, and partition [`LEADERLESS`], whose only in-sync replica it
//! was, has no leader.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartition;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, ConsumerProtocolAssignment, ConsumerProtocolSubscription,
    DescribeClusterRequest, DescribeClusterResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, ListGroupsRequest, ListGroupsResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::api::{Shared, lock};
use crate::incident::Incident;
use crate::world::{CONSUMER_GROUP, MAX_IDLE_GROUPS, PARTITIONS, TOPIC, World};

/// Brokers in the cluster, ids `0..BROKERS` (pods `kafka-0..2`).
pub const BROKERS: usize = 3;
/// The broker that goes away in `kafka-connection`.
pub const DOWN_BROKER: i32 = 2;
/// The partition left without a leader in `kafka-connection`.
pub const LEADERLESS: usize = 7;
pub const CLUSTER_ID: &str = "triage-sandbox-kafka";
/// The controller (never the broker that goes away).
const CONTROLLER: i32 = 0;
/// The largest request a client may send; anything bigger closes the connection.
const MAX_REQUEST: usize = 1 << 20;
/// Connections one broker serves at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 512;

mod code {
    pub const NONE: i16 = 0;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
    pub const INVALID_REQUEST: i16 = 42;
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
}

/// The APIs served and the versions of each (all within what `kafka-protocol` encodes).
const APIS: [(ApiKey, i16, i16); 9] = [
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::DescribeCluster, 0, 1),
];

/// Served besides [`APIS`] when the brokers require a SASL login (v1 handshake only, so every
/// token travels in a `SaslAuthenticate`).
const SASL_APIS: [(ApiKey, i16, i16); 2] = [(ApiKey::SaslHandshake, 1, 1), (ApiKey::SaslAuthenticate, 0, 2)];

fn supported(key: ApiKey, version: i16, sasl: bool) -> bool {
    let sasl_apis: &[(ApiKey, i16, i16)] = if sasl { &SASL_APIS } else { &[] };
    APIS.iter().chain(sasl_apis).any(|(k, min, max)| *k == key && (*min..=*max).contains(&version))
}

/// The one user the brokers accept when they require SASL, by PLAIN, SCRAM-SHA-256 or
/// SCRAM-SHA-512.
#[derive(Clone)]
pub struct SaslUser {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslUser").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The mechanisms a SASL-requiring broker offers.
const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
/// The salt of the one user's SCRAM credentials.
const SCRAM_SALT: &[u8] = b"triage-sandbox-scram-salt";

/// Where one connection's login stands.
#[derive(Debug, Default)]
struct Login {
    done: bool,
    /// The mechanism the handshake chose.
    mechanism: Option<&'static str>,
    /// A SCRAM exchange between the client's first and final messages.
    scram: Option<crate::scram::Exchange>,
}

/// What one request gets: the encoded answer, and whether the connection closes after it.
struct Reply {
    bytes: BytesMut,
    close: bool,
}

impl From<BytesMut> for Reply {
    fn from(bytes: BytesMut) -> Self {
        Self { bytes, close: false }
    }
}

/// Whether broker `id` is up in `incident`.
pub fn broker_up(incident: Incident, id: i32) -> bool {
    !(incident == Incident::KafkaConnection && id == DOWN_BROKER)
}

/// One partition of `events` as the controller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// `-1` when it has none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

/// The partitions of `events` in `incident`: two replicas each, the leader first.
pub fn partitions(incident: Incident) -> Vec<PartitionState> {
    (0..PARTITIONS)
        .map(|p| {
            let leader = match incident {
                // 16 / 6 / 2: the imbalance the guide asks about.
                Incident::PartitionImbalance if p < 16 => 0,
                Incident::PartitionImbalance if p < 22 => 1,
                Incident::PartitionImbalance => 2,
                _ => (p % BROKERS) as i32,
            };
            let replicas = vec![leader, (leader + 1) % BROKERS as i32];
            let healthy =
                PartitionState { leader, leader_epoch: 0, isr: replicas.clone(), replicas, offline: vec![] };
            if incident != Incident::KafkaConnection || !healthy.replicas.contains(&DOWN_BROKER) {
                return healthy;
            }
            let isr: Vec<i32> = healthy.replicas.iter().copied().filter(|b| *b != DOWN_BROKER).collect();
            if p == LEADERLESS {
                // Its other replica had fallen out of sync before the broker went away, and
                // unclean leader election is off: no leader.
                return PartitionState {
                    leader: -1,
                    leader_epoch: 1,
                    isr: vec![],
                    offline: vec![DOWN_BROKER],
                    ..healthy
                };
            }
            let (leader, leader_epoch) = if healthy.leader == DOWN_BROKER {
                (isr[0], 1)
            } else {
                (healthy.leader, healthy.leader_epoch)
            };
            PartitionState { leader, leader_epoch, isr, offline: vec![DOWN_BROKER], ..healthy }
        })
        .collect()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The broker coordinating `group`: one of the live brokers, by hash.
pub fn coordinator(incident: Incident, group: &str) -> i32 {
    let live: Vec<i32> = (0..BROKERS as i32).filter(|b| broker_up(incident, *b)).collect();
    live[(fnv(group) % live.len() as u64) as usize]
}

/// Where the brokers listen: one address per broker id, and how many requests of each API
/// they served (tests check how a client reads the cluster).
#[derive(Debug, Clone)]
pub struct Listeners {
    pub addrs: Vec<SocketAddr>,
    pub served: RequestCounts,
    /// Per API, how long an answer waits after it was computed before it is sent (tests make a
    /// slow broker with it: the numbers are those of the moment the request arrived).
    pub delays: ReplyDelays,
}

/// Milliseconds each API's answers wait before they are sent; none by default.
#[derive(Debug, Clone, Default)]
pub struct ReplyDelays(Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>);

impl ReplyDelays {
    /// Delays every later answer to `api` (e.g. `"ListOffsets"`) by `ms`.
    pub fn set(&self, api: &str, ms: u64) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(api.to_owned(), ms);
        }
    }

    fn of(&self, key: ApiKey) -> Option<Duration> {
        let ms = self.0.lock().ok()?.get(&format!("{key:?}")).copied()?;
        (ms > 0).then(|| Duration::from_millis(ms))
    }
}

/// Requests served per API, over every broker.
#[derive(Debug, Clone, Default)]
pub struct RequestCounts(Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>);

impl RequestCounts {
    fn record(&self, key: ApiKey) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(format!("{key:?}")).or_default() += 1;
        }
    }

    /// Requests of `api` (e.g. `"OffsetFetch"`) served so far.
    pub fn get(&self, api: &str) -> u64 {
        self.0.lock().map_or(0, |m| m.get(api).copied().unwrap_or(0))
    }
}

impl Listeners {
    pub fn bootstrap(&self) -> String {
        self.addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
    }
}

/// Binds one listener per broker on `addrs` (port 0 picks a free one) and serves them until the
/// returned tasks are aborted. A broker that is down in the current incident closes its
/// listener, and binds the same port again when it comes back.
pub async fn start(
    world: Shared,
    addrs: &[SocketAddr],
    incident: watch::Receiver<Incident>,
    sasl: Option<SaslUser>,
) -> anyhow::Result<(Listeners, Vec<tokio::task::JoinHandle<()>>)> {
    anyhow::ensure!(
        addrs.len() == BROKERS,
        "the sandbox's Kafka needs {BROKERS} broker addresses, got {}",
        addrs.len()
    );
    let mut bound = Vec::new();
    for addr in addrs {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for a Kafka broker: {e}"))?;
        bound.push(l);
    }
    let listeners = Listeners {
        addrs: bound.iter().map(TcpListener::local_addr).collect::<Result<_, _>>()?,
        served: RequestCounts::default(),
        delays: ReplyDelays::default(),
    };
    let shared = Arc::new(listeners.clone());
    let sasl = sasl.map(Arc::new);
    let mut tasks = Vec::new();
    for (id, listener) in bound.into_iter().enumerate() {
        let broker =
            Broker { id: id as i32, world: world.clone(), listeners: shared.clone(), sasl: sasl.clone() };
        tasks.push(tokio::spawn(broker.run(listener, incident.clone())));
    }
    Ok((listeners, tasks))
}

#[derive(Clone)]
struct Broker {
    id: i32,
    world: Shared,
    listeners: Arc<Listeners>,
    /// When set, every request but ApiVersions and the SASL ones waits for this login.
    sasl: Option<Arc<SaslUser>>,
}

impl Broker {
    async fn run(self, listener: TcpListener, mut incident: watch::Receiver<Incident>) {
        let addr = self.listeners.addrs[self.id as usize];
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut listener = Some(listener);
        loop {
            let up = broker_up(*incident.borrow_and_update(), self.id);
            match (&listener, up) {
                (Some(_), false) => {
                    tracing::info!(broker = self.id, %addr, "Kafka broker down: listener closed");
                    listener = None;
                }
                (None, true) => match TcpListener::bind(addr).await {
                    Ok(l) => {
                        tracing::info!(broker = self.id, %addr, "Kafka broker back");
                        listener = Some(l);
                    }
                    Err(e) => {
                        tracing::warn!(broker = self.id, %addr, "cannot listen again, retrying: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                },
                _ => {}
            }
            let Some(l) = &listener else {
                if incident.changed().await.is_err() {
                    return;
                }
                continue;
            };
            tokio::select! {
                changed = incident.changed() => if changed.is_err() { return },
                accepted = l.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::warn!(broker = self.id, "too many Kafka connections; closing a new one");
                        continue;
                    };
                    let broker = self.clone();
                    let down = incident.clone();
                    tokio::spawn(async move {
                        broker.serve(stream, down).await;
                        drop(permit);
                    });
                }
            }
        }
    }

    /// Serves one connection until the client closes it, sends something unreadable, or the
    /// broker goes down.
    async fn serve(&self, mut stream: TcpStream, mut incident: watch::Receiver<Incident>) {
        let _ = stream.set_nodelay(true);
        let mut login = Login { done: self.sasl.is_none(), ..Login::default() };
        loop {
            let frame = tokio::select! {
                frame = read_frame(&mut stream) => frame,
                _ = wait_down(&mut incident, self.id) => return,
            };
            let Ok(Some(frame)) = frame else { return };
            let delay = ApiKey::try_from(i16::from_be_bytes([
                frame.first().copied().unwrap_or(0),
                frame.get(1).copied().unwrap_or(0),
            ]))
            .ok()
            .and_then(|k| self.listeners.delays.of(k));
            let Reply { bytes: reply, close } = match self.handle(frame, &mut login) {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::debug!(broker = self.id, "closing a Kafka connection: {e:#}");
                    return;
                }
            };
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            let mut out = BytesMut::with_capacity(reply.len() + 4);
            out.put_u32(reply.len() as u32);
            out.extend_from_slice(&reply);
            if stream.write_all(&out).await.is_err() || close {
                return;
            }
        }
    }

    /// Decodes one request and encodes its response (header included, length excluded).
    fn handle(&self, mut frame: Bytes, login: &mut Login) -> anyhow::Result<Reply> {
        anyhow::ensure!(frame.len() >= 4, "a request shorter than its header");
        let key_raw = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let key = ApiKey::try_from(key_raw).map_err(|()| anyhow::anyhow!("unknown API key {key_raw}"))?;
        let header = RequestHeader::decode(&mut frame, key.request_header_version(version))?;
        let correlation_id = header.correlation_id;
        let sasl = self.sasl.is_some();
        if key == ApiKey::ApiVersions && !supported(key, version, sasl) {
            // A client newer than the broker: answer in v0 with the versions served.
            return encode(
                ApiKey::ApiVersions,
                0,
                correlation_id,
                &api_versions(code::UNSUPPORTED_VERSION, sasl),
            )
            .map(Reply::from);
        }
        anyhow::ensure!(supported(key, version, sasl), "{key:?} v{version} is not served");
        self.listeners.served.record(key);
        if !login.done
            && !matches!(key, ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
        {
            // As a broker does: anything else before the login closes the connection.
            anyhow::bail!("{key:?} before the SASL login");
        }
        let incident = lock(&self.world).incident;
        let reply = match key {
            ApiKey::ApiVersions => encode(key, version, correlation_id, &api_versions(code::NONE, sasl)),
            ApiKey::SaslHandshake => {
                let req = SaslHandshakeRequest::decode(&mut frame, version)?;
                login.mechanism = MECHANISMS.iter().copied().find(|m| *m == req.mechanism.as_str());
                login.scram = None;
                let known = login.mechanism.is_some();
                let resp = SaslHandshakeResponse::default()
                    .with_error_code(if known { code::NONE } else { code::UNSUPPORTED_SASL_MECHANISM })
                    .with_mechanisms(MECHANISMS.iter().map(|m| StrBytes::from_static_str(m)).collect());
                return Ok(Reply { bytes: encode(key, version, correlation_id, &resp)?, close: !known });
            }
            ApiKey::SaslAuthenticate => {
                let req = SaslAuthenticateRequest::decode(&mut frame, version)?;
                let answer = match (self.sasl.as_deref(), login.mechanism) {
                    (Some(user), Some("PLAIN")) => {
                        plain_login_matches(&req.auth_bytes, user).then(|| (Bytes::new(), true))
                    }
                    (Some(user), Some(mechanism)) => self.scram_step(login, mechanism, &req.auth_bytes, user),
                    _ => None,
                };
                let ok = answer.is_some();
                let resp = if let Some((token, done)) = answer {
                    login.done = done;
                    SaslAuthenticateResponse::default().with_auth_bytes(token)
                } else {
                    SaslAuthenticateResponse::default()
                        .with_error_code(code::SASL_AUTHENTICATION_FAILED)
                        .with_error_message(Some(StrBytes::from_static_str(
                            "Authentication failed: Invalid username or password",
                        )))
                };
                return Ok(Reply { bytes: encode(key, version, correlation_id, &resp)?, close: !ok });
            }
            ApiKey::Metadata => {
                let req = MetadataRequest::decode(&mut frame, version)?;
                let resp = self.metadata(incident, &req, version);
                encode(key, version, correlation_id, &resp)
            }
            ApiKey::DescribeCluster => {
                let _req = DescribeClusterRequest::decode(&mut frame, version)?;
                encode(key, version, correlation_id, &self.describe_cluster(incident))
            }
            ApiKey::FindCoordinator => {
                let req = FindCoordinatorRequest::decode(&mut frame, version)?;
                encode(key, version, correlation_id, &self.find_coordinator(incident, &req, version))
            }
            ApiKey::ListGroups => {
                let req = ListGroupsRequest::decode(&mut frame, version)?;
                let world = lock(&self.world);
                encode(key, version, correlation_id, &self.list_groups(&world, &req))
            }
            ApiKey::DescribeGroups => {
                let req = DescribeGroupsRequest::decode(&mut frame, version)?;
                let world = lock(&self.world);
                encode(key, version, correlation_id, &self.describe_groups(&world, &req))
            }
            ApiKey::OffsetFetch => {
                let req = OffsetFetchRequest::decode(&mut frame, version)?;
                let world = lock(&self.world);
                encode(key, version, correlation_id, &self.offset_fetch(&world, &req, version))
            }
            ApiKey::ListOffsets => {
                let req = ListOffsetsRequest::decode(&mut frame, version)?;
                let world = lock(&self.world);
                encode(key, version, correlation_id, &self.list_offsets(&world, &req))
            }
            ApiKey::OffsetCommit => {
                let req = OffsetCommitRequest::decode(&mut frame, version)?;
                let mut world = lock(&self.world);
                let resp = self.offset_commit(&mut world, &req);
                drop(world);
                encode(key, version, correlation_id, &resp)
            }
            other => anyhow::bail!("{other:?} is not served"),
        };
        reply.map(Reply::from)
    }

    /// One SCRAM message: the server's first message after the client's, its final one (and the
    /// login done) after a right proof; `None` for anything else.
    fn scram_step(
        &self,
        login: &mut Login,
        mechanism: &str,
        token: &[u8],
        user: &SaslUser,
    ) -> Option<(Bytes, bool)> {
        let sha = crate::scram::Sha::of_mechanism(mechanism)?;
        match login.scram.take() {
            None => {
                let nonce = format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
                let (exchange, reply) =
                    crate::scram::first(sha, token, &user.username, &user.password, &nonce, SCRAM_SALT)?;
                login.scram = Some(exchange);
                Some((Bytes::from(reply), false))
            }
            Some(exchange) => crate::scram::last(&exchange, token).map(|reply| (Bytes::from(reply), true)),
        }
    }

    fn brokers(&self, incident: Incident) -> Vec<(i32, SocketAddr)> {
        (0..BROKERS as i32)
            .filter(|b| broker_up(incident, *b))
            .map(|b| (b, self.listeners.addrs[b as usize]))
            .collect()
    }

    fn metadata(&self, incident: Incident, req: &MetadataRequest, version: i16) -> MetadataResponse {
        let brokers = self
            .brokers(incident)
            .into_iter()
            .map(|(id, addr)| {
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_string(addr.ip().to_string()))
                    .with_port(i32::from(addr.port()))
                    .with_rack(Some(StrBytes::from_string(rack(id))))
            })
            .collect();
        // v0: an empty list means every topic; v1 and later: null does.
        let all = match &req.topics {
            None => true,
            Some(t) => t.is_empty() && version == 0,
        };
        let names: Vec<String> = if all {
            vec![TOPIC.to_owned()]
        } else {
            req.topics.iter().flatten().filter_map(|t| t.name.as_ref().map(|n| n.0.to_string())).collect()
        };
        let topics = names
            .into_iter()
            .map(|name| {
                let topic = MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
                if name != TOPIC {
                    return topic.with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION);
                }
                let partitions = partitions(incident)
                    .into_iter()
                    .enumerate()
                    .map(|(p, s)| {
                        MetadataResponsePartition::default()
                            .with_error_code(if s.leader < 0 {
                                code::LEADER_NOT_AVAILABLE
                            } else {
                                code::NONE
                            })
                            .with_partition_index(p as i32)
                            .with_leader_id(BrokerId(s.leader))
                            .with_leader_epoch(s.leader_epoch)
                            .with_replica_nodes(s.replicas.into_iter().map(BrokerId).collect())
                            .with_isr_nodes(s.isr.into_iter().map(BrokerId).collect())
                            .with_offline_replicas(s.offline.into_iter().map(BrokerId).collect())
                    })
                    .collect();
                topic.with_partitions(partitions)
            })
            .collect();
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_cluster_id(Some(StrBytes::from_static_str(CLUSTER_ID)))
            .with_controller_id(BrokerId(CONTROLLER))
            .with_topics(topics)
    }

    fn describe_cluster(&self, incident: Incident) -> DescribeClusterResponse {
        let brokers = self
            .brokers(incident)
            .into_iter()
            .map(|(id, addr)| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(id))
                    .with_host(StrBytes::from_string(addr.ip().to_string()))
                    .with_port(i32::from(addr.port()))
                    .with_rack(Some(StrBytes::from_string(rack(id))))
            })
            .collect();
        DescribeClusterResponse::default()
            .with_cluster_id(StrBytes::from_static_str(CLUSTER_ID))
            .with_controller_id(BrokerId(CONTROLLER))
            .with_brokers(brokers)
    }

    fn find_coordinator(
        &self,
        incident: Incident,
        req: &FindCoordinatorRequest,
        version: i16,
    ) -> FindCoordinatorResponse {
        let find = |key: &StrBytes| -> (i16, i32, String, i32) {
            if req.key_type != 0 {
                // Only groups have coordinators here; transactions are not served.
                return (code::INVALID_REQUEST, -1, String::new(), -1);
            }
            let id = coordinator(incident, key);
            let addr = self.listeners.addrs[id as usize];
            (code::NONE, id, addr.ip().to_string(), i32::from(addr.port()))
        };
        if version >= 4 {
            let coordinators = req
                .coordinator_keys
                .iter()
                .map(|k| {
                    let (error, id, host, port) = find(k);
                    Coordinator::default()
                        .with_key(k.clone())
                        .with_error_code(error)
                        .with_node_id(BrokerId(id))
                        .with_host(StrBytes::from_string(host))
                        .with_port(port)
                })
                .collect();
            return FindCoordinatorResponse::default().with_coordinators(coordinators);
        }
        let (error, id, host, port) = find(&req.key);
        FindCoordinatorResponse::default()
            .with_error_code(error)
            .with_node_id(BrokerId(id))
            .with_host(StrBytes::from_string(host))
            .with_port(port)
    }

    fn list_groups(&self, world: &World, req: &ListGroupsRequest) -> ListGroupsResponse {
        let wanted: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
        let groups = group_names(world)
            .filter(|g| coordinator(world.incident, g) == self.id)
            .filter_map(|g| {
                let state = group_state(world, g);
                (wanted.is_empty() || wanted.contains(&state.to_lowercase())).then(|| {
                    ListedGroup::default()
                        .with_group_id(GroupId(StrBytes::from_string(g.to_owned())))
                        .with_protocol_type(StrBytes::from_static_str("consumer"))
                        .with_group_state(StrBytes::from_static_str(state))
                })
            })
            .collect();
        ListGroupsResponse::default().with_groups(groups)
    }

    fn describe_groups(&self, world: &World, req: &DescribeGroupsRequest) -> DescribeGroupsResponse {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let name = g.0.to_string();
                let group = DescribedGroup::default().with_group_id(g.clone());
                if coordinator(world.incident, &name) != self.id {
                    return group
                        .with_error_code(code::NOT_COORDINATOR)
                        .with_group_state(StrBytes::from_static_str(""));
                }
                if !group_exists(world, &name) {
                    return group.with_group_state(StrBytes::from_static_str("Dead"));
                }
                let state = group_state(world, &name);
                let members = if name == CONSUMER_GROUP { members(world) } else { Vec::new() };
                group
                    .with_group_state(StrBytes::from_static_str(state))
                    .with_protocol_type(StrBytes::from_static_str("consumer"))
                    .with_protocol_data(StrBytes::from_static_str(if members.is_empty() {
                        ""
                    } else {
                        "range"
                    }))
                    .with_members(members)
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }

    fn offset_fetch(&self, world: &World, req: &OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        // One group's committed offsets on the topics asked for (all of them when `None`).
        let fetch = |group: &str,
                     topics: Option<Vec<(String, Vec<i32>)>>|
         -> (i16, Vec<(String, Vec<FetchedOffset>)>) {
            if coordinator(world.incident, group) != self.id {
                return (code::NOT_COORDINATOR, Vec::new());
            }
            let committed = committed(world, group);
            let topics = topics.unwrap_or_else(|| {
                if committed.is_some() {
                    vec![(TOPIC.to_owned(), (0..PARTITIONS as i32).collect())]
                } else {
                    Vec::new()
                }
            });
            let answer = topics
                .into_iter()
                .map(|(topic, parts)| {
                    let rows = parts
                        .into_iter()
                        .map(|p| {
                            match usize::try_from(p).ok().filter(|p| topic == TOPIC && *p < PARTITIONS) {
                                None => (p, -1, code::UNKNOWN_TOPIC_OR_PARTITION),
                                Some(i) => (p, committed.map_or(-1, |c| c[i]), code::NONE),
                            }
                        })
                        .collect();
                    (topic, rows)
                })
                .collect();
            (code::NONE, answer)
        };
        if version >= 8 {
            let groups = req
                .groups
                .iter()
                .map(|g| {
                    let topics = g.topics.as_ref().map(|ts| {
                        ts.iter().map(|t| (t.name.0.to_string(), t.partition_indexes.clone())).collect()
                    });
                    let (error, answer) = fetch(&g.group_id.0, topics);
                    let topics = answer
                        .into_iter()
                        .map(|(name, rows)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(StrBytes::from_string(name)))
                                .with_partitions(
                                    rows.into_iter()
                                        .map(|(p, offset, error)| {
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
                                                .with_committed_offset(offset)
                                                .with_error_code(error)
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_topics(topics)
                        .with_error_code(error)
                })
                .collect();
            return OffsetFetchResponse::default().with_groups(groups);
        }
        let topics = req
            .topics
            .as_ref()
            .map(|ts| ts.iter().map(|t| (t.name.0.to_string(), t.partition_indexes.clone())).collect());
        let (error, answer) = fetch(&req.group_id.0, topics);
        let topics = answer
            .into_iter()
            .map(|(name, rows)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(
                        rows.into_iter()
                            .map(|(p, offset, e)| {
                                // v1 has no group-level error: it goes on every partition.
                                let e = if version < 2 && error != code::NONE { error } else { e };
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_error_code(e)
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetFetchResponse::default().with_topics(topics).with_error_code(if version >= 2 {
            error
        } else {
            code::NONE
        })
    }

    fn list_offsets(&self, world: &World, req: &ListOffsetsRequest) -> ListOffsetsResponse {
        let layout = partitions(world.incident);
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let row =
                            ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                        let Some(i) = usize::try_from(p.partition_index)
                            .ok()
                            .filter(|i| t.name.0.as_str() == TOPIC && *i < PARTITIONS)
                        else {
                            return row.with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION);
                        };
                        if layout[i].leader != self.id {
                            return row.with_error_code(code::NOT_LEADER_OR_FOLLOWER);
                        }
                        let offsets = world.platform.offsets(i);
                        let newest = world.platform.history.back().map_or(-1, |(t, _)| *t);
                        let (timestamp, offset) = match p.timestamp {
                            -1 => (-1, offsets.log_end),
                            -2 => (-1, offsets.log_start),
                            -3 => (newest, (offsets.log_end - 1).max(offsets.log_start)),
                            at if at >= 0 => match world.platform.offset_at(i, at) {
                                Some(offset) => (at, offset),
                                None => (-1, -1),
                            },
                            _ => return row.with_error_code(code::INVALID_REQUEST),
                        };
                        row.with_timestamp(timestamp)
                            .with_offset(offset)
                            .with_leader_epoch(layout[i].leader_epoch)
                    })
                    .collect();
                ListOffsetsTopicResponse::default().with_name(t.name.clone()).with_partitions(partitions)
            })
            .collect();
        ListOffsetsResponse::default().with_topics(topics)
    }

    fn offset_commit(&self, world: &mut World, req: &OffsetCommitRequest) -> OffsetCommitResponse {
        let group = req.group_id.0.to_string();
        let refuse = if coordinator(world.incident, &group) != self.id {
            Some(code::NOT_COORDINATOR)
        } else if group == CONSUMER_GROUP && !world.platform.consumer_names.is_empty() {
            // A commit from outside a live group: the member is not one of its own.
            Some(code::UNKNOWN_MEMBER_ID)
        } else if group != CONSUMER_GROUP
            && !world.platform.idle_groups.contains_key(&group)
            && world.platform.idle_groups.len() >= MAX_IDLE_GROUPS
        {
            Some(code::UNKNOWN_SERVER_ERROR)
        } else {
            None
        };
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let row =
                            OffsetCommitResponsePartition::default().with_partition_index(p.partition_index);
                        if let Some(e) = refuse {
                            return row.with_error_code(e);
                        }
                        let Some(i) = usize::try_from(p.partition_index)
                            .ok()
                            .filter(|i| t.name.0.as_str() == TOPIC && *i < PARTITIONS)
                        else {
                            return row.with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION);
                        };
                        let offset = p.committed_offset.clamp(0, world.platform.offsets(i).log_end);
                        if group == CONSUMER_GROUP {
                            world.platform.commit(i, offset);
                        } else {
                            world.platform.idle_groups.entry(group.clone()).or_insert([-1; PARTITIONS])[i] =
                                offset;
                        }
                        row.with_error_code(code::NONE)
                    })
                    .collect();
                OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
            })
            .collect();
        OffsetCommitResponse::default().with_topics(topics)
    }
}

/// One partition's answer to an offset fetch: partition, committed offset, error code.
type FetchedOffset = (i32, i64, i16);

fn rack(id: i32) -> String {
    format!("zone-{}", ["a", "b", "c"][id as usize % 3])
}

/// `\0user\0password` (an optional authorisation id first) matches the one user.
fn plain_login_matches(token: &[u8], user: &SaslUser) -> bool {
    let mut parts = token.split(|b| *b == 0);
    let (_authzid, name, password) = (parts.next(), parts.next(), parts.next());
    parts.next().is_none()
        && name == Some(user.username.as_bytes())
        && password == Some(user.password.as_bytes())
}

fn api_versions(error: i16, sasl: bool) -> ApiVersionsResponse {
    let sasl_apis: &[(ApiKey, i16, i16)] = if sasl { &SASL_APIS } else { &[] };
    ApiVersionsResponse::default().with_error_code(error).with_api_keys(
        APIS.iter()
            .chain(sasl_apis)
            .map(|(k, min, max)| {
                ApiVersion::default().with_api_key(*k as i16).with_min_version(*min).with_max_version(*max)
            })
            .collect(),
    )
}

/// Every group the cluster knows: the platform's consumer group, then the idle ones.
fn group_names(world: &World) -> impl Iterator<Item = &str> {
    std::iter::once(CONSUMER_GROUP).chain(world.platform.idle_groups.keys().map(String::as_str))
}

fn group_exists(world: &World, group: &str) -> bool {
    group == CONSUMER_GROUP || world.platform.idle_groups.contains_key(group)
}

fn group_state(world: &World, group: &str) -> &'static str {
    if group == CONSUMER_GROUP && !world.platform.consumer_names.is_empty() { "Stable" } else { "Empty" }
}

/// The group's committed offset per partition (`-1` where it never committed), `None` for a
/// group the cluster does not know.
fn committed(world: &World, group: &str) -> Option<[i64; PARTITIONS]> {
    if group == CONSUMER_GROUP {
        let mut out = [0; PARTITIONS];
        for (p, o) in out.iter_mut().enumerate() {
            *o = world.platform.offsets(p).committed;
        }
        return Some(out);
    }
    world.platform.idle_groups.get(group).copied()
}

/// The consumer group's members: one per consumer pod, member `i` owning `p % n == i`.
fn members(world: &World) -> Vec<DescribedGroupMember> {
    let names = &world.platform.consumer_names;
    let n = names.len();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let host = world.pods.get(name).map_or_else(String::new, |p| p.ip.clone());
            let owned: Vec<i32> = (0..PARTITIONS).filter(|p| p % n == i).map(|p| p as i32).collect();
            let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
                AssignedPartition::default()
                    .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                    .with_partitions(owned),
            ]);
            let subscription =
                ConsumerProtocolSubscription::default().with_topics(vec![StrBytes::from_static_str(TOPIC)]);
            DescribedGroupMember::default()
                .with_member_id(StrBytes::from_string(format!("{name}-{:08x}", fnv(name) as u32)))
                .with_client_id(StrBytes::from_string(name.clone()))
                .with_client_host(StrBytes::from_string(format!("/{host}")))
                .with_member_metadata(versioned(&subscription, 1))
                .with_member_assignment(versioned(&assignment, 1))
        })
        .collect()
}

/// A consumer-protocol message as it travels inside group messages: its version, then its body.
fn versioned<M: Encodable>(message: &M, version: i16) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(version);
    // The messages are built here with fields every version has, so encoding cannot fail.
    if message.encode(&mut out, version).is_err() {
        out.truncate(0);
    }
    out.freeze()
}

fn encode<R: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> anyhow::Result<BytesMut> {
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, key.response_header_version(version))?;
    body.encode(&mut out, version)?;
    Ok(out)
}

/// Reads one length-prefixed request; `None` when the client closed the connection.
async fn read_frame(stream: &mut TcpStream) -> anyhow::Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_REQUEST)
        .ok_or_else(|| anyhow::anyhow!("a request of {len} bytes"))?;
    let mut buf = BytesMut::zeroed(len);
    stream.read_exact(&mut buf).await?;
    Ok(Some(buf.freeze()))
}

/// Completes when broker `id` goes down.
async fn wait_down(incident: &mut watch::Receiver<Incident>, id: i32) {
    loop {
        if !broker_up(*incident.borrow_and_update(), id) {
            return;
        }
        if incident.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Buf;

    use super::*;

    fn sample_world() -> World {
        let mut world = World::new(Incident::ConsumerLag, 7);
        for _ in 0..20 {
            world.tick(0.25);
        }
        world
    }

    fn broker(world: World, id: i32) -> Broker {
        let addrs = (0..BROKERS).map(|i| SocketAddr::from(([127, 0, 0, 1], 19092 + i as u16))).collect();
        Broker {
            id,
            world: Arc::new(std::sync::Mutex::new(world)),
            listeners: Arc::new(Listeners {
                addrs,
                served: RequestCounts::default(),
                delays: ReplyDelays::default(),
            }),
            sasl: None,
        }
    }

    fn leaders(incident: Incident) -> [usize; BROKERS] {
        let mut out = [0; BROKERS];
        for p in partitions(incident) {
            if let Ok(b) = usize::try_from(p.leader) {
                out[b] += 1;
            }
        }
        out
    }

    #[test]
    fn leaders_are_balanced_when_healthy_and_not_in_the_imbalance() {
        assert_eq!(leaders(Incident::Healthy), [8, 8, 8]);
        assert_eq!(leaders(Incident::PartitionImbalance), [16, 6, 2]);
    }

    #[test]
    fn the_broker_that_goes_away_leaves_every_isr_and_one_partition_leaderless() {
        let layout = partitions(Incident::KafkaConnection);
        assert!(!broker_up(Incident::KafkaConnection, DOWN_BROKER));
        assert_eq!(layout[LEADERLESS].leader, -1);
        for (p, s) in layout.iter().enumerate() {
            assert!(!s.isr.contains(&DOWN_BROKER), "partition {p}");
            assert_ne!(s.leader, DOWN_BROKER, "partition {p}");
            if p != LEADERLESS {
                assert!(s.leader >= 0 && s.isr.contains(&s.leader), "partition {p}");
            }
        }
        assert_ne!(coordinator(Incident::KafkaConnection, CONSUMER_GROUP), DOWN_BROKER);
    }

    /// Every response encodes at every version served (the codecs refuse fields a version does
    /// not have), and decodes back to what was sent.
    #[test]
    fn every_response_encodes_at_every_served_version() {
        let world = sample_world();
        let coordinator_id = coordinator(world.incident, CONSUMER_GROUP);
        let b = broker(world, coordinator_id);
        let world = lock(&b.world);
        for (key, min, max) in APIS {
            for v in min..=max {
                let out = match key {
                    ApiKey::ApiVersions => encode(key, v, 1, &api_versions(0, true)),
                    ApiKey::Metadata => {
                        encode(key, v, 1, &b.metadata(world.incident, &MetadataRequest::default(), v))
                    }
                    ApiKey::DescribeCluster => encode(key, v, 1, &b.describe_cluster(world.incident)),
                    ApiKey::FindCoordinator => {
                        let req = FindCoordinatorRequest::default()
                            .with_key(StrBytes::from_static_str(CONSUMER_GROUP))
                            .with_coordinator_keys(vec![StrBytes::from_static_str(CONSUMER_GROUP)]);
                        encode(key, v, 1, &b.find_coordinator(world.incident, &req, v))
                    }
                    ApiKey::ListGroups => {
                        encode(key, v, 1, &b.list_groups(&world, &ListGroupsRequest::default()))
                    }
                    ApiKey::DescribeGroups => {
                        let req = DescribeGroupsRequest::default()
                            .with_groups(vec![GroupId(StrBytes::from_static_str(CONSUMER_GROUP))]);
                        encode(key, v, 1, &b.describe_groups(&world, &req))
                    }
                    ApiKey::OffsetFetch => {
                        let mut req = OffsetFetchRequest::default();
                        req.group_id = GroupId(StrBytes::from_static_str(CONSUMER_GROUP));
                        req.groups = vec![
                            kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup::default(
                            )
                            .with_group_id(GroupId(StrBytes::from_static_str(CONSUMER_GROUP))),
                        ];
                        encode(key, v, 1, &b.offset_fetch(&world, &req, v))
                    }
                    ApiKey::ListOffsets => {
                        encode(key, v, 1, &b.list_offsets(&world, &ListOffsetsRequest::default()))
                    }
                    ApiKey::OffsetCommit => encode(key, v, 1, &OffsetCommitResponse::default()),
                    _ => unreachable!(),
                };
                let out = out.unwrap_or_else(|e| panic!("{key:?} v{v}: {e:#}"));
                let mut bytes = out.freeze();
                let _ = ResponseHeader::decode(&mut bytes, key.response_header_version(v))
                    .unwrap_or_else(|e| panic!("{key:?} v{v} header: {e:#}"));
                assert!(!bytes.is_empty() || key == ApiKey::OffsetCommit, "{key:?} v{v}: empty body");
            }
        }
    }

    #[test]
    fn a_member_s_assignment_decodes_to_its_share_of_the_partitions() {
        let world = sample_world();
        let members = members(&world);
        assert!(!members.is_empty());
        let mut seen = Vec::new();
        for m in &members {
            let mut raw = m.member_assignment.clone();
            let version = raw.get_i16();
            let a = ConsumerProtocolAssignment::decode(&mut raw, version).expect("decodes");
            seen.extend(a.assigned_partitions[0].partitions.iter().copied());
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..PARTITIONS as i32).collect::<Vec<_>>());
    }

    #[test]
    fn a_commit_is_refused_while_the_group_has_members_and_moves_an_idle_group() {
        let world = sample_world();
        let group_req = |group: &str, offset: i64| {
            let mut req = OffsetCommitRequest::default();
            req.group_id = GroupId(StrBytes::from_string(group.to_owned()));
            req.generation_id_or_member_epoch = -1;
            req.topics = vec![
                kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                    .with_partitions(vec![
                    kafka_protocol::messages::offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(3)
                        .with_committed_offset(offset),
                ]),
            ];
            req
        };
        let live = coordinator(world.incident, CONSUMER_GROUP);
        let b = broker(world, live);
        let before = lock(&b.world).platform.offsets(3);
        let resp = b.offset_commit(&mut lock(&b.world), &group_req(CONSUMER_GROUP, 0));
        assert_eq!(resp.topics[0].partitions[0].error_code, code::UNKNOWN_MEMBER_ID);
        assert_eq!(lock(&b.world).platform.offsets(3).committed, before.committed);

        let idle = crate::world::REPLAYER_GROUP;
        let b = Broker { id: coordinator(Incident::ConsumerLag, idle), ..b };
        let resp = b.offset_commit(&mut lock(&b.world), &group_req(idle, 5));
        assert_eq!(resp.topics[0].partitions[0].error_code, code::NONE);
        assert_eq!(committed(&lock(&b.world), idle).map(|c| c[3]), Some(5));
        // Every other partition of the group is as it was.
        assert_eq!(committed(&lock(&b.world), idle).map(|c| c[4]), Some(0));
    }
}
