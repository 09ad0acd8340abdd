//! Where things are: the workspace, the built frontend, the folder for test artefacts.

use std::path::PathBuf;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(name)
}

/// The manifests of workloads whose labels overlap (`tests/fixtures/blast-radius.yaml`):
/// Deployments `checkout` (selector by expressions only) and `checkout-canary`, StatefulSet
/// `cache` and bare Pod `debug-shell`, all carrying `tier: web`.
pub fn blast_radius_fixture() -> PathBuf {
    fixture("blast-radius.yaml")
}

/// Screenshots and other artefacts of test runs: `target/test-output/`.
pub fn test_output_dir() -> PathBuf {
    let dir = workspace_root().join("target/test-output");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Fails with instructions when the release frontend has not been built.
pub fn require_frontend() -> anyhow::Result<()> {
    if workspace_root().join("dist/index.html").exists() {
        Ok(())
    } else {
        anyhow::bail!("dist/index.html is missing: build the frontend first with `cargo xtask frontend`")
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
