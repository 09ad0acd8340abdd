//! `sse-anchor PORT BYTES`: a minimal axum server of server-sent events, the memory benchmark's
//! anchor. Every connection to `/sse` gets an event of `BYTES` bytes every two seconds, as a
//! live chart's viewer gets its refresh from Triage; nothing else is kept per connection.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().context("usage: sse-anchor PORT BYTES")?.parse()?;
    let bytes: usize = args.next().context("usage: sse-anchor PORT BYTES")?.parse()?;
    // One payload shared by every connection, as Triage shares one answer among a query's viewers.
    let payload: Arc<str> = "x".repeat(bytes).into();
    let app = Router::new().route(
        "/sse",
        get(move || {
            let payload = payload.clone();
            async move {
                let tick = tokio::time::interval(Duration::from_secs(2));
                let stream = futures::stream::unfold((tick, payload), |(mut tick, payload)| async move {
                    tick.tick().await;
                    let event = Event::default().data(&*payload);
                    Some((Ok::<_, Infallible>(event), (tick, payload)))
                });
                Sse::new(stream).keep_alive(KeepAlive::default())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
