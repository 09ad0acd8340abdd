//! A real Kafka-compatible broker: Tansu (in-memory storage) on a free port, stopped by its PID
//! when dropped, and the confluent-kafka oracle (`tests/kafka/oracle.py`) to drive and read it.
//!
//! Security, as Tansu 0.6.0 really has it:
//! - TLS: its `--cert`/`--key` options are parsed but not served (clap puts them in one group,
//!   so both cannot be given, and the broker builds a `TlsAcceptor` it never uses: the listener
//!   stays plaintext). [`Tansu::start_tls`] therefore puts a TLS-terminating front (rustls, in
//!   this process) before a plaintext Tansu that advertises the front's port: librdkafka, the
//!   oracle and Triage's probe do a real TLS handshake, verified against a throwaway CA
//!   ([`TestPki`], made with the `openssl` CLI), and speak Kafka to a real broker through it.
//! - SASL: `--authentication` is served ([`Tansu::start_sasl`]): before authentication only
//!   ApiVersions, SaslHandshake and SaslAuthenticate are answered. But the 0.6.0 binary offers no
//!   PLAIN (a PLAIN handshake ends in `NoSharedMechanism` and a closed connection), and its
//!   in-memory storage keeps no SCRAM credentials (`tansu user create` needs an authenticated
//!   connection, and the storage's credential upsert does nothing), so every SCRAM login fails
//!   as an unknown user: no login can succeed on it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::paths::{free_port, workspace_root};
use crate::process::{ManagedChild, wait_until};

/// Where `cargo xtask setup` unpacks the pinned Tansu binary.
pub fn tansu_binary() -> PathBuf {
    workspace_root().join("target/tools/tansu/tansu")
}

/// The Python with confluent-kafka that `cargo xtask setup` installs.
pub fn oracle_python() -> PathBuf {
    workspace_root().join("target/tools/kafka/bin/python")
}

pub struct Tansu {
    pub bootstrap: String,
    pub port: u16,
    child: ManagedChild,
    /// The TLS front of [`Tansu::start_tls`], stopped with the broker.
    _front: Option<TlsFront>,
    _dir: tempfile::TempDir,
}

impl Tansu {
    pub async fn start() -> Result<Self> {
        let port = free_port()?;
        let mut tansu = Self::spawn(port, port, &[], None)?;
        let probe = tansu.bootstrap.clone();
        wait_until(&mut tansu.child, Duration::from_secs(20), move || {
            let probe = probe.clone();
            async move { oracle(&probe, &["cluster"]).await.is_ok() }
        })
        .await
        .context("Tansu did not answer metadata")?;
        Ok(tansu)
    }

    /// Tansu behind a TLS front on `127.0.0.1` (see the module doc), with `pki`'s server
    /// certificate; clients verify it with `pki.ca`.
    pub async fn start_tls(pki: &TestPki) -> Result<Self> {
        Self::start_tls_with(pki, false).await
    }

    /// [`Tansu::start_tls`] whose front also requires a client certificate signed by `pki.ca`
    /// (mutual TLS).
    pub async fn start_mtls(pki: &TestPki) -> Result<Self> {
        Self::start_tls_with(pki, true).await
    }

    async fn start_tls_with(pki: &TestPki, client_auth: bool) -> Result<Self> {
        let front = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let front_port = front.local_addr()?.port();
        let broker_port = free_port()?;
        let acceptor = pki.acceptor(client_auth)?;
        let upstream = SocketAddr::from(([127, 0, 0, 1], broker_port));
        let front = TlsFront { task: tokio::spawn(serve_tls_front(front, acceptor, upstream)) };
        let mut tansu = Self::spawn(broker_port, front_port, &[], Some(front))?;
        let config =
            if client_auth { pki.oracle_config_with_client_cert() } else { pki.oracle_config(&pki.ca) };
        let probe = tansu.bootstrap.clone();
        wait_until(&mut tansu.child, Duration::from_secs(20), move || {
            let (probe, config) = (probe.clone(), config.clone());
            async move { oracle_with(&config, &probe, &["cluster"]).await.is_ok() }
        })
        .await
        .context("Tansu did not answer metadata through its TLS front")?;
        Ok(tansu)
    }

