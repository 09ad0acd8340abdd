//! A small connection pool: at most `size` connections per target, idle ones kept for reuse,
//! dead ones (server restarted, network cut) dropped on checkout so the next request reconnects.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Config, NoTls};

pub struct Pool {
    config: Config,
    connect_timeout: Duration,
    idle: Arc<Mutex<Vec<Client>>>,
    permits: Arc<Semaphore>,
}

/// A checked-out connection; goes back to the pool when dropped unless discarded.
pub struct Conn {
    /// Always `Some` until dropped.
    client: Option<Client>,
    keep: bool,
    idle: Arc<Mutex<Vec<Client>>>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(config: Config, size: usize, connect_timeout: Duration) -> Self {
        Self { config, connect_timeout, idle: Arc::default(), permits: Arc::new(Semaphore::new(size.max(1))) }
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// An idle live connection, or a new one. Waits for a free slot when all are in use.
    pub async fn get(&self) -> Result<Conn, tokio_postgres::Error> {
        // The semaphore is never closed, so acquiring only fails if it were; treat as full wait.
        let permit = loop {
            if let Ok(p) = Arc::clone(&self.permits).acquire_owned().await {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.retain(|c| !c.is_closed());
            idle.pop()
        };
        let client = match reused {
            Some(c) => c,
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("PostgreSQL analysis connection closed: {e}");
                    }
                });
                client
            }
        };
        Ok(Conn { client: Some(client), keep: true, idle: Arc::clone(&self.idle), _permit: permit })
    }
}

impl Conn {
    pub fn client_mut(&mut self) -> &mut Client {
        match self.client.as_mut() {
            Some(c) => c,
            None => unreachable!("the client is only taken when the connection is dropped"),
        }
    }

    /// Drops the connection instead of returning it to the pool.
    pub fn discard(&mut self) {
        self.keep = false;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && self.keep
            && !client.is_closed()
        {
            self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(client);
        }
    }
}
