//! The built frontend (`dist/`), served with an SPA fallback.
//!
//! Release builds embed `dist/` into the binary so `triage` ships alone; debug builds read the
//! same folder from disk at request time, so a rebuilt frontend shows up without recompiling.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../dist"]
#[allow_missing = true]
struct Dist;

const INDEX: &str = "index.html";

/// The Content-Security-Policy of the console's pages: scripts only from Triage itself plus the
/// inline scripts of `index.html` by hash (the module script that starts the app, the theme
/// snippet), WebAssembly
/// compiled from those, connections only back to Triage, and no framing by other sites.
/// Inline `style` attributes are allowed: the app positions rows and bars with them.
pub fn content_security_policy() -> String {
    let hashes = Dist::get(INDEX)
        .map(|index| inline_script_hashes(&String::from_utf8_lossy(&index.data)))
        .unwrap_or_default();
    let scripts: String = hashes.iter().map(|h| format!(" 'sha256-{h}'")).collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{scripts}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Base64 SHA-256 of every inline `<script>` body (those without `src`) in `html`.
fn inline_script_hashes(html: &str) -> Vec<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else { break };
        let tag = &after[..open_end];
        let body_start = open_end + 1;
        let Some(close) = after[body_start..].find("</script>") else { break };
        if !tag.contains(" src=") {
            let body = &after[body_start..body_start + close];
            hashes.push(
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body.as_bytes())),
            );
        }
        rest = &after[body_start + close..];
    }
    hashes
}

/// Whether a built frontend is available at all (reported by `/readyz`).
pub fn frontend_present() -> bool {
    Dist::get(INDEX).is_some()
}

/// Fallback handler for every non-API path: a file from `dist/` if one matches, otherwise the
/// app's `index.html` so that deep links like `/runbooks/x?a=b` load the app and route inside it.
pub async fn serve_frontend(uri: Uri, headers: HeaderMap) -> Response {
    let accepts = |coding: &str| {
        headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
            v.split(',').any(|c| {
                let mut parts = c.split(';');
                parts.next().is_some_and(|name| name.trim().eq_ignore_ascii_case(coding))
                    && parts.all(|q| q.trim().replace(' ', "") != "q=0")
            })
        })
    };
    let requested = uri.path().trim_start_matches('/');
    let path = if !requested.is_empty() && Dist::get(requested).is_some() {
        requested
    } else if requested.rsplit('/').next().unwrap_or_default().contains('.') {
        // A missing file with an extension is a real 404 (a stale script URL), not a page route.
        return (StatusCode::NOT_FOUND, "not found").into_response();
    } else {
        INDEX
    };
    let Some(file) = Dist::get(path) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "The Triage frontend is not built. Run `cargo xtask demo` (or `cargo xtask frontend`) \
             from the repository root, then reload.",
        )
            .into_response();
    };
    // The build's precompressed copy (`cargo xtask frontend` writes them), when the browser
    // takes that encoding: no request pays for compressing the bundle.
    for (coding, suffix) in [("br", ".br"), ("gzip", ".gz")] {
        if accepts(coding)
            && let Some(encoded) = Dist::get(&format!("{path}{suffix}"))
        {
            let mut response = file_response(path, file.metadata.mimetype(), encoded);
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            return response;
        }
    }
    let mime = file.metadata.mimetype().to_owned();
    file_response(path, &mime, file)
}

/// `file`'s bytes as `mime` (the original's type also for its compressed copy).
fn file_response(path: &str, mime: &str, file: rust_embed::EmbeddedFile) -> Response {
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

/// The build (`cargo xtask frontend`) fingerprints what changes between builds: the stylesheet
/// is `style-<hex digits>.css`, and the app's script, its main module and every chunk a page
/// loads on demand live in `pkg-<hex digits>/`, the digits a 64-bit hash of the content. Such a
/// name changes with its content, so the browser may cache it forever. Eight digits or more
/// count (a hash shorter than that has a chance of 2⁻³²).
fn is_fingerprinted(path: &str) -> bool {
    let hashed = |stem: &str| {
        stem.rsplit_once('-').is_some_and(|(_, h)| h.len() >= 8 && h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    let mut segments: Vec<&str> = path.split('/').collect();
    let name = segments.pop().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    hashed(stem) || segments.iter().any(|dir| hashed(dir))
}

#[cfg(test)]
mod tests {
    use super::{inline_script_hashes, is_fingerprinted};

    #[test]
    fn hashes_inline_scripts_only() {
        let html =
            "<script type=\"module\">a()</script><script src=\"/x.js\"></script><script>\n b \n</script>";
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes.len(), 2);
        // sha256("a()"), as `echo -n 'a()' | openssl dgst -sha256 -binary | base64` gives it.
        assert_eq!(hashes[0], "qVpDBgj7bpq5hMAcGp3AOc79J3Y1Z4HvySTwKrWDoy4=");
    }

    #[test]
    fn fingerprint_detection() {
        assert!(is_fingerprinted("style-0123456789abcdef.css"));
        assert!(is_fingerprinted("pkg-4f9e1a2b3c4d5e6f/triage-frontend_bg.wasm"));
        assert!(is_fingerprinted("pkg-4f9e1a2b3c4d5e6f/triage-frontend.js"));
        assert!(is_fingerprinted("pkg-4f9e1a2b3c4d5e6f/split_3.wasm"), "a page's chunk");
        assert!(!is_fingerprinted("index.html"));
        assert!(!is_fingerprinted("favicon.svg"));
        assert!(!is_fingerprinted("triage-frontend.js"));
        assert!(!is_fingerprinted("pkg/triage-frontend.js"), "a folder without a hash");
        assert!(!is_fingerprinted("pkg-beef/triage-frontend.js"), "too short to be a hash");
    }
}
