//! Kafka over TLS and SASL against a real broker (Tansu 0.6.0), with confluent-kafka (an
//! independent client) as the oracle of what the broker answers.
//!
//! TLS: Tansu 0.6.0 does not serve TLS (its `--cert`/`--key` are parsed, never used), so
//! `Tansu::start_tls` fronts a plaintext Tansu with a rustls TLS terminator in the harness that
//! Tansu advertises as its listener: every client does a real handshake, verified against a CA
//! made for the test, then speaks Kafka to the real broker. What this proves is Triage's TLS
//! client side (librdkafka's `ssl` settings and the probe's rustls), not a broker's TLS.
//!
//! SASL: Tansu's `--authentication` is real, but no login can succeed on the 0.6.0 binary (it
//! offers no PLAIN, and its memory storage keeps no SCRAM users; see `tests/src/tansu.rs`). So
//! these tests show each refusal reported as an authentication problem in words, within the
//! timeouts, with the password in no answer; a successful SASL login (right password versus
//! wrong) is not tested against a real broker here.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use triage::config::{AuthSettings, Settings};
use triage_shared::actions::Role;
use triage_shared::kafka::{ConnectionErrorKind, KafkaCluster, KafkaTopicList};
use triage_tests::TestApp;
use triage_tests::tansu::{Tansu, TestPki, oracle_with};

/// Each Kafka request's timeout in these tests; a failing view must answer well within a few.
const TIMEOUT_SECS: u64 = 3;

fn settings(kafka: Value) -> Result<Settings> {
    let mut s: Settings = serde_json::from_value(json!({ "kafka": kafka }))?;
    s.auth = AuthSettings::Local { local_role: Role::Reader };
    Ok(s)
}

