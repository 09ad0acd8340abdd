//! `{{name}}` placeholders and the only places a parameter's value may go.
//!
//! Each destination has its own substitution: PromQL (inside a double-quoted string, escaped —
//! and regex-escaped after `=~`/`!~` — or as a whole range duration), Kubernetes names (the
//! result validated as DNS-1123), label selectors (a whole value, label-value syntax), log
//! patterns (regex-escaped), URLs (a whole path segment holding a DNS-1123 name) and the
//! command text shown to people (shell-quoted when needed). SQL never receives a value as text:
//! `sql` checks bind their parameters.

use std::collections::BTreeMap;

use triage_shared::k8s::{check_namespace, check_object_name};
use triage_shared::runbook::ParamKind;

/// One `{{name}}` in a template: its byte range (braces included) and its trimmed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub start: usize,
    pub end: usize,
    pub name: String,
}

/// Validated parameter values of a run, by name, with their kinds.
pub type Values = BTreeMap<String, (ParamKind, String)>;

/// Every placeholder in `text`, or why the text is malformed.
pub fn placeholders(text: &str) -> Result<Vec<Placeholder>, String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("{{") {
        let start = from + i;
        let Some(j) = text[start + 2..].find("}}") else {
            return Err(format!("unterminated placeholder at byte {start}: `{{{{` without `}}}}`"));
        };
        let end = start + 2 + j + 2;
        let name = text[start + 2..end - 2].trim();
        let plain = name.strip_prefix("url:").unwrap_or(name);
        let valid = !plain.is_empty()
            && plain.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && plain.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid {
            return Err(format!(
                "`{}` is not a placeholder name (lowercase letters, digits, `_`)",
                &text[start..end]
            ));
        }
        out.push(Placeholder { start, end, name: name.to_owned() });
        from = end;
    }
    Ok(out)
}

/// Checks a raw value against its parameter kind; the error says why in words.
pub fn check_value(kind: ParamKind, value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) && kind != ParamKind::LabelValue {
        return Err("control characters (such as newlines) are not allowed".to_owned());
    }
    match kind {
        ParamKind::Namespace => check_namespace(value),
        ParamKind::Deployment | ParamKind::Name => check_object_name(value),
        ParamKind::ConsumerGroup => check_kafka_name(value, "a consumer group id"),
        ParamKind::Topic => check_kafka_name(value, "a topic name"),
        ParamKind::LabelValue => {
            if value.len() > 1024 {
                Err("at most 1024 bytes".to_owned())
            } else {
                Ok(())
            }
        }
        ParamKind::Duration => duration_seconds(value).map(drop),
        ParamKind::Integer => match value.parse::<i64>() {
            Ok(n) if (0..=1_000_000).contains(&n) => Ok(()),
            _ => Err("a whole number between 0 and 1000000".to_owned()),
        },
    }
}

/// Kafka's rule for group ids and topic names: 1 to 249 of `[A-Za-z0-9._-]`.
fn check_kafka_name(value: &str, what: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 249
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(format!("{what} is 1 to 249 letters, digits, '.', '_' or '-'")) }
}

/// Kinds whose values may build a Kafka group id or topic name: Kafka names, and Kubernetes
/// names (whose characters are a subset).
pub fn is_kafka_name_kind(kind: ParamKind) -> bool {
    matches!(kind, ParamKind::ConsumerGroup | ParamKind::Topic) || is_name_kind(kind)
}

/// A Kafka consumer group id or topic name (`what` says which): the resolved text must follow
/// Kafka's naming rule.
pub fn kafka_name(template: &str, values: &Values, what: &str) -> Result<String, String> {
    let text = substitute(template, values, |name, kind, value| {
        if is_kafka_name_kind(kind) {
            Ok(value.to_owned())
        } else {
            Err(format!("`{{{{{name}}}}}` cannot form {what} (its kind is not a name)"))
        }
    })?;
    check_kafka_name(&text, what)?;
    Ok(text)
}

/// A Prometheus duration (`90s`, `15m`, `1h30m`) in seconds: positive, at most 31 days.
pub fn duration_seconds(text: &str) -> Result<f64, String> {
    let bad = || format!("{text:?} is not a duration such as 30s, 15m or 1h30m");
    if text.is_empty() || text.len() > 32 {
        return Err(bad());
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else {
            match rest.chars().next() {
                Some('s') => (1.0, 1),
                Some('m') => (60.0, 1),
                Some('h') => (3600.0, 1),
                Some('d') => (86_400.0, 1),
                Some('w') => (604_800.0, 1),
                _ => return Err(bad()),
            }
        };
        total += n * unit;
        rest = &rest[len..];
    }
    if total <= 0.0 || total > 31.0 * 86_400.0 {
        return Err(format!("{text:?} must be longer than 0 and at most 31 days"));
    }
    Ok(total)
}

