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
fn check_config_reports_every_environment_and_each_one_s_problems() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[[environments]]\nname = \"staging\"\n[environments.prometheus]\nurl = \"http://prom.staging:9090\"\n\
         [[environments]]\nname = \"prod-eu\"\nprotection = \"approval\"\n[environments.kafka]\nbootstrap = \"k0:9092,k1:9092\"\n"
    )
    .expect("write");
    let out = triage().arg("check-config").arg("--config").arg(file.path()).output().expect("run triage");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("environment staging (standard): Prometheus http://prom.staging:9090/"), "{text}");
    assert!(text.contains("environment prod-eu (approval): Kafka k0:9092,k1:9092"), "{text}");

    // Two environments with a problem each, and a top-level section beside them: the first two
    // are reported together, each naming its environment.
    let mut bad = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        bad,
        "[[environments]]\nname = \"staging\"\ncolour = \"green\"\n\
         [[environments]]\nname = \"prod-eu\"\n[environments.kafka]\nbootstrap = \"no-port\"\n"
    )
    .expect("write");
    let out = triage().arg("check-config").arg("--config").arg(bad.path()).output().expect("run triage");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("environments[0] (staging).colour"), "{text}");
    assert!(text.contains("environments[1] (prod-eu).kafka.bootstrap"), "{text}");

    let mut mixed = tempfile::NamedTempFile::new().expect("temp file");
    write!(mixed, "[prometheus]\nurl = \"http://p:9090\"\n[[environments]]\nname = \"staging\"\n")
        .expect("write");
    let out = triage().arg("check-config").arg("--config").arg(mixed.path()).output().expect("run triage");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("key `prometheus`") && text.contains("[environments.prometheus]"), "{text}");

    let mut twice = tempfile::NamedTempFile::new().expect("temp file");
    write!(twice, "[[environments]]\nname = \"Prod EU\"\n[[environments]]\nname = \"b\"\nalert_values = [\"b\", \"x\"]\n[[environments]]\nname = \"c\"\nalert_values = [\"x\"]\n").expect("write");
    let out = triage().arg("check-config").arg("--config").arg(twice.path()).output().expect("run triage");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("environments[0] (Prod EU).name") && text.contains("not an environment name"),
        "{text}"
    );
    assert!(
        text.contains("environments[2] (c).alert_values")
            && text.contains("already names the environment \"b\""),
        "{text}"
    );
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
