#![no_main]
//! `runbooks::template` on arbitrary parameter values, each destination against an oracle:
//!
//! - PromQL string slots: the escaped value, read back as a Go/PromQL double-quoted string,
//!   is the value itself, and the literal ends exactly where the template's quote is; after
//!   `=~` the read-back text is a regular expression that is exactly the value as a literal.
//! - PromQL range slots and `duration_seconds`: only a duration (digits and units) gets in,
//!   between 0 and 31 days.
//! - Kubernetes names and namespaces: accepted results are DNS-1123 subdomains / labels.
//! - Label selectors: every accepted selector parses back (with the sandbox's parser, which
//!   reads selectors as the API server does) to exactly the requirements of the template.
//! - Shell quoting (`shared::commands`, used by every shown command): each value is one POSIX
//!   shell word that reads back as the value, with no unquoted metacharacter, and every
//!   `kubectl …` spelling splits into exactly its words.
//! - Log patterns: the regex-escaped value is exactly the value as a literal.

use libfuzzer_sys::fuzz_target;
use triage::runbooks::template::{self, Values};
use triage_sandbox::selectors::LabelSelector;
use triage_shared::commands;
use triage_shared::runbook::ParamKind;

const KINDS: [ParamKind; 8] = [
    ParamKind::Namespace,
    ParamKind::Deployment,
    ParamKind::Name,
    ParamKind::ConsumerGroup,
    ParamKind::LabelValue,
    ParamKind::Duration,
    ParamKind::Integer,
    ParamKind::Topic,
];

// The input: one byte choosing the kind of `{{v}}`, then the value, then after the first NUL
// byte the other value (so any file of `backend/tests/corpus/` is a seed as it is).
fuzz_target!(|bytes: &[u8]| {
    let Some((&kind, rest)) = bytes.split_first() else { return };
    let kind = KINDS[usize::from(kind) % KINDS.len()];
    let text = String::from_utf8_lossy(rest);
    let (v, other) = text.split_once('\0').unwrap_or((&text, ""));
    let values: Values = [
        ("v".to_owned(), (kind, v.to_owned())),
        ("w".to_owned(), (ParamKind::LabelValue, other.to_owned())),
        ("d".to_owned(), (ParamKind::Duration, v.to_owned())),
        ("n".to_owned(), (ParamKind::Name, v.to_owned())),
        ("ns".to_owned(), (ParamKind::Namespace, v.to_owned())),
    ]
    .into_iter()
    .collect();

    // Never panics, whatever the kind.
    let _ = template::check_value(kind, v);
    let _ = template::placeholders(v);
    let _ = template::promql_slots(v);

    promql_string(&values, v, other);
    promql_regex(&values, v);
    durations(&values, v);
    names(&values, v);
    selector(&values, v, other);
    shell(v, other);
    log_pattern(&values, v);
});

/// Reads a Go/PromQL double-quoted string from the start of `text` (after its opening quote):
/// the decoded value and the rest after the closing quote, or None when it is malformed.
fn read_go_string(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 1..])),
            '\n' => return None,
            '\\' => match chars.next()?.1 {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = (0..4).map(|_| chars.next().map(|(_, c)| c)).collect::<Option<_>>()?;
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            },
            c if c.is_control() => return None,
            c => out.push(c),
        }
    }
    None
}

fn promql_string(values: &Values, v: &str, other: &str) {
    let q = template::promql("x{a=\"{{v}}\",b=\"{{w}}\"} > 1", values).expect("string slots take any value");
    let rest = q.strip_prefix("x{a=\"").expect("the template's text before the slot");
    let (a, rest) = read_go_string(rest).unwrap_or_else(|| panic!("{q:?}: the first literal is malformed"));
    assert_eq!(a, v, "{q:?}: the first literal reads back as another value");
    let rest =
        rest.strip_prefix(",b=\"").unwrap_or_else(|| panic!("{q:?}: the first value left its literal"));
    let (b, rest) = read_go_string(rest).unwrap_or_else(|| panic!("{q:?}: the second literal is malformed"));
    assert_eq!(b, other, "{q:?}: the second literal reads back as another value");
    assert_eq!(rest, "} > 1", "{q:?}: the text after the literals is not the template's");
}