fn value_of<'a>(values: &'a Values, name: &str) -> Result<&'a (ParamKind, String), String> {
    values.get(name).ok_or_else(|| format!("`{{{{{name}}}}}` is not a declared parameter"))
}

/// Go/PromQL double-quoted string escaping.
fn escape_promql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Where a placeholder sits in a PromQL expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromqlSlot {
    /// Inside a double-quoted string; `regex` when the string follows `=~` or `!~`.
    String { regex: bool },
    /// The whole content of a `[...]` range (or its part before `:` in a subquery).
    Range,
}

/// Finds every placeholder of a PromQL template with its slot, or the first misplaced one.
pub fn promql_slots(template: &str) -> Result<Vec<(Placeholder, PromqlSlot)>, String> {
    let holders = placeholders(template)?;
    let bytes = template.as_bytes();
    let mut out = Vec::new();
    let mut next = holders.into_iter().peekable();
    // Scanner state.
    let mut i = 0;
    let mut in_string: Option<(u8, bool)> = None; // (quote, regex)
    let mut in_comment = false;
    while i < bytes.len() {
        if let Some(h) = next.peek()
            && h.start == i
        {
            let h = next.next().ok_or("scanner lost a placeholder")?;
            let slot = match in_string {
                Some((b'"', regex)) => PromqlSlot::String { regex },
                Some(_) => {
                    return Err(format!(
                        "`{{{{{}}}}}` is inside a single-quoted or raw string; use a double-quoted label value",
                        h.name
                    ));
                }
                None if in_comment => {
                    return Err(format!("`{{{{{}}}}}` is inside a PromQL comment", h.name));
                }
                None => {
                    let before = template[..h.start].trim_end();
                    let after = template[h.end..].trim_start();
                    if before.ends_with('[') && (after.starts_with(']') || after.starts_with(':')) {
                        PromqlSlot::Range
                    } else {
                        return Err(format!(
                            "`{{{{{}}}}}` is outside a double-quoted label value and is not a whole range duration `[...]`",
                            h.name
                        ));
                    }
                }
            };
            out.push((h.clone(), slot));
            i = h.end;
            continue;
        }
        let c = bytes[i];
        if in_comment {
            if c == b'\n' {
                in_comment = false;
            }
        } else if let Some((quote, _)) = in_string {
            if c == b'\\' && quote != b'`' {
                i += 1;
            } else if c == quote {
                in_string = None;
            }
        } else {
            match c {
                b'"' | b'\'' | b'`' => {
                    let before = template[..i].trim_end();
                    let regex = before.ends_with("=~") || before.ends_with("!~");
                    in_string = Some((c, regex));
                }
                b'#' => in_comment = true,
                _ => {}
            }
        }
        i += 1;
    }
    if in_string.is_some() {
        return Err("unterminated string in the PromQL".to_owned());
    }
    Ok(out)
}

/// The kinds a placeholder may have in each slot: any value is safe inside an escaped string;
/// only a validated duration may be a range.
pub fn promql_kind_allowed(slot: PromqlSlot, kind: ParamKind) -> bool {
    match slot {
        PromqlSlot::Range => kind == ParamKind::Duration,
        PromqlSlot::String { .. } => true,
    }
}

/// Resolves a PromQL template: values escaped inside strings, durations validated in ranges.
pub fn promql(template: &str, values: &Values) -> Result<String, String> {
    let slots = promql_slots(template)?;
    let mut out = String::with_capacity(template.len() + 32);
    let mut at = 0;
    for (h, slot) in slots {
        out.push_str(&template[at..h.start]);
        let (kind, value) = value_of(values, &h.name)?;
        match slot {
            PromqlSlot::Range => {
                if *kind != ParamKind::Duration {
                    return Err(format!(
                        "`{{{{{}}}}}` is a range, so it must be a duration parameter",
                        h.name
                    ));
                }
                duration_seconds(value)?;
                out.push_str(value);
            }
            PromqlSlot::String { regex } => {
                let text = if regex { regex::escape(value) } else { value.to_owned() };
                out.push_str(&escape_promql_string(&text));
            }
        }
        at = h.end;
    }
    out.push_str(&template[at..]);
    Ok(out)
}

