//! The direct probe of one broker: connect (TLS first when `[kafka.tls]` is set), ask
//! `ApiVersions` (what `kafka-broker-api-versions.sh` shows) and, on the same connection, a
//! topic-less `Metadata` for the cluster id, the controller and the racks, which librdkafka does
//! not expose.
//!
//! Requests and responses are `kafka-protocol`'s generated codecs; this file only frames them
//! (a 4-byte length before each message) on a connection bounded by the configured timeout.
//!
//! TLS is rustls through `tokio-rustls` (the stack reqwest and kube already use), verifying the
//! broker against `ca_file` (or the system's roots) and its name or IP, and presenting the client
//! certificate when one is configured, as librdkafka does. A failed handshake is
//! [`ConnectionErrorKind::Tls`] in words ("certificate verify failed: unknown issuer").
//!
//! SASL: `ApiVersions` needs no authentication, so it is always asked. Then the probe sends
//! `SaslHandshake` with the configured mechanism (a broker that does not enable it is an
//! authentication problem naming the ones it does). With PLAIN it authenticates
//! (`SaslAuthenticate`) and asks `Metadata`; with SCRAM it stops after the handshake and skips
//! `Metadata` (a SASL listener refuses it before authentication, and the probe does not carry a
//! SCRAM client): the credentials themselves are proved by librdkafka's metadata call, whose
//! error the cluster view reports beside the brokers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use triage_shared::kafka::{ApiVersionRange, ConnectionErrorKind, KafkaProblem};

use crate::config::{KafkaSettings, KafkaTls, SaslMechanism};

/// The most bytes read of one probe response (a topic-less metadata answer is a few KB).
const MAX_RESPONSE: usize = 4 << 20;

/// Kafka's UNSUPPORTED_VERSION and UNSUPPORTED_SASL_MECHANISM error codes.
const UNSUPPORTED_VERSION: i16 = 35;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;

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

/// How the probe reaches the brokers: the TLS client (built once from `[kafka.tls]`) and the
/// SASL mechanism and credentials of `[kafka.sasl]`.
#[derive(Clone, Default)]
pub struct Security {
    tls: Option<tokio_rustls::TlsConnector>,
    sasl: Option<Sasl>,
}

#[derive(Clone)]
struct Sasl {
    mechanism: SaslMechanism,
    username: String,
    password: SecretString,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|s| s.mechanism.as_str()))
            .finish()
    }
}

impl Security {
    /// Reads the CA and client certificate files; an unreadable or empty file is an error
    /// naming it (librdkafka refuses the same configuration when the client is created).
    pub fn from_settings(settings: &KafkaSettings) -> Result<Self, String> {
        let tls = settings.tls.as_ref().map(tls_connector).transpose()?;
        let sasl = settings.sasl.as_ref().map(|s| Sasl {
            mechanism: s.mechanism,
            username: s.username.clone(),
            password: s.password.clone(),
        });
        Ok(Self { tls, sasl })
    }
}

