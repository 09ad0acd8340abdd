//! Runbook templates shown before a run resolves them (a step's CLI, a fix action's target).

use std::collections::BTreeMap;

/// `{{name}}` placeholders replaced by the run's (validated) parameter values; an unknown name is
/// left as written, so a reader sees what is missing rather than an empty gap.
pub fn fill_template(text: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = after[..close].trim();
        match params.get(name) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::runbooks::fixtures::map;

    #[test]
    fn templates_fill_known_names_and_keep_unknown_ones() {
        let p = map(&[("namespace", "streaming-analytics"), ("deployment", "stream-processor")]);
        assert_eq!(
            fill_template("kubectl -n {{namespace}} get deploy {{ deployment }}", &p),
            "kubectl -n streaming-analytics get deploy stream-processor"
        );
        assert_eq!(fill_template("{{missing}} and {{namespace}}", &p), "{{missing}} and streaming-analytics");
        assert_eq!(fill_template("unclosed {{namespace", &p), "unclosed {{namespace");
        assert_eq!(fill_template("no placeholders", &p), "no placeholders");
        assert_eq!(fill_template("", &p), "");
    }
}