/// Whether `pattern` is, as a regular expression, exactly the literal text `value` (parsed, not
/// compiled: a literal has no class, repetition, anchor or alternation anywhere).
fn is_literal(pattern: &str, value: &str) -> bool {
    match regex_syntax::parse(pattern) {
        Ok(hir) => match hir.kind() {
            regex_syntax::hir::HirKind::Empty => value.is_empty(),
            regex_syntax::hir::HirKind::Literal(lit) => *lit.0 == *value.as_bytes(),
            _ => false,
        },
        Err(_) => false,
    }
}

fn promql_regex(values: &Values, v: &str) {
    let q = template::promql("x{a=~\"{{v}}\"}", values).expect("regex slots take any value");
    let rest = q.strip_prefix("x{a=~\"").expect("the template's text before the slot");
    let (pattern, rest) = read_go_string(rest).unwrap_or_else(|| panic!("{q:?}: the literal is malformed"));
    assert_eq!(rest, "}", "{q:?}: the value left its literal");
    assert!(is_literal(&pattern, v), "{q:?}: the regex {pattern:?} is not the literal {v:?}");
}

fn is_duration_text(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || "smhdw".contains(c))
        && text.starts_with(|c: char| c.is_ascii_digit())
}

fn durations(values: &Values, v: &str) {
    if let Ok(secs) = template::duration_seconds(v) {
        assert!(secs > 0.0 && secs <= 31.0 * 86_400.0, "{v:?} is {secs} s");
        assert!(is_duration_text(v), "{v:?} accepted as a duration");
    }
    if let Ok(q) = template::promql("rate(x[{{d}}])", values) {
        let inner = q.strip_prefix("rate(x[").and_then(|r| r.strip_suffix("])"));
        assert_eq!(inner, Some(v), "{q:?}: the range is not the value");
        assert!(is_duration_text(v), "{v:?} accepted as a range");
    }
    if let Ok((text, secs)) = template::range("{{d}}", values) {
        assert_eq!(text, v);
        assert!(is_duration_text(&text) && secs > 0.0, "{v:?} accepted as a range field");
    }
}

fn is_subdomain(text: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (1..=253).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edge(text.chars().next())
        && edge(text.chars().last())
}

fn names(values: &Values, v: &str) {
    for template_text in ["{{n}}", "{{ns}}-svc", "x.{{n}}"] {
        if let Ok(name) = template::k8s_name(template_text, values) {
            assert!(is_subdomain(&name), "{template_text} with {v:?} gave the name {name:?}");
            assert_eq!(name, template_text.replace("{{n}}", v).replace("{{ns}}", v));
        }
    }
    if let Ok(ns) = template::k8s_namespace("{{ns}}", values) {
        assert!(is_subdomain(&ns) && ns.len() <= 63 && !ns.contains('.'), "namespace {ns:?}");
        assert_eq!(ns, v);
    }
    // A URL path segment holds only a checked name.
    let bases = [("svc".to_owned(), url::Url::parse("http://svc.invalid:8080/base/").expect("base"))]
        .into_iter()
        .collect();
    if let Ok(u) = template::url("{{url:svc}}/health/{{n}}?x=1", values, &bases) {
        assert_eq!(u.host_str(), Some("svc.invalid"), "{u}");
        assert_eq!(u.path(), format!("/base/health/{v}"), "{u}");
        assert_eq!(u.query(), Some("x=1"), "{u}");
    }
}

fn selector(values: &Values, v: &str, other: &str) {
    let Ok(text) = template::selector("app={{v}},tier!={{w}}", values) else {
        return;
    };
    let parsed = LabelSelector::parse(&text).unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"));
    // The sandbox prints requirements sorted by key, as the API server does.
    assert_eq!(parsed.to_string(), format!("app={v},tier!={other}"), "{text:?} read back differently");
    let labels = serde_json::json!({ "app": v, "tier": format!("{other}x") });
    assert!(parsed.matches_labels(&labels), "{text:?} does not select its own values");
}