fn tls_connector(tls: &KafkaTls) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            let certs = read_certs(path, "kafka.tls.ca_file")?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("kafka.tls.ca_file {}: no usable CA certificate", path.display()));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("kafka.tls: {e}"))?
        .with_root_certificates(roots);
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert, "kafka.tls.cert_file")?;
            let pem = std::fs::read(key).map_err(|e| format!("kafka.tls.key_file {}: {e}", key.display()))?;
            let key_der = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| format!("kafka.tls.key_file {}: no private key ({e})", key.display()))?;
            builder
                .with_client_auth_cert(certs, key_der)
                .map_err(|e| format!("kafka.tls.cert_file/key_file: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn read_certs(path: &std::path::Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{key} {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{key} {}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

fn problem(kind: ConnectionErrorKind, message: impl Into<String>) -> KafkaProblem {
    KafkaProblem { kind, message: message.into() }
}

/// Probes `host:port` within `timeout`.
pub async fn probe(host: &str, port: i32, timeout: Duration, security: &Security) -> Probe {
    // Set while the TLS handshake runs, so a listener that never answers the ClientHello (a
    // plaintext one waits for the rest of a "frame") is named as a TLS problem.
    let in_handshake = AtomicBool::new(false);
    match tokio::time::timeout(timeout, probe_inner(host, port, security, &in_handshake)).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => Probe { error: Some(e), ..Probe::default() },
        Err(_) if in_handshake.load(Ordering::Relaxed) => Probe {
            error: Some(problem(
                ConnectionErrorKind::Tls,
                format!(
                    "TLS handshake with {host}:{port}: no answer within {} s (is it a TLS listener?)",
                    timeout.as_secs_f64()
                ),
            )),
            ..Probe::default()
        },
        Err(_) => Probe {
            error: Some(problem(
                ConnectionErrorKind::Timeout,
                format!("{host}:{port} did not answer within {} s", timeout.as_secs_f64()),
            )),
            ..Probe::default()
        },
    }
}

async fn probe_inner(
    host: &str,
    port: i32,
    security: &Security,
    in_handshake: &AtomicBool,
) -> Result<Probe, KafkaProblem> {
    let port = u16::try_from(port)
        .map_err(|_| problem(ConnectionErrorKind::Other, format!("port {port} is not a TCP port")))?;
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| problem(ConnectionErrorKind::Dns, format!("cannot resolve {host}: {e}")))?
        .collect();
    let Some(addr) = addrs.first() else {
        return Err(problem(ConnectionErrorKind::Dns, format!("{host} resolves to no address")));
    };
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
            ConnectionErrorKind::Refused
        } else {
            ConnectionErrorKind::Other
        };
        problem(kind, format!("cannot connect to {host}:{port}: {e}"))
    })?;
    let Some(connector) = &security.tls else {
        let mut stream = stream;
        return probe_stream(&mut stream, security.sasl.as_ref()).await;
    };
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| problem(ConnectionErrorKind::Tls, format!("{host} is not a TLS server name: {e}")))?;
    in_handshake.store(true, Ordering::Relaxed);
    let handshake = connector.connect(name, stream).await;
    in_handshake.store(false, Ordering::Relaxed);
    let mut stream = handshake.map_err(|e| problem(ConnectionErrorKind::Tls, tls_words(host, port, &e)))?;
    probe_stream(&mut stream, security.sasl.as_ref()).await
}

/// A failed handshake in words, from rustls' error where there is one.
fn tls_words(host: &str, port: u16, e: &std::io::Error) -> String {
    let what = match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            use rustls::CertificateError as C;
            let why = match c {
                C::UnknownIssuer => "unknown issuer".to_owned(),
                C::Expired | C::ExpiredContext { .. } => "certificate expired".to_owned(),
                C::NotValidYet | C::NotValidYetContext { .. } => "certificate not valid yet".to_owned(),
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    format!("the certificate is not valid for {host}")
                }
                C::BadSignature => "bad signature".to_owned(),
                C::Revoked => "certificate revoked".to_owned(),
                other => format!("{other:?}"),
            };
            format!("certificate verify failed: {why}")
        }
        Some(rustls::Error::AlertReceived(alert)) => format!("the broker refused the handshake ({alert:?})"),
        Some(other) => other.to_string(),
        None if matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ) =>
        {
            "the broker closed the connection during the handshake (is it a TLS listener?)".to_owned()
        }
        None => e.to_string(),
    };
    format!("TLS handshake with {host}:{port} failed: {what}")
}

/// ApiVersions, the SASL steps when configured, then Metadata when the connection may ask it.
async fn probe_stream<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    sasl: Option<&Sasl>,
) -> Result<Probe, KafkaProblem> {
    let started = Instant::now();
    let versions = api_versions(stream).await?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut out = Probe { latency_ms: Some(latency_ms), api_versions: versions, ..Probe::default() };
    let max_of = |key: ApiKey| out.api_versions.iter().find(|v| v.api_key == key as i16).map(|v| v.max);
    let metadata_max = max_of(ApiKey::Metadata);
    let authenticate_max = max_of(ApiKey::SaslAuthenticate);
    if let Some(sasl) = sasl {
        let may_ask = match sasl_steps(stream, sasl, authenticate_max).await {
            Ok(authenticated) => authenticated,
            Err(e) => {
                out.error = Some(e);
                return Ok(out);
            }
        };
        if !may_ask {
            return Ok(out);
        }
    }
    // Metadata is extra: what it adds is shown when it answers.
    if let Some(max) = metadata_max
        && max >= 1
        && let Ok(md) = metadata(stream, max.min(12)).await
    {
        out.cluster_id = md.cluster_id.map(|s| s.to_string());
        out.controller = (md.controller_id.0 >= 0).then_some(md.controller_id.0);
        out.racks =
            md.brokers.iter().map(|b| (b.node_id.0, b.rack.as_ref().map(|r| r.to_string()))).collect();
    }
    Ok(out)
}

