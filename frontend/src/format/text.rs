//! Text helpers: the filters of the lists, statements on one line, highlighted matches.

/// Every whitespace-separated term of `needle` appears (case-insensitively) in some field.
pub fn matches_filter(fields: &[&str], needle: &str) -> bool {
    let fields: Vec<String> = fields.iter().map(|f| f.to_lowercase()).collect();
    needle.to_lowercase().split_whitespace().all(|term| fields.iter().any(|f| f.contains(term)))
}

/// A statement on one line, whitespace collapsed (the copy keeps PostgreSQL's text).
pub fn one_line(query: &str) -> String {
    query.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The byte offset of UTF-16 offset `index16` in `text` (JavaScript's string indices), when it
/// falls on a character boundary.
pub fn utf16_to_byte(text: &str, index16: usize) -> Option<usize> {
    let mut units = 0;
    for (byte, c) in text.char_indices() {
        if units == index16 {
            return Some(byte);
        }
        if units > index16 {
            return None;
        }
        units += c.len_utf16();
    }
    (units == index16).then_some(text.len())
}

/// Splits `text` into (piece, highlighted) runs given sorted byte ranges of matches; ranges that
/// overlap, run backwards or do not fall on character boundaries are ignored.
pub fn segments<'a>(text: &'a str, ranges: &[(usize, usize)]) -> Vec<(&'a str, bool)> {
    let mut out = Vec::new();
    let mut at = 0;
    for &(start, end) in ranges {
        if start < at || end <= start {
            continue;
        }
        let (Some(before), Some(hit)) = (text.get(at..start), text.get(start..end)) else {
            continue;
        };
        if !before.is_empty() {
            out.push((before, false));
        }
        out.push((hit, true));
        at = end;
    }
    if let Some(rest) = text.get(at..).filter(|r| !r.is_empty()) {
        out.push((rest, false));
    }
    out
}

/// `text` as a PromQL string literal, quotes included: backslash, double quote and line breaks
/// escaped, so a label value from the page never changes the query around it.
pub fn promql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_need_every_term() {
        assert!(matches_filter(&["stream-processor-abc", "Running"], ""));
        assert!(matches_filter(&["stream-processor-abc", "Running"], "STREAM run"));
        assert!(!matches_filter(&["stream-processor-abc", "Running"], "stream crash"));
    }

    #[test]
    fn statements_on_one_line() {
        assert_eq!(one_line("SELECT a\n   FROM  t"), "SELECT a FROM t");
    }

    #[test]
    fn log_match_segments() {
        let line = "é INFO ok INFO";
        // JavaScript reports UTF-16 indices; é is one unit but two bytes.
        assert_eq!(utf16_to_byte(line, 2), Some(3));
        assert_eq!(utf16_to_byte(line, 14), Some(line.len()));
        assert_eq!(utf16_to_byte(line, 15), None);
        assert_eq!(utf16_to_byte("😀x", 1), None, "inside a surrogate pair");
        assert_eq!(utf16_to_byte("😀x", 2), Some(4));
        let segs = segments(line, &[(3, 7), (11, 15)]);
        assert_eq!(segs, vec![("é ", false), ("INFO", true), (" ok ", false), ("INFO", true)]);
        assert_eq!(segments("abc", &[]), vec![("abc", false)]);
        // Bad ranges are skipped rather than panicking.
        assert_eq!(segments("é", &[(1, 2)]), vec![("é", false)]);
        assert_eq!(segments("abc", &[(2, 3), (0, 1)]), vec![("ab", false), ("c", true)]);
    }

    #[test]
    fn promql_strings_escape_what_would_end_them() {
        assert_eq!(promql_string("group-a"), "\"group-a\"");
        assert_eq!(promql_string(r#"a"} or vector(1) #\"#), r#""a\"} or vector(1) #\\""#);
        assert_eq!(promql_string("x\ny"), "\"x\\ny\"");
    }
}