/// `GET path` as status and body text (an error answer is read, not failed on).
async fn get_text(app: &TestApp, path: &str) -> Result<(u16, String)> {
    let resp = app.http.get(app.url(path)).send().await?;
    Ok((resp.status().as_u16(), resp.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_right_ca_reads_the_cluster_and_a_wrong_ca_is_a_tls_error_in_words() -> Result<()> {
    let pki = TestPki::generate()?;
    let tansu = Tansu::start_tls(&pki).await?;
    let b = tansu.bootstrap.clone();
    let trusted = pki.oracle_config(&pki.ca);
    oracle_with(&trusted, &b, &["create-topic", "payments", "3"]).await?;
    oracle_with(&trusted, &b, &["produce", "payments", "9"]).await?;

    // A second client agrees the broker is only reachable with the right CA.
    let refused = oracle_with(&pki.oracle_config(&pki.other_ca), &b, &["cluster"]).await;
    ensure!(refused.is_err(), "confluent-kafka trusted the wrong CA: {refused:?}");

    // The right CA: brokers as confluent-kafka lists them, each probed over TLS.
    let app = TestApp::start_with(settings(json!({
        "bootstrap": b, "timeout_secs": TIMEOUT_SECS, "tls": {"ca_file": pki.ca},
    }))?)
    .await?;
    let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
    let expected = oracle_with(&trusted, &b, &["cluster"]).await?;
    let ids: Vec<i64> = cluster.brokers.iter().map(|b| i64::from(b.id)).collect();
    let oracle_ids: Vec<i64> =
        expected["brokers"].as_array().context("brokers")?.iter().filter_map(|b| b["id"].as_i64()).collect();
    assert_eq!(ids, oracle_ids);
    assert!(cluster.metadata_error.is_none() && cluster.unlisted.is_empty(), "{cluster:?}");
    let broker = cluster.brokers.first().context("a broker")?;
    assert!(broker.reachable && broker.error.is_none(), "{broker:?}");
    for api in ["ApiVersions", "Metadata", "Fetch"] {
        assert!(broker.api_versions.iter().any(|v| v.name == api), "{api} in {:?}", broker.api_versions);
    }
    // The probe's Metadata ran over TLS too: the controller confluent-kafka names.
    assert_eq!(cluster.controller.map(i64::from), expected["controller"].as_i64());
    let topics: KafkaTopicList = app.get_json("/api/kafka/topics").await?;
    let theirs = oracle_with(&trusted, &b, &["topics"]).await?;
    let payments = topics.topics.iter().find(|t| t.name == "payments").context("payments listed")?;
    let their_partitions = theirs["payments"].as_array().context("payments in the oracle")?.len();
    assert_eq!(payments.partitions as usize, their_partitions);
    app.stop().await?;

    // The wrong CA: an answer within the timeouts, the bootstrap server a TLS error in words,
    // the metadata error a TLS one too; the topics route an error, not a hang.
    let app = TestApp::start_with(settings(json!({
        "bootstrap": b, "timeout_secs": TIMEOUT_SECS, "tls": {"ca_file": pki.other_ca},
    }))?)
    .await?;
    let started = Instant::now();
    let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
    let took = started.elapsed();
    ensure!(took < Duration::from_secs(3 * TIMEOUT_SECS), "the cluster view took {took:?}");
    assert!(cluster.brokers.is_empty(), "{cluster:?}");
    let server = cluster.unlisted.first().context("the bootstrap server is listed")?;
    assert!(!server.reachable, "{server:?}");
    let error = server.error.as_ref().context("the bootstrap server's error")?;
    assert_eq!(error.kind, ConnectionErrorKind::Tls, "{error:?}");
    assert!(error.message.contains("certificate verify failed: unknown issuer"), "{error:?}");
    let metadata = cluster.metadata_error.as_ref().context("a metadata error")?;
    assert_eq!(metadata.kind, ConnectionErrorKind::Tls, "{metadata:?}");
    assert!(metadata.message.to_ascii_lowercase().contains("certificate"), "{metadata:?}");
    let started = Instant::now();
    let (status, body) = get_text(&app, "/api/kafka/topics").await?;
    ensure!(started.elapsed() < Duration::from_secs(3 * TIMEOUT_SECS), "topics took {:?}", started.elapsed());
    assert!(status >= 400, "{status} {body}");
    assert!(body.to_ascii_lowercase().contains("certificate"), "{body}");
    app.stop().await?;

    // TLS configured against a plaintext listener: the probe names the TLS handshake that got
    // no answer, within the timeout.
    let plaintext = Tansu::start().await?;
    let app = TestApp::start_with(settings(json!({
        "bootstrap": plaintext.bootstrap, "timeout_secs": TIMEOUT_SECS, "tls": {"ca_file": pki.ca},
    }))?)
    .await?;
    let started = Instant::now();
    let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
    ensure!(started.elapsed() < Duration::from_secs(3 * TIMEOUT_SECS), "took {:?}", started.elapsed());
    assert!(cluster.metadata_error.is_some(), "{cluster:?}");
    let server = cluster.unlisted.first().context("the bootstrap server is listed")?;
    let error = server.error.as_ref().context("the probe's error")?;
    assert_eq!(error.kind, ConnectionErrorKind::Tls, "{error:?}");
    assert!(error.message.contains("TLS listener"), "{error:?}");
    app.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mutual_tls_the_client_certificate_is_presented_and_its_absence_is_a_tls_error() -> Result<()> {
    let pki = TestPki::generate()?;
    let tansu = Tansu::start_mtls(&pki).await?;
    let b = tansu.bootstrap.clone();
    // confluent-kafka: with the client certificate the broker answers, without it not.
    let expected = oracle_with(&pki.oracle_config_with_client_cert(), &b, &["cluster"]).await?;
    let without = oracle_with(&pki.oracle_config(&pki.ca), &b, &["cluster"]).await;
    ensure!(without.is_err(), "the front let confluent-kafka in without a certificate: {without:?}");

    let app = TestApp::start_with(settings(json!({
        "bootstrap": b, "timeout_secs": TIMEOUT_SECS,
        "tls": {"ca_file": pki.ca, "cert_file": pki.client_cert, "key_file": pki.client_key},
    }))?)
    .await?;
    let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
    assert!(cluster.metadata_error.is_none(), "{cluster:?}");
    let broker = cluster.brokers.first().context("a broker")?;
    assert!(broker.reachable && !broker.api_versions.is_empty(), "{broker:?}");
    assert_eq!(cluster.controller.map(i64::from), expected["controller"].as_i64());
    app.stop().await?;

    let app = TestApp::start_with(settings(json!({
        "bootstrap": b, "timeout_secs": TIMEOUT_SECS, "tls": {"ca_file": pki.ca},
    }))?)
    .await?;
    let started = Instant::now();
    let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
    ensure!(started.elapsed() < Duration::from_secs(3 * TIMEOUT_SECS), "took {:?}", started.elapsed());
    assert!(cluster.metadata_error.is_some(), "{cluster:?}");
    let server = cluster.unlisted.first().context("the bootstrap server is listed")?;
    let error = server.error.as_ref().context("the probe's error")?;
    assert_eq!(error.kind, ConnectionErrorKind::Tls, "{error:?}");
    assert!(error.message.contains("Certificate"), "{error:?}");
    app.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sasl_login_is_authentication_in_words_and_the_password_shows_nowhere() -> Result<()> {
    let tansu = Tansu::start_sasl().await?;
    let b = tansu.bootstrap.clone();
    let scram_password = "scram-pw-94d2b8";
    let plain_password = "plain-pw-7c1f0e";

    // SCRAM: the broker refuses the login (it knows no SCRAM user), as it does confluent-kafka's.
    let scram_oracle = json!({"security.protocol": "sasl_plaintext", "sasl.mechanism": "SCRAM-SHA-256",
                              "sasl.username": "triage", "sasl.password": scram_password});
    let refused = oracle_with(&scram_oracle, &b, &["cluster"]).await;
    ensure!(refused.is_err(), "confluent-kafka logged in with SCRAM: {refused:?}");
    let scram = settings(json!({
        "bootstrap": b, "timeout_secs": TIMEOUT_SECS,
        "sasl": {"mechanism": "SCRAM-SHA-256", "username": "triage", "password": scram_password},
    }))?;
    let debug = format!("{scram:?}");
    assert!(!debug.contains(scram_password), "the settings' Debug shows the password: {debug}");
    let app = TestApp::start_with(scram).await?;
    let started = Instant::now();
    let (status, body) = get_text(&app, "/api/kafka/cluster").await?;
    let took = started.elapsed();
    ensure!(took < Duration::from_secs(3 * TIMEOUT_SECS), "the cluster view took {took:?}");
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(scram_password), "the password is in the answer: {body}");
    let cluster: KafkaCluster = serde_json::from_str(&body)?;
    let metadata = cluster.metadata_error.as_ref().context("a metadata error")?;
    assert_eq!(metadata.kind, ConnectionErrorKind::Authentication, "{metadata:?}");
    assert!(metadata.message.contains("SASL"), "{metadata:?}");
    // The probe: ApiVersions and the SCRAM handshake answer before authentication, so the
    // bootstrap server is reachable with its API versions; the login itself is librdkafka's.
    let server = cluster.unlisted.first().context("the bootstrap server is listed")?;
    assert!(server.reachable && server.latency_ms.is_some(), "{server:?}");
    for path in ["/api/kafka/topics", "/api/kafka/groups"] {
        let (status, body) = get_text(&app, path).await?;
        assert!(status >= 400, "{path}: {status} {body}");
        assert!(body.contains("SASL") && !body.contains(scram_password), "{path}: {body}");
    }
    app.stop().await?;

    // PLAIN, which this broker does not offer: it ends the connection at the handshake, and
    // both librdkafka's metadata and the probe say so as an authentication problem.
    let app = TestApp::start_with(settings(json!({
        "bootstrap": b, "timeout_secs": TIMEOUT_SECS,
        "sasl": {"mechanism": "PLAIN", "username": "triage", "password": plain_password},
    }))?)
    .await?;
    let started = Instant::now();
    let (status, body) = get_text(&app, "/api/kafka/cluster").await?;
    ensure!(started.elapsed() < Duration::from_secs(3 * TIMEOUT_SECS), "took {:?}", started.elapsed());
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(plain_password), "the password is in the answer: {body}");
    let cluster: KafkaCluster = serde_json::from_str(&body)?;
    assert!(cluster.metadata_error.is_some(), "{cluster:?}");
    let server = cluster.unlisted.first().context("the bootstrap server is listed")?;
    let error = server.error.as_ref().context("the probe's error")?;
    assert_eq!(error.kind, ConnectionErrorKind::Authentication, "{error:?}");
    assert!(error.message.contains("SASL PLAIN"), "{error:?}");
    app.stop().await?;
    Ok(())
}