/// `SaslHandshake`, then `SaslAuthenticate` for PLAIN. `Ok(true)` when the connection is
/// authenticated (Metadata may follow), `Ok(false)` when the probe stops after the handshake.
async fn sasl_steps<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    sasl: &Sasl,
    authenticate_max: Option<i16>,
) -> Result<bool, KafkaProblem> {
    let auth = |m: String| problem(ConnectionErrorKind::Authentication, m);
    let mechanism = sasl.mechanism.as_str();
    let req = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    // A broker that cannot start the mechanism may close the connection instead of answering.
    let closed = |step: &str, e: KafkaProblem| {
        auth(format!("the broker ended the connection at SASL {mechanism} {step} ({})", e.message))
    };
    let resp: SaslHandshakeResponse =
        exchange(stream, ApiKey::SaslHandshake, 1, 3, &req).await.map_err(|e| closed("handshake", e))?;
    if resp.error_code == UNSUPPORTED_SASL_MECHANISM {
        let enabled: Vec<String> = resp.mechanisms.iter().map(ToString::to_string).collect();
        return Err(auth(format!(
            "the broker does not enable SASL {mechanism} (it enables: {})",
            if enabled.is_empty() { "none".to_owned() } else { enabled.join(", ") }
        )));
    }
    if resp.error_code != 0 {
        return Err(auth(format!("the broker answered SaslHandshake with error code {}", resp.error_code)));
    }
    if sasl.mechanism != SaslMechanism::Plain {
        return Ok(false);
    }
    let Some(max) = authenticate_max else {
        return Err(problem(
            ConnectionErrorKind::Protocol,
            "the broker lists no SaslAuthenticate version".to_owned(),
        ));
    };
    let mut token = BytesMut::new();
    token.put_u8(0);
    token.extend_from_slice(sasl.username.as_bytes());
    token.put_u8(0);
    token.extend_from_slice(sasl.password.expose_secret().as_bytes());
    let req = SaslAuthenticateRequest::default().with_auth_bytes(token.freeze());
    let resp: SaslAuthenticateResponse = exchange(stream, ApiKey::SaslAuthenticate, max.clamp(0, 2), 4, &req)
        .await
        .map_err(|e| closed("authentication", e))?;
    if resp.error_code != 0 {
        let said = resp.error_message.map(|m| m.to_string()).unwrap_or_default();
        return Err(auth(format!(
            "SASL PLAIN authentication of {:?} failed (error code {}){}",
            sasl.username,
            resp.error_code,
            if said.is_empty() { String::new() } else { format!(": {said}") }
        )));
    }
    Ok(true)
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
    if resp.error_code == UNSUPPORTED_VERSION {
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
    exchange(stream, ApiKey::Metadata, version, 5, &req).await
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
        // With TLS 1.3 a broker refusing the client certificate says so after the handshake,
        // as an alert on the first read.
        if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            let words = match tls {
                rustls::Error::AlertReceived(alert) => {
                    format!("the broker refused the connection ({alert:?})")
                }
                other => other.to_string(),
            };
            return problem(ConnectionErrorKind::Tls, format!("TLS failed during {key:?}: {words}"));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(tls: KafkaTls) -> KafkaSettings {
        KafkaSettings {
            bootstrap: "127.0.0.1:9093".to_owned(),
            timeout_secs: 5,
            allow_offset_reset: false,
            max_groups: 10,
            max_partitions: 10,
            concurrency: 1,
            tls: Some(tls),
            sasl: None,
        }
    }

    #[test]
    fn unreadable_or_empty_tls_files_are_errors_naming_their_key() -> Result<(), String> {
        let missing = KafkaTls { ca_file: Some("/nonexistent/ca.pem".into()), ..KafkaTls::default() };
        let e = Security::from_settings(&settings(missing)).err().ok_or("a missing CA file was accepted")?;
        assert!(e.contains("kafka.tls.ca_file") && e.contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").map_err(|e| e.to_string())?;
        let e = Security::from_settings(&settings(KafkaTls { ca_file: Some(empty), ..KafkaTls::default() }))
            .err()
            .ok_or("a CA file without a certificate was accepted")?;
        assert!(e.contains("no PEM certificate"), "{e}");
        Ok(())
    }

    #[test]
    fn the_debug_of_the_probe_settings_shows_no_password() {
        let security = Security {
            tls: None,
            sasl: Some(Sasl {
                mechanism: SaslMechanism::ScramSha512,
                username: "triage".to_owned(),
                password: SecretString::from("hunter2-secret"),
            }),
        };
        let shown = format!("{security:?}");
        assert!(!shown.contains("hunter2") && shown.contains("SCRAM-SHA-512"), "{shown}");
    }
}
