//! The `triage` binary's command line: help, configuration checks, refusal to start unsafely.

use std::io::Write;
use std::process::Command;

fn triage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_triage"))
}

#[test]
fn help_lists_the_commands() {
    let out = triage().arg("--help").output().expect("run triage");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serve") && text.contains("check-config"), "{text}");
}

#[test]
fn check_config_names_the_bad_key() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "[server]\nrequest_timeout_secs = -3").expect("write");
    let out = triage().arg("check-config").arg("--config").arg(file.path()).output().expect("run triage");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("server.request_timeout_secs"), "{text}");
}

#[test]
fn check_config_accepts_a_good_file() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "[server]\nlisten = \"127.0.0.1:18080\"\n[log]\nformat = \"json\"").expect("write");
    let out = triage().arg("check-config").arg("--config").arg(file.path()).output().expect("run triage");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("127.0.0.1:18080"));
}

#[test]
fn serve_refuses_a_public_address_without_sso() {
    let out = triage().arg("serve").env("TRIAGE__SERVER__LISTEN", "0.0.0.0:0").output().expect("run triage");
    assert_eq!(out.status.code(), Some(2), "must refuse to start");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("auth.mode") && text.contains("loopback"), "{text}");
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let child = triage()
        .arg("serve")
        .arg("--json-logs")
        .env("TRIAGE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn triage");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "triage did not start listening");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "exit after SIGTERM: {:?}", out.status);
    let logs = String::from_utf8_lossy(&out.stdout);
    // JSON logs: every line is an object, and shutdown was logged.
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(logs.contains("shutdown requested"), "{logs}");
}