/// A range field: a literal duration or one duration placeholder; returns (text, seconds).
pub fn range(template: &str, values: &Values) -> Result<(String, f64), String> {
    let holders = placeholders(template)?;
    let text = match holders.as_slice() {
        [] => template.to_owned(),
        [h] if h.start == 0 && h.end == template.len() => {
            let (kind, value) = value_of(values, &h.name)?;
            if *kind != ParamKind::Duration {
                return Err(format!("range `{{{{{}}}}}` must be a duration parameter", h.name));
            }
            value.clone()
        }
        _ => return Err(format!("range {template:?} must be a duration or one duration placeholder")),
    };
    let secs = duration_seconds(&text)?;
    Ok((text, secs))
}

/// Plain substitution, for text whose result is validated as a whole afterwards.
fn substitute(
    template: &str,
    values: &Values,
    each: impl Fn(&str, ParamKind, &str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut at = 0;
    for h in placeholders(template)? {
        out.push_str(&template[at..h.start]);
        let (kind, value) = value_of(values, &h.name)?;
        out.push_str(&each(&h.name, *kind, value)?);
        at = h.end;
    }
    out.push_str(&template[at..]);
    Ok(out)
}

/// Kinds whose values are DNS-1123 names and may therefore build a Kubernetes name.
pub fn is_name_kind(kind: ParamKind) -> bool {
    matches!(kind, ParamKind::Namespace | ParamKind::Deployment | ParamKind::Name)
}

/// A Kubernetes namespace: the resolved text must be a DNS-1123 label.
pub fn k8s_namespace(template: &str, values: &Values) -> Result<String, String> {
    let text = substitute(template, values, |name, kind, value| {
        if is_name_kind(kind) {
            Ok(value.to_owned())
        } else {
            Err(format!("`{{{{{name}}}}}` cannot form a namespace (its kind is not a Kubernetes name)"))
        }
    })?;
    check_namespace(&text)?;
    Ok(text)
}

/// A Kubernetes object name: the resolved text must be a DNS-1123 subdomain.
pub fn k8s_name(template: &str, values: &Values) -> Result<String, String> {
    let text = substitute(template, values, |name, kind, value| {
        if is_name_kind(kind) {
            Ok(value.to_owned())
        } else {
            Err(format!("`{{{{{name}}}}}` cannot form a Kubernetes name (its kind is not a Kubernetes name)"))
        }
    })?;
    check_object_name(&text)?;
    Ok(text)
}

/// Label-value syntax: empty, or up to 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub fn check_label_value(value: &str) -> Result<(), String> {
    let ok_edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = value.is_empty()
        || (value.len() <= 63
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && ok_edge(value.chars().next())
            && ok_edge(value.chars().last()));
    if ok {
        Ok(())
    } else {
        Err(format!("{value:?} is not a valid label value (at most 63 letters, digits, '.', '_', '-')"))
    }
}

/// Checks a placeholder sits as a whole selector value: after `=`, `==` or `!=`, before `,` or the end.
pub fn selector_slots_ok(template: &str) -> Result<(), String> {
    for h in placeholders(template)? {
        let before = template[..h.start].trim_end();
        let after = template[h.end..].trim_start();
        if !(before.ends_with('=') && (after.is_empty() || after.starts_with(','))) {
            return Err(format!(
                "`{{{{{}}}}}` must be a whole label value in the selector (`key={{{{{}}}}}`)",
                h.name, h.name
            ));
        }
    }
    Ok(())
}

/// A label selector with placeholders as whole values, each checked against label-value syntax.
pub fn selector(template: &str, values: &Values) -> Result<String, String> {
    selector_slots_ok(template)?;
    let text = substitute(template, values, |_, _, value| {
        check_label_value(value)?;
        Ok(value.to_owned())
    })?;
    let ok =
        text.len() <= 1024 && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=!,() ".contains(c));
    if !ok {
        return Err(format!("{text:?} is not a usable label selector"));
    }
    Ok(text)
}

/// A log pattern (regular expression); values are matched literally.
pub fn log_pattern(template: &str, values: &Values) -> Result<String, String> {
    substitute(template, values, |_, _, value| Ok(regex::escape(value)))
}

/// Bound SQL parameter text: the value itself, never part of the SQL.
pub fn bound(template: &str, values: &Values) -> Result<String, String> {
    substitute(template, values, |_, _, value| Ok(value.to_owned()))
}

