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

/// A query-parameter type of `triage_shared` as a query string: every field that is set, each
/// name and value encoded. The handler reads the same type, so the two cannot disagree on a name.
pub fn query_string<T: serde::Serialize>(params: &T) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(params) else {
        return String::new();
    };
    let pairs = fields.iter().filter_map(|(name, value)| {
        let text = match value {
            serde_json::Value::Null => return None,
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        Some(format!("{}={}", encode(name), encode(&text)))
    });
    pairs.collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_string_holds_every_field_that_is_set() {
        #[derive(serde::Serialize)]
        struct Params {
            query: String,
            time: Option<f64>,
            limit: Option<u32>,
            previous: bool,
        }
        let text =
            query_string(&Params { query: "a b&c".into(), time: None, limit: Some(5), previous: false });
        let mut pairs: Vec<&str> = text.split('&').collect();
        pairs.sort_unstable();
        assert_eq!(pairs, ["limit=5", "previous=false", "query=a%20b%26c"]);
    }

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
