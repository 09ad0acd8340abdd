//! Building and running the application: bind first (so tests can use port 0 and read the
//! port back), then serve until a shutdown signal arrives.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::http::{self, assets};
use crate::state::AppState;

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds `settings.server.listen`. Fails with the address when the port is taken.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Also checked when the file is read; repeated here for settings built in code.
        settings.validate()?;
        let addr = settings.server.listen;
        let listener =
            TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let mut k8s = Vec::new();
        for env in settings.environments() {
            k8s.push(match &env.kubernetes {
                Some(k) => Some(crate::kubernetes::K8s::connect(k).await.map_err(|e| {
                    anyhow::anyhow!("environment {}: Kubernetes client configuration: {e:#}", env.name)
                })?),
                None => None,
            });
        }
        let store = crate::store::Store::open(&settings.store).await?;
        let state = AppState::new(settings, k8s, store)?;
        crate::runbooks::reload_on_sighup(state.runbooks.clone());
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.settings.server.listen)
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting, marks the replica unready and
    /// gives in-flight requests `server.shutdown_grace_secs` to finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let addr = self.local_addr();
        if !assets::frontend_present() {
            tracing::warn!(
                "the frontend is not built (dist/index.html missing); the console pages will say so"
            );
        }
        tracing::info!(%addr, "Triage listening on http://{addr}");
        let grace = Duration::from_secs(self.state.settings.server.shutdown_grace_secs);
        let state = self.state.clone();
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutdown requested; draining in-flight requests");
            state.set_ready(false);
            let _ = stopping_tx.send(());
        };
        // Resolve every route once here: served as a bare `Router`, axum would rebuild the whole
        // route table for each connection (about 180 KB each, measured with heaptrack), where
        // `into_make_service` hands each connection a shared reference to this one.
        let app = http::router(self.state.clone()).with_state(()).into_make_service();
        // No Nagle delay: an answer's last short segment, and every live event, leaves at once.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY on a connection");
            }
        });
        let server = axum::serve(listener, app).with_graceful_shutdown(signal);
        let server = std::pin::pin!(server.into_future());
        // Bound the drain: once shutdown starts, wait at most `grace` for connections to close.
        tokio::select! {
            result = server => result?,
            () = async {
                let _ = stopping_rx.await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!("grace period over; closing remaining connections"),
        }
        tracing::info!("stopped");
        Ok(())
    }

    /// Serves until `shutdown` (see [`shutdown_signal`], installed before [`Application::build`]).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        self.run_until(shutdown).await
    }
}

/// Completes on SIGTERM (Kubernetes) or SIGINT (Ctrl-C). The handlers are installed when this
/// is called, not when it is first awaited: `main` calls it before binding, so a SIGTERM that
/// arrives while the router is still being built stops Triage cleanly instead of killing it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                }
                (term, int) => {
                    let e = term.err().or(int.err()).map(|e| e.to_string()).unwrap_or_default();
                    tracing::error!("cannot listen for SIGTERM/SIGINT: {e}");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    }
}
