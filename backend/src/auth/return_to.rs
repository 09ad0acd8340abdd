//! The path a login returns to. Only a same-origin relative path is accepted, so a crafted link
//! cannot send a freshly logged-in user to another site (`//evil`, `https://evil`, `/\evil`,
//! and their percent-encoded forms are all refused).

use url::Url;

/// Longest return path kept (an alert link with its labels fits easily).
const MAX_LEN: usize = 2048;

/// `Some(path)` when `raw` is a relative path on this origin, `None` otherwise.
pub fn safe_return_to(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > MAX_LEN {
        return None;
    }
    // Check the text as given and after each of a few rounds of percent-decoding, so that
    // `%2F%2Fevil` or `%252F%252Fevil` cannot become `//evil` further down the line.
    // A text that still changes after the last round is refused, since that decoding was never
    // checked: the `return_to` fuzz target found `/%2525%252537F.` (a DEL after four rounds), and
    // `/%2525252F%2525252Fevil` becomes `//evil` the same way.
    let mut text = raw.to_owned();
    let mut settled = false;
    for _ in 0..4 {
        if !plain_relative_path(&text) {
            return None;
        }
        let decoded = percent_decode(&text)?;
        if decoded == text {
            settled = true;
            break;
        }
        text = decoded;
    }
    if !settled {
        return None;
    }
    // Resolve against a fixed origin: anything that leaves it is refused.
    let base = Url::parse("http://triage.invalid/").ok()?;
    let joined = base.join(raw).ok()?;
    if joined.origin() != base.origin() {
        return None;
    }
    if raw == "/auth" || raw.starts_with("/auth/") || raw.starts_with("/auth?") {
        return Some("/".to_owned());
    }
    Some(raw.to_owned())
}

fn plain_relative_path(text: &str) -> bool {
    text.starts_with('/')
        && !text.starts_with("//")
        && !text.contains('\\')
        && !text.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Percent-decodes `text` once (a `%` not followed by two hex digits stays as it is); `None`
/// when the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text).decode_utf8().ok().map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn deep_links_are_kept() {
        for ok in [
            "/",
            "/runbooks/x?a=b",
            "/runbooks/kafka-consumer-lag?namespace=streaming-analytics&group=g",
            "/explore?q=rate(x%5B5m%5D)",
        ] {
            assert_eq!(safe_return_to(ok).as_deref(), Some(ok), "{ok}");
        }
    }

    #[test]
    fn other_origins_are_refused() {
        for bad in [
            "//evil.example",
            "///evil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F%2Fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "/%2525252F%2525252Fevil.example",
            "/%2525%252537F.",
            "/%09/evil.example",
            "/ /evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad}");
        }
    }

    #[test]
    fn one_round_decodes_only_complete_escapes() {
        use super::percent_decode;
        assert_eq!(percent_decode("/a%2Fb").as_deref(), Some("/a/b"));
        assert_eq!(percent_decode("/a%2fb").as_deref(), Some("/a/b"));
        assert_eq!(percent_decode("/%252F").as_deref(), Some("/%2F"));
        // Incomplete or non-hex escapes stay as they are; the second `%` of `%%41` starts one.
        for (text, once) in [("/100%", "/100%"), ("/%2", "/%2"), ("/%zz", "/%zz"), ("/%%41", "/%A")] {
            assert_eq!(percent_decode(text).as_deref(), Some(once), "{text}");
        }
        assert_eq!(percent_decode("/%C3%A9").as_deref(), Some("/é"));
        assert_eq!(percent_decode("/%FF"), None, "not UTF-8");
    }

    #[test]
    fn login_routes_return_home() {
        assert_eq!(safe_return_to("/auth/login?return_to=/x").as_deref(), Some("/"));
    }
}