/// Reads `text` as POSIX shell words (no expansion happens in the quoting shell_quote emits):
/// the words, or None when an unquoted character would mean something to the shell.
fn shell_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            c if c.is_ascii_alphanumeric() || "._-/:=@,".contains(c) => {
                word.get_or_insert_with(String::new).push(c);
            }
            // `$`, backquotes, `;`, `|`, `&`, globs, redirections, `~`, `#`, newlines, non-ASCII…
            _ => return None,
        }
    }
    words.extend(word);
    Some(words)
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| (*w).to_owned()).collect()
}

fn shell(v: &str, other: &str) {
    let quoted = commands::shell_quote(v);
    let words_of =
        |text: &str| shell_words(text).unwrap_or_else(|| panic!("{text:?} is not plain shell words"));
    assert_eq!(words_of(&quoted), vec![v.to_owned()], "{v:?} quoted as {quoted:?}");
    let shown = template::command(
        "kubectl get pods -n {{v}} -l app={{w}}",
        &[
            ("v".to_owned(), (ParamKind::LabelValue, v.to_owned())),
            ("w".to_owned(), (ParamKind::LabelValue, format!("{v} ;x"))),
        ]
        .into_iter()
        .collect(),
    )
    .expect("command text takes any value");
    let app = format!("app={v} ;x");
    assert_eq!(words_of(&shown), words(&["kubectl", "get", "pods", "-n", v, "-l", &app]), "{shown:?}");

    // Every kubectl spelling Triage shows, with the two values in every position.
    let (ns, name) = (v, other);
    let sel = other.trim();
    let mut get = vec!["kubectl", "-n", ns, "get", name, "-o", "wide"];
    if !sel.is_empty() {
        get.extend(["-l", sel]);
    }
    let deployment = format!("deployment/{name}");
    let replicas = format!("--replicas={name}");
    for (text, expected) in [
        (commands::kubectl_get(ns, name, true, Some(other)), words(&get)),
        (commands::kubectl_describe(ns, "pod", name), words(&["kubectl", "-n", ns, "describe", "pod", name])),
        (
            commands::kubectl_logs(ns, name, 100, true),
            words(&["kubectl", "-n", ns, "logs", name, "--tail=100", "--previous"]),
        ),
        (
            commands::kubectl_events(ns),
            words(&["kubectl", "-n", ns, "get", "events", "--sort-by=.lastTimestamp"]),
        ),
        (commands::kubectl_top_pods(ns), words(&["kubectl", "-n", ns, "top", "pods"])),
        (
            commands::kubectl_scale(ns, name, name),
            words(&["kubectl", "-n", ns, "scale", &deployment, &replicas]),
        ),
        (
            commands::kubectl_restart(ns, name),
            words(&["kubectl", "-n", ns, "rollout", "restart", &deployment]),
        ),
        (
            commands::kubectl_delete_pod(ns, name, true),
            words(&["kubectl", "-n", ns, "delete", "pod", name, "--force", "--grace-period=0"]),
        ),
        (
            commands::kubectl_delete_pods(ns, name, false),
            words(&["kubectl", "-n", ns, "delete", "pods", "-l", name]),
        ),
    ] {
        assert_eq!(words_of(&text), expected, "{text:?}");
    }
}

fn log_pattern(values: &Values, v: &str) {
    let literal = template::log_pattern("{{v}}", values).expect("log patterns take any value");
    assert!(is_literal(&literal, v), "the log pattern {literal:?} is not the literal {v:?}");
    let pattern = template::log_pattern("^ERROR .*{{v}}", values).expect("log patterns take any value");
    assert_eq!(pattern, format!("^ERROR .*{literal}"), "the template's own text changed");
}
