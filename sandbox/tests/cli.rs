//! The `triage-sandbox` binary: runs, writes a kubeconfig, switches incidents from the CLI, and
//! its health endpoints follow the incident.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A minimal HTTP GET returning (status line, body).
fn http_get(addr: &str, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, body))
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn run_switch_incident_and_health() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let (api, metrics) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let _child = Child(
        Command::new(env!("CARGO_BIN_EXE_triage-sandbox"))
            .args([
                "run",
                "--api-addr",
                &api,
                "--metrics-addr",
                &metrics,
                "--incident",
                "healthy",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sandbox"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(&metrics, "/health/ml-inference").is_err() {
        assert!(Instant::now() < deadline, "sandbox did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let config = std::fs::read_to_string(&kubeconfig).expect("kubeconfig written");
    assert!(config.contains(&format!("server: http://{api}")), "{config}");

    let (status, body) = http_get(&metrics, "/health/ml-inference").expect("health");
    assert!(status.contains("200"), "{status} {body}");
    assert!(body.contains("\"status\":\"healthy\""), "{body}");

    let out = Command::new(env!("CARGO_BIN_EXE_triage-sandbox"))
        .args(["incident", "model-loading", "--control", &format!("http://{metrics}")])
        .output()
        .expect("run incident");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, body) = http_get(&metrics, "/control/incident").expect("control");
    assert!(body.contains("model-loading"), "{body}");
    let (status, body) = http_get(&metrics, "/health/ml-inference").expect("health");
    assert!(status.contains("503"), "{status} {body}");
    assert!(body.contains("\"model\":{\"detail\"") || body.contains("failing"), "{body}");

    let bad = Command::new(env!("CARGO_BIN_EXE_triage-sandbox"))
        .args(["incident", "no-such-incident", "--control", &format!("http://{metrics}")])
        .output()
        .expect("run incident");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown incident"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