    /// Tansu with `--authentication` (SASL required before anything but ApiVersions); see the
    /// module doc for why no client can log in to it. Ready when its port accepts.
    pub async fn start_sasl() -> Result<Self> {
        let port = free_port()?;
        let mut tansu = Self::spawn(port, port, &["--authentication"], None)?;
        wait_until(&mut tansu.child, Duration::from_secs(20), move || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await
        .context("Tansu did not listen")?;
        Ok(tansu)
    }

    /// Starts the broker listening on `port` and advertising `advertised` (the TLS front's).
    fn spawn(port: u16, advertised: u16, extra: &[&str], front: Option<TlsFront>) -> Result<Self> {
        let bin = tansu_binary();
        if !bin.exists() {
            bail!("{} is missing; run `cargo xtask setup`", bin.display());
        }
        let dir = tempfile::Builder::new().prefix("triage-tansu-").tempdir()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{advertised}");
        let mut cmd = Command::new(&bin);
        cmd.args(["broker", "--listener-url", &url, "--advertised-listener-url", &advertised_url])
            .args(["--storage-engine", "memory://tansu/"])
            .args(extra)
            .current_dir(dir.path());
        let child = ManagedChild::spawn("tansu", &mut cmd, Some(dir.path().join("tansu.log")))?;
        let bootstrap = format!("127.0.0.1:{advertised}");
        Ok(Self { bootstrap, port: advertised, child, _front: front, _dir: dir })
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Stops the broker (as a crash would: the port then refuses connections).
    pub fn kill(&mut self) {
        self.child.stop();
    }
}

/// The TLS-terminating front: one task accepting, one per connection copying both ways.
struct TlsFront {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_tls_front(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: SocketAddr,
) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            // A client that fails the handshake (the wrong-CA test) is simply closed.
            let Ok(mut tls) = acceptor.accept(tcp).await else { return };
            let Ok(mut broker) = tokio::net::TcpStream::connect(upstream).await else { return };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// A throwaway PKI made by the `openssl` CLI in a temporary folder: a CA, a server certificate
/// it signed for `127.0.0.1` and `localhost`, a client certificate it signed, and an unrelated
/// second CA (the wrong one).
pub struct TestPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate the CA signed (for mutual TLS), and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestPki {
    pub fn generate() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("triage-pki-").tempdir()?;
        let at = |name: &str| dir.path().join(name);
        for (name, cn) in [("ca", "Triage test CA"), ("other-ca", "Some other CA")] {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={cn}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                &path_arg(&at(&format!("{name}.key"))),
                "-out",
                &path_arg(&at(&format!("{name}.pem"))),
            ])?;
        }
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &path_arg(&at("server.key")),
            "-out",
            &path_arg(&at("server.csr")),
        ])?;
        std::fs::write(
            at("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )?;
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &path_arg(&at("server.csr")),
            "-CA",
            &path_arg(&at("ca.pem")),
            "-CAkey",
            &path_arg(&at("ca.key")),
            "-CAcreateserial",
            "-extfile",
            &path_arg(&at("server.ext")),
            "-out",
            &path_arg(&at("server.pem")),
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=triage",
            "-keyout",
            &path_arg(&at("client.key")),
            "-out",
            &path_arg(&at("client.csr")),
        ])?;
        std::fs::write(
            at("client.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )?;
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &path_arg(&at("client.csr")),
            "-CA",
            &path_arg(&at("ca.pem")),
            "-CAkey",
            &path_arg(&at("ca.key")),
            "-CAcreateserial",
            "-extfile",
            &path_arg(&at("client.ext")),
            "-out",
            &path_arg(&at("client.pem")),
        ])?;
        Ok(Self {
            client_cert: at("client.pem"),
            client_key: at("client.key"),
            ca: at("ca.pem"),
            server_cert: at("server.pem"),
            server_key: at("server.key"),
            other_ca: at("other-ca.pem"),
            _dir: dir,
        })
    }

    /// The server side of the front: the server certificate and its key, and with
    /// `client_auth` a client certificate required, verified against the CA.
    fn acceptor(&self, client_auth: bool) -> Result<tokio_rustls::TlsAcceptor> {
        let certs = read_pem_certs(&self.server_cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.server_key).context("the server key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            for ca in read_pem_certs(&self.ca)? {
                roots.add(ca)?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(builder.with_single_cert(certs, key)?)))
    }

    /// librdkafka settings for the oracle trusting the CA and presenting the client certificate.
    pub fn oracle_config_with_client_cert(&self) -> serde_json::Value {
        serde_json::json!({
            "security.protocol": "ssl", "ssl.ca.location": path_arg(&self.ca),
            "ssl.certificate.location": path_arg(&self.client_cert),
            "ssl.key.location": path_arg(&self.client_key),
        })
    }

    /// librdkafka settings for the oracle trusting `ca`.
    pub fn oracle_config(&self, ca: &Path) -> serde_json::Value {
        serde_json::json!({"security.protocol": "ssl", "ssl.ca.location": path_arg(ca)})
    }
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("the certificates in {}", path.display()))
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs the `openssl` CLI with `args` (each its own argv item, no shell).
fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl").args(args).output().context("cannot run openssl")?;
    ensure!(
        out.status.success(),
        "openssl {} failed: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs one oracle subcommand and parses its JSON answer (the last line it prints).
pub async fn oracle(bootstrap: &str, args: &[&str]) -> Result<serde_json::Value> {
    oracle_with(&serde_json::json!({}), bootstrap, args).await
}

/// [`oracle`] with extra librdkafka settings (`KAFKA_ORACLE_CONFIG`: TLS, SASL).
pub async fn oracle_with(
    config: &serde_json::Value,
    bootstrap: &str,
    args: &[&str],
) -> Result<serde_json::Value> {
    let script = workspace_root().join("tests/kafka/oracle.py");
    let out = tokio::process::Command::new(oracle_python())
        .env("KAFKA_ORACLE_CONFIG", config.to_string())
        .arg(&script)
        .arg(args[0])
        .arg(bootstrap)
        .args(&args[1..])
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run the confluent-kafka oracle")?;
    if !out.status.success() {
        bail!("oracle {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("null");
    serde_json::from_str(last).with_context(|| format!("oracle {} printed {text:?}", args.join(" ")))
}

/// A consumer that stays in `group` until dropped (the oracle's `consume --hold`), once it has
/// its assignment.
pub struct HeldConsumer {
    child: tokio::process::Child,
}

impl HeldConsumer {
    pub async fn join(bootstrap: &str, group: &str, topic: &str, count: u32) -> Result<Self> {
        use tokio::io::AsyncBufReadExt;
        let script = workspace_root().join("tests/kafka/oracle.py");
        let mut child = tokio::process::Command::new(oracle_python())
            .arg(&script)
            .args(["consume", bootstrap, group, topic, &count.to_string(), "--hold", "600"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the held consumer")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(90), async {
            while let Some(line) = lines.next_line().await? {
                if line.trim() == "ready" {
                    return Ok::<bool, anyhow::Error>(true);
                }
            }
            Ok(false)
        })
        .await
        .context("the held consumer got no assignment within 90 s")??;
        if !ready {
            bail!("the held consumer exited before it was assigned partitions");
        }
        Ok(Self { child })
    }
}

impl Drop for HeldConsumer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
