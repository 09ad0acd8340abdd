//! The `http_health` check: each URL asked once, healthy on a 2xx answer.

use std::collections::BTreeMap;

use super::{CheckContext, Found, NotRun, bad_template};
use crate::runbooks::template::{self, Values};

pub(super) async fn health(ctx: &CheckContext, urls: &[String], values: &Values) -> Result<Found, NotRun> {
    let bases = &ctx.urls;
    let mut resolved = Vec::new();
    for u in urls {
        match template::url(u, values, bases) {
            Ok(url) => resolved.push(url),
            Err(e) if e.starts_with("no base URL") => return Err(NotRun::Skipped(e)),
            Err(e) => return Err(bad_template(e)),
        }
    }
    let probes = resolved.iter().map(|url| {
        let client = ctx.http.clone();
        async move {
            match client.get(url.clone()).send().await {
                Ok(r) => {
                    let code = r.status().as_u16();
                    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
                    let status = body["status"].as_str().unwrap_or_default().to_owned();
                    (url.to_string(), (200..300).contains(&code), format!("HTTP {code}"), status)
                }
                Err(e) if e.is_timeout() => {
                    (url.to_string(), false, "timeout (5 s)".to_owned(), String::new())
                }
                Err(e) => {
                    let text = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
                    (url.to_string(), false, format!("unreachable: {text}"), String::new())
                }
            }
        }
    });
    let results = futures::future::join_all(probes).await;
    let healthy = results.iter().filter(|r| r.1).count() as f64;
    let total = results.len() as f64;
    let mut v = BTreeMap::new();
    v.insert("healthy".to_owned(), healthy);
    v.insert("unhealthy".to_owned(), total - healthy);
    v.insert("total".to_owned(), total);
    v.insert("value".to_owned(), total - healthy);
    let rows = results
        .iter()
        .map(|(u, ok, code, status)| {
            vec![
                u.clone(),
                if *ok { "healthy" } else { "unhealthy" }.to_owned(),
                code.clone(),
                status.clone(),
            ]
        })
        .collect();
    Ok(Found::table(
        v,
        &["url", "result", "answer", "reported status"],
        rows,
        resolved.iter().map(|u| format!("GET {u}")).collect::<Vec<_>>().join("\n"),
    ))
}
