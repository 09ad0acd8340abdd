//! Percent-encoding, the one encoder of the console: API paths and query values, page links,
//! `data:` URLs.

/// Percent-encodes everything but RFC 3986's unreserved characters (for query values and path
/// segments alike).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(encode("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(encode("app=stream-processor"), "app%3Dstream-processor");
        assert_eq!(encode("g&1"), "g%261");
        assert_eq!(encode("Az09-_.~"), "Az09-_.~");
        assert_eq!(encode("sum(rate(x[5m]))"), "sum%28rate%28x%5B5m%5D%29%29");
        assert_eq!(encode(""), "");
    }
}
