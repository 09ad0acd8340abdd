//! The built frontend (`dist/`), served with an SPA fallback.
//!
//! Release builds embed `dist/` into the binary so `triage` ships alone; debug builds read the
//! same folder from disk at request time, so a rebuilt frontend shows up without recompiling.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../dist"]
#[allow_missing = true]
struct Dist;

const INDEX: &str = "index.html";

/// Whether a built frontend is available at all (reported by `/readyz`).
pub fn frontend_present() -> bool {
    Dist::get(INDEX).is_some()
}

/// Fallback handler for every non-API path: a file from `dist/` if one matches, otherwise the
/// app's `index.html` so that deep links like `/runbooks/x?a=b` load the app and route inside it.
pub async fn serve_frontend(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if !path.is_empty()
        && let Some(file) = Dist::get(path)
    {
        return file_response(path, file);
    }
    // A missing file with an extension is a real 404 (a stale script URL), not a page route.
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match Dist::get(INDEX) {
        Some(index) => file_response(INDEX, index),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "The Triage frontend is not built. Run `cargo xtask demo` (or `trunk build --release`) \
             from the repository root, then reload.",
        )
            .into_response(),
    }
}

fn file_response(path: &str, file: rust_embed::EmbeddedFile) -> Response {
    let mime = file.metadata.mimetype();
    let cache = if path == INDEX {
        "no-cache"
    } else if is_fingerprinted(path) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut response = Response::new(Body::from(file.data.into_owned()));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// Trunk names built files `name-<16+ hex digits>[_bg].ext`; such a name changes with its content,
/// so the browser may cache it forever.
fn is_fingerprinted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit('-').next().is_some_and(|h| h.len() >= 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::is_fingerprinted;

    #[test]
    fn fingerprint_detection() {
        assert!(is_fingerprinted("triage-frontend-4f9e1a2b3c4d5e6f_bg.wasm"));
        assert!(is_fingerprinted("style-0123456789abcdef.css"));
        assert!(!is_fingerprinted("index.html"));
        assert!(!is_fingerprinted("favicon.svg"));
        assert!(!is_fingerprinted("triage-frontend.js"));
    }
}
