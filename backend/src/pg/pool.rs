//! The analysis targets' connection pools, one `deadpool-postgres` pool per target: at most
//! `size` connections, idle ones kept for reuse, a closed one (server restarted, network cut)
//! replaced on checkout, a new connection bounded by the configured connect timeout.
//!
//! A checkout waits for a free connection as long as it takes: every use of a connection is
//! already bounded by the analysis's overall limit, so a busy slot is freed within it.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::{Client, Config, NoTls};
use triage_shared::{ApiError, ErrorKind};

pub struct Pool {
    inner: deadpool_postgres::Pool,
    connect_timeout: Duration,
}

/// A checked-out connection; goes back to the pool when dropped unless discarded.
pub struct Conn {
    /// Always `Some` until dropped.
    object: Option<Object>,
    keep: bool,
}

impl Pool {
    /// `config` carries the connect timeout too (tokio-postgres applies it to each connect).
    pub fn new(
        target: &str,
        config: Config,
        size: usize,
        connect_timeout: Duration,
    ) -> Result<Self, ApiError> {
        // Fast recycling: an idle connection is handed out again unless it is closed, as
        // before; a connection that failed mid-transaction is discarded by its user instead.
        let manager =
            Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let inner = deadpool_postgres::Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| {
                ApiError::new(
                    ErrorKind::Internal,
                    format!("postgres target {target}: cannot set up its pool: {e}"),
                )
            })?;
        Ok(Self { inner, connect_timeout })
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// An idle live connection, or a new one. Waits for a free slot when all are in use.
    pub async fn get(&self, target: &str) -> Result<Conn, ApiError> {
        match self.inner.get().await {
            Ok(object) => Ok(Conn { object: Some(object), keep: true }),
            Err(PoolError::Backend(e)) => Err(super::map_error(target, &e)),
            // No wait, create or recycle timeout is set, the pool is never closed and has no
            // hooks; should one of these happen after all, it is still answered in words.
            Err(e) => Err(ApiError::new(
                ErrorKind::Unavailable,
                format!("PostgreSQL target {target} is unreachable ({e})"),
            )
            .with_detail(serde_json::json!({"target": target}))),
        }
    }
}

impl Conn {
    pub fn client_mut(&mut self) -> &mut Client {
        match self.object.as_mut() {
            Some(object) => object,
            None => unreachable!("the connection is only taken when it is dropped"),
        }
    }

    /// Drops the connection instead of returning it to the pool.
    pub fn discard(&mut self) {
        self.keep = false;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(object) = self.object.take()
            && !self.keep
        {
            // Taken out of the pool: the client is dropped here, which closes the connection,
            // and the pool opens a new one when it is next needed.
            drop(Object::take(object));
        }
    }
}
