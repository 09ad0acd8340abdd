//! A small server-sent-events reader over reqwest, for tests of live streams.

use anyhow::{Result, bail};
use futures::StreamExt;

pub struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

/// One event: its name (`message` when unnamed) and its data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

impl SseReader {
    /// Opens the stream; fails with the body when the server answers an error instead.
    pub async fn connect(client: &reqwest::Client, url: &str) -> Result<Self> {
        let response = client.get(url).header("accept", "text/event-stream").send().await?;
        if !response.status().is_success() {
            let status = response.status();
            bail!("SSE request answered {status}: {}", response.text().await.unwrap_or_default());
        }
        Ok(Self { stream: response.bytes_stream().boxed(), buffer: String::new() })
    }

    /// The next event, or None when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<SseEvent>> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent { event: "message".to_owned(), data: String::new() };
                let mut has_data = false;
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event.event = name.trim().to_owned();
                    } else if let Some(data) = line.strip_prefix("data:") {
                        if has_data {
                            event.data.push('\n');
                        }
                        event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                        has_data = true;
                    }
                }
                if has_data {
                    return Ok(Some(event));
                }
                continue; // a keep-alive comment
            }
            match self.stream.next().await {
                Some(chunk) => self.buffer.push_str(&String::from_utf8_lossy(&chunk?)),
                None => return Ok(None),
            }
        }
    }
}
