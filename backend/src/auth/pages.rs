//! The few HTML pages of the login flow (errors, "not authorised", logged out). They are served
//! outside the console, so they are self-contained and escape everything they show.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A small page: a title, sentences, and links as `(href, label)`.
pub fn page(
    status: u16,
    testid: &str,
    title: &str,
    paragraphs: &[String],
    links: &[(&str, &str)],
) -> Response {
    let mut body = String::new();
    for p in paragraphs {
        body.push_str(&format!("<p>{}</p>\n", escape(p)));
    }
    let links: String = links
        .iter()
        .map(|(href, label)| {
            format!(
                "<a href=\"{}\" data-testid=\"link-{}\">{}</a> ",
                escape(href),
                slug(label),
                escape(label)
            )
        })
        .collect();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Triage</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2933}}\
         h1{{font-size:1.4rem}}a{{margin-right:1rem}}</style></head>\
         <body><main data-testid=\"{testid}\"><h1>{title}</h1>\n{body}<p>{links}</p></main></body></html>\n",
        title = escape(title),
        testid = escape(testid),
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
        .into_response()
}

fn slug(label: &str) -> String {
    label.to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().join("-")
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::escape("<script>\"&'"), "&lt;script&gt;&quot;&amp;&#39;");
    }
}
