//! The direct probe of one broker: connect, ask `ApiVersions` (what
//! `kafka-broker-api-versions.sh` shows) and, on the same connection, a topic-less `Metadata`
//! for the cluster id, the controller and the racks, which librdkafka does not expose.
//!
//! Requests and responses are `kafka-protocol`'s generated codecs; this file only frames them
//! (a 4-byte length before each message) on a connection bounded by the configured timeout.
//! `ApiVersions` needs no authentication, so a SASL listener still answers it; the `Metadata`
//! that follows may then be refused, and the probe reports what it got.

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use triage_shared::kafka::{ApiVersionRange, ConnectionErrorKind, KafkaProblem};

/// The most bytes read of one probe response (a topic-less metadata answer is a few KB).
const MAX_RESPONSE: usize = 4 << 20;

/// What the probe of one address found.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub latency_ms: Option<f64>,
    pub api_versions: Vec<ApiVersionRange>,
    pub cluster_id: Option<String>,
    pub controller: Option<i32>,
    /// Rack of each broker the metadata named.
    pub racks: Vec<(i32, Option<String>)>,
    pub error: Option<KafkaProblem>,
}

fn problem(kind: ConnectionErrorKind, message: impl Into<String>) -> KafkaProblem {
    KafkaProblem { kind, message: message.into() }
}

/// Probes `host:port` within `timeout`.
pub async fn probe(host: &str, port: i32, timeout: Duration) -> Probe {
    match tokio::time::timeout(timeout, probe_inner(host, port)).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => Probe { error: Some(e), ..Probe::default() },
        Err(_) => Probe {
            error: Some(problem(
                ConnectionErrorKind::Timeout,
                format!("{host}:{port} did not answer within {} s", timeout.as_secs_f64()),
            )),
            ..Probe::default()
        },
    }
}

async fn probe_inner(host: &str, port: i32) -> Result<Probe, KafkaProblem> {
    let port = u16::try_from(port)
        .map_err(|_| problem(ConnectionErrorKind::Other, format!("port {port} is not a TCP port")))?;
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| problem(ConnectionErrorKind::Dns, format!("cannot resolve {host}: {e}")))?
        .collect();
    let Some(addr) = addrs.first() else {
        return Err(problem(ConnectionErrorKind::Dns, format!("{host} resolves to no address")));
    };
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
            ConnectionErrorKind::Refused
        } else {
            ConnectionErrorKind::Other
        };
        problem(kind, format!("cannot connect to {host}:{port}: {e}"))
    })?;
    let started = Instant::now();
    let versions = api_versions(&mut stream).await?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut out = Probe { latency_ms: Some(latency_ms), api_versions: versions, ..Probe::default() };
    // Metadata is extra: a SASL listener refuses it before authentication.
    let metadata_max = out.api_versions.iter().find(|v| v.api_key == ApiKey::Metadata as i16).map(|v| v.max);
    if let Some(max) = metadata_max
        && max >= 1
        && let Ok(md) = metadata(&mut stream, max.min(12)).await
    {
        out.cluster_id = md.cluster_id.map(|s| s.to_string());
        out.controller = (md.controller_id.0 >= 0).then_some(md.controller_id.0);
        out.racks =
            md.brokers.iter().map(|b| (b.node_id.0, b.rack.as_ref().map(|r| r.to_string()))).collect();
    }
    Ok(out)
}

async fn api_versions<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> Result<Vec<ApiVersionRange>, KafkaProblem> {
    // v3 first (flexible); a broker older than that answers UNSUPPORTED_VERSION with a v0 body
    // listing what it supports, then v0 is asked.
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("triage"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let mut resp: ApiVersionsResponse = exchange(stream, ApiKey::ApiVersions, 3, 1, &req).await?;
    if resp.error_code == 35 {
        resp = exchange(stream, ApiKey::ApiVersions, 0, 2, &ApiVersionsRequest::default()).await?;
    }
    if resp.error_code != 0 {
        return Err(problem(
            ConnectionErrorKind::Protocol,
            format!("the broker answered ApiVersions with error code {}", resp.error_code),
        ));
    }
    Ok(resp
        .api_keys
        .iter()
        .map(|k| ApiVersionRange {
            api_key: k.api_key,
            name: ApiKey::try_from(k.api_key)
                .map_or_else(|()| format!("unknown({})", k.api_key), |a| format!("{a:?}")),
            min: k.min_version,
            max: k.max_version,
        })
        .collect())
}

async fn metadata<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    version: i16,
) -> Result<MetadataResponse, KafkaProblem> {
    let req = MetadataRequest::default().with_topics(Some(Vec::new()));
    exchange(stream, ApiKey::Metadata, version, 3, &req).await
}

/// Sends one request and reads its response.
pub(super) async fn exchange<S, Req, Resp>(
    stream: &mut S,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    req: &Req,
) -> Result<Resp, KafkaProblem>
where
    S: AsyncRead + AsyncWrite + Unpin,
    Req: Encodable,
    Resp: Decodable,
{
    let protocol = |what: String| problem(ConnectionErrorKind::Protocol, what);
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("triage")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, key.request_header_version(version))
        .and_then(|()| req.encode(&mut body, version))
        .map_err(|e| protocol(format!("cannot encode {key:?}: {e}")))?;
    let len = u32::try_from(body.len()).map_err(|_| protocol("request too large".to_owned()))?;
    let mut frame = BytesMut::with_capacity(body.len() + 4);
    frame.put_u32(len);
    frame.extend_from_slice(&body);
    let io = |e: std::io::Error| {
        let kind = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ConnectionErrorKind::Protocol
        } else {
            ConnectionErrorKind::Other
        };
        problem(kind, format!("the connection failed during {key:?}: {e}"))
    };
    stream.write_all(&frame).await.map_err(io)?;
    let len = stream.read_u32().await.map_err(io)? as usize;
    if len > MAX_RESPONSE {
        return Err(protocol(format!(
            "the {key:?} answer announces {len} bytes (more than {MAX_RESPONSE}); is this a Kafka listener?"
        )));
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await.map_err(io)?;
    let mut buf = bytes::Bytes::from(buf);
    let header = ResponseHeader::decode(&mut buf, key.response_header_version(version))
        .map_err(|e| protocol(format!("cannot decode the {key:?} answer's header: {e}")))?;
    if header.correlation_id != correlation_id {
        return Err(protocol(format!(
            "the {key:?} answer has correlation id {} instead of {correlation_id}",
            header.correlation_id
        )));
    }
    let resp = Resp::decode(&mut buf, version)
        .map_err(|e| protocol(format!("cannot decode the {key:?} answer: {e}")))?;
    if buf.has_remaining() {
        tracing::debug!("{} bytes left after the {key:?} answer", buf.remaining());
    }
    Ok(resp)
}
