//! A small TCP proxy for tests: round-robin over several upstreams (as a Kubernetes Service
//! spreads connections over replicas), with faults a real server cannot be made to produce on
//! demand (added latency, connections reset or cut off after some bytes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How the proxy treats new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward faithfully.
    None,
    /// Wait this long before forwarding each chunk from the upstream.
    Latency(Duration),
    /// Accept, then close at once without answering.
    Reset,
    /// Forward only the first N bytes of the upstream's answer, then close.
    Truncate(usize),
    /// Accept and never answer.
    Hang,
}

/// Stops when dropped.
pub struct TcpProxy {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    fault: watch::Sender<Fault>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port; connection `i` goes to `upstreams[i % len]`.
    pub async fn start(upstreams: Vec<SocketAddr>) -> Result<Self> {
        anyhow::ensure!(!upstreams.is_empty(), "a proxy needs at least one upstream");
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let (fault, fault_rx) = watch::channel(Fault::None);
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let upstream = upstreams[n % upstreams.len()];
                let fault = *fault_rx.borrow();
                tokio::spawn(async move {
                    let _ = serve(client, upstream, fault).await;
                });
            }
        });
        Ok(Self { addr, connections, fault, task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Applies to connections accepted from now on.
    pub fn set_fault(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, fault: Fault) -> Result<()> {
    match fault {
        Fault::Reset => {
            client.set_zero_linger()?;
            drop(client);
            return Ok(());
        }
        Fault::Hang => {
            let mut sink = [0u8; 4096];
            while client.read(&mut sink).await? > 0 {}
            return Ok(());
        }
        _ => {}
    }
    let server = TcpStream::connect(upstream).await?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream_to_client = async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut sent = 0usize;
        loop {
            let n = server_read.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            let mut chunk = &buf[..n];
            match fault {
                Fault::Latency(delay) => tokio::time::sleep(delay).await,
                Fault::Truncate(limit) => {
                    let room = limit.saturating_sub(sent);
                    if room < chunk.len() {
                        chunk = &chunk[..room];
                        client_write.write_all(chunk).await?;
                        break;
                    }
                }
                _ => {}
            }
            client_write.write_all(chunk).await?;
            sent += chunk.len();
        }
        client_write.shutdown().await?;
        anyhow::Ok(())
    };
    let client_to_upstream = async move {
        tokio::io::copy(&mut client_read, &mut server_write).await?;
        server_write.shutdown().await?;
        anyhow::Ok(())
    };
    // When the answer is done (or cut), the connection is over.
    tokio::select! {
        r = upstream_to_client => r,
        r = client_to_upstream => { r?; std::future::pending().await }
    }
}