/// An `http-health` URL: `{{url:NAME}}` (configured base) at the start, other placeholders as
/// whole path segments holding DNS-1123 names. Returns the URL text.
pub fn url(template: &str, values: &Values, bases: &BTreeMap<String, url::Url>) -> Result<url::Url, String> {
    let holders = placeholders(template)?;
    let mut out = String::new();
    let mut at = 0;
    for (i, h) in holders.iter().enumerate() {
        out.push_str(&template[at..h.start]);
        if let Some(base) = h.name.strip_prefix("url:") {
            if i != 0 || h.start != 0 {
                return Err(format!("`{{{{url:{base}}}}}` must start the URL"));
            }
            let Some(u) = bases.get(base) else {
                return Err(format!("no base URL `{base}` is configured (runbooks.urls.{base})"));
            };
            out.push_str(u.as_str().trim_end_matches('/'));
        } else {
            let before = &template[..h.start];
            let after = &template[h.end..];
            if !(before.ends_with('/')
                && (after.is_empty() || after.starts_with('/') || after.starts_with('?')))
            {
                return Err(format!("`{{{{{}}}}}` must be a whole path segment of the URL", h.name));
            }
            let (kind, value) = value_of(values, &h.name)?;
            if !is_name_kind(kind.to_owned()) {
                return Err(format!("`{{{{{}}}}}` in a URL must be a Kubernetes-name parameter", h.name));
            }
            check_object_name(value)?;
            out.push_str(value);
        }
        at = h.end;
    }
    out.push_str(&template[at..]);
    let parsed = url::Url::parse(&out).map_err(|e| format!("{out:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{out:?}: only http and https URLs are probed"));
    }
    Ok(parsed)
}

pub use triage_shared::commands::shell_quote;

/// Command text shown to people (never run by Triage): values shell-quoted when needed.
pub fn command(template: &str, values: &Values) -> Result<String, String> {
    substitute(template, values, |name, _, value| {
        if name.starts_with("url:") {
            return Err(format!("`{{{{{name}}}}}` is only allowed in http-health URLs"));
        }
        Ok(shell_quote(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, ParamKind, &str)]) -> Values {
        pairs.iter().map(|(n, k, v)| ((*n).to_owned(), (*k, (*v).to_owned()))).collect()
    }

    #[test]
    fn finds_placeholders() {
        let h = placeholders("a {{ns}} b {{ window }}").expect("ok");
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].name, "window");
        assert!(placeholders("a {{ns").is_err());
        assert!(placeholders("{{Bad}}").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration_seconds("15m"), Ok(900.0));
        assert_eq!(duration_seconds("1h30m"), Ok(5400.0));
        assert!(duration_seconds("15").is_err());
        assert!(duration_seconds("5m]) or vector(1) #").is_err());
        assert!(duration_seconds("0s").is_err());
        assert!(duration_seconds("400d").is_err());
    }

    #[test]
    fn promql_positions() {
        let v = values(&[("ns", ParamKind::Namespace, "a"), ("window", ParamKind::Duration, "5m")]);
        assert_eq!(
            promql("rate(x{namespace=\"{{ns}}\"}[{{window}}])", &v).expect("ok"),
            "rate(x{namespace=\"a\"}[5m])"
        );
        assert!(promql("x{namespace={{ns}}}", &v).is_err(), "outside quotes");
        assert!(promql("x > {{ns}}", &v).is_err());
        assert!(promql("x{a='{{ns}}'}", &v).is_err(), "single quotes");
        assert!(promql("rate(x[{{ns}}])", &v).is_err(), "a namespace is not a duration");
        assert!(promql("x{a=\"{{undeclared}}\"}", &v).is_err());
    }

    #[test]
    fn promql_escapes_and_regex_escapes() {
        let v = values(&[("p", ParamKind::LabelValue, "a\"} or vector(1) #\n.*")]);
        let q = promql("x{pod=\"{{p}}\"}", &v).expect("ok");
        assert_eq!(q, "x{pod=\"a\\\"} or vector(1) #\\n.*\"}");
        let q = promql("x{pod=~\"{{p}}-.*\"}", &v).expect("ok");
        assert!(q.contains("\\\\.\\\\*-.*"), "{q}");
    }

    #[test]
    fn selectors_and_names() {
        let v = values(&[
            ("d", ParamKind::Deployment, "stream-processor"),
            ("x", ParamKind::LabelValue, "a,b=c"),
        ]);
        assert_eq!(selector("app={{d}}", &v).expect("ok"), "app=stream-processor");
        assert!(selector("app={{x}}", &v).is_err());
        assert!(selector("{{d}}=x", &v).is_err());
        assert_eq!(k8s_name("{{d}}", &v).expect("ok"), "stream-processor");
        assert!(k8s_name("{{x}}", &v).is_err());
    }

    #[test]
    fn commands_quote() {
        let v = values(&[("x", ParamKind::LabelValue, "a'; rm -rf /")]);
        assert_eq!(command("echo {{x}}", &v).expect("ok"), "echo 'a'\\''; rm -rf /'");
    }
}
