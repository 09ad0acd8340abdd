//! Property tests of the parsers that take raw user input: the deep-link return path after login
//! and the live-query subscription. Each runs a fixed number of generated cases in CI (bounded
//! time, deterministic from the committed seeds in `proptest-regressions/` when a failure was
//! ever found); `PROPTEST_CASES=100000 cargo test -p triage --test properties` runs longer.
//!
//! Properties: nothing panics; an accepted return path is a same-origin relative path; a
//! subscription that is accepted round-trips its values.

use proptest::prelude::*;
use triage::auth::return_to::safe_return_to;
use triage::prometheus::live::parse_subscription;

/// 2,000 cases per property, or `PROPTEST_CASES`.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Inputs that look like the attacks: schemes, slashes, backslashes, encodings, control bytes.
fn hostile_path() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "/",
        "//",
        "\\",
        "/\\",
        "%2f",
        "%2F",
        "%5c",
        "%252f",
        "http:",
        "https://evil.example",
        "evil.example",
        "javascript:",
        "@",
        "?",
        "#",
        "..",
        ".",
        "%00",
        "\t",
        "\n",
        " ",
        "runbooks",
        "x",
        "a=b",
        "&",
        ":",
        "%",
    ]);
    prop::collection::vec(pieces, 0..10).prop_map(|v| v.concat())
}

/// An accepted return path is a same-origin relative path.
fn return_to_holds(raw: &str) -> Result<(), TestCaseError> {
    if let Some(path) = safe_return_to(raw) {
        prop_assert!(path.starts_with('/'), "{path:?}");
        prop_assert!(!path.starts_with("//"), "{path:?}");
        prop_assert!(!path.contains('\\'), "{path:?}");
        let resolved = url::Url::parse("https://triage.internal/")
            .and_then(|base| base.join(&path))
            .map_err(|e| TestCaseError::fail(format!("{path:?}: {e}")))?;
        prop_assert_eq!(resolved.host_str(), Some("triage.internal"), "{:?}", path);
    }
    Ok(())
}

/// The committed corpus (`tests/corpus/TARGET/*`, one input per file: known attacks and the
/// inputs that once found a problem), replayed through the same properties on every run before
/// the generated cases. Add a file to keep an input forever.
#[test]
fn corpus_inputs_hold_every_property() -> Result<(), TestCaseError> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut tried = 0;
    for target in ["return_to", "subscription", "promql_value", "k8s_name", "runbook"] {
        let dir = root.join(target);
        let entries =
            std::fs::read_dir(&dir).map_err(|e| TestCaseError::fail(format!("{}: {e}", dir.display())))?;
        for entry in entries {
            let path = entry.map_err(|e| TestCaseError::fail(e.to_string()))?.path();
            let bytes = std::fs::read(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let input = String::from_utf8_lossy(&bytes);
            let checked = match target {
                "return_to" => return_to_holds(&input),
                "subscription" => {
                    let _ = parse_subscription(&input);
                    Ok(())
                }
                "promql_value" => runbooks::promql_value_holds(&input),
                "k8s_name" => runbooks::k8s_name_holds(&input),
                _ => {
                    runbooks::runbook_parser_holds(&input);
                    Ok(())
                }
            };
            checked.map_err(|e| TestCaseError::fail(format!("{}: {e}", path.display())))?;
            tried += 1;
        }
    }
    prop_assert!(tried >= 90, "the corpus has {tried} inputs");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn return_to_never_leaves_the_origin(raw in prop_oneof![hostile_path(), any::<String>()]) {
        return_to_holds(&raw)?;
    }

    #[test]
    fn subscription_parser_never_panics(raw in any::<String>()) {
        let _ = parse_subscription(&raw);
    }

    #[test]
    fn accepted_subscriptions_round_trip(
        query in "[a-z_(){}\\[\\]\" =~0-9.+*/-]{1,80}",
        step in 1u32..100_000,
        window in 0u32..10_000_000,
        interval in 0u32..5_000,
    ) {
        let raw = serde_urlencoded::to_string([
            ("query", query.clone()),
            ("step", step.to_string()),
            ("window", window.to_string()),
            ("interval", interval.to_string()),
        ]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match parse_subscription(&raw) {
            Ok(q) => {
                prop_assert_eq!(&q.query, &query);
                prop_assert_eq!((q.step, q.window, q.interval), (step, window, interval));
                prop_assert!((1..=3600).contains(&interval));
            }
            Err(e) => prop_assert!(interval == 0 || interval > 3600 || query.trim().is_empty(), "{}", e),
        }
    }
}

mod runbooks {
    use proptest::prelude::*;
    use triage::runbooks::parse_runbook;
    use triage::runbooks::template::{Values, command, k8s_name, promql};
    use triage_shared::runbook::ParamKind;

    /// The end of a PromQL double-quoted literal that starts at `from` (just after the opening
    /// quote): the index of the closing quote, honouring backslash escapes.
    fn literal_end(text: &str, from: usize) -> Option<usize> {
        let bytes = text.as_bytes();
        let mut i = from;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => return Some(i),
                _ => i += 1,
            }
        }
        None
    }

    fn values(kind: ParamKind, value: &str) -> Values {
        [("v".to_owned(), (kind, value.to_owned()))].into_iter().collect()
    }

    const SHIPPED: &str = include_str!("../../runbooks/kafka-consumer-lag.yaml");

    /// Whatever the value, it stays inside its string literal: the text after the literal is
    /// exactly the template's, so the query's shape cannot change.
    pub fn promql_value_holds(value: &str) -> Result<(), TestCaseError> {
        let prefix = "sum by (pod) (rate(events_failed_total{namespace=\"x\", pod=\"";
        let suffix = "\"}[5m])) > 0";
        let out = promql(&format!("{prefix}{{{{v}}}}{suffix}"), &values(ParamKind::LabelValue, value))
            .map_err(TestCaseError::fail)?;
        prop_assert!(out.starts_with(prefix));
        let end =
            literal_end(&out, prefix.len()).ok_or_else(|| TestCaseError::fail("unterminated literal"))?;
        prop_assert_eq!(&out[end..], suffix);
        // The same after a regex matcher, where the value is also regex-escaped.
        let out = promql("up{job=~\"{{v}}\"} == 0", &values(ParamKind::LabelValue, value))
            .map_err(TestCaseError::fail)?;
        let end = literal_end(&out, "up{job=~\"".len()).ok_or_else(|| TestCaseError::fail("unterminated"))?;
        prop_assert_eq!(&out[end..], "\"} == 0");
        Ok(())
    }

    /// A Kubernetes name is either refused or exactly the value, and a valid DNS-1123 name.
    pub fn k8s_name_holds(value: &str) -> Result<(), TestCaseError> {
        if let Ok(name) = k8s_name("{{v}}", &values(ParamKind::Deployment, value)) {
            prop_assert!(triage_shared::k8s::check_object_name(&name).is_ok(), "{name:?}");
            prop_assert_eq!(name, value);
        }
        Ok(())
    }

    /// `k8s_name_holds` checks only the names that are accepted: these known ones show that valid
    /// names are accepted (so the property is not vacuous) and invalid ones refused.
    #[test]
    fn kubernetes_names_known_cases() {
        for ok in ["stream-processor", "a", "web-0.cache"] {
            assert_eq!(k8s_name("{{v}}", &values(ParamKind::Deployment, ok)).as_deref(), Ok(ok));
        }
        for bad in ["", "Bad_Name", "-lead", "a/b", "../etc"] {
            assert!(k8s_name("{{v}}", &values(ParamKind::Deployment, bad)).is_err(), "{bad:?}");
        }
    }

    /// Pieces of PromQL (and of templates) that the token soup of `promql_checking_never_panics`
    /// is made of.
    const PROMQL_TOKENS: [&str; 40] = [
        "sum",
        "rate",
        "by",
        "without",
        "offset",
        "@",
        "bool",
        "on",
        "ignoring",
        "group_left",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "'",
        "`",
        "=",
        "=~",
        "!=",
        "!~",
        "+",
        "/",
        "^",
        "x_total",
        "le",
        "5m",
        "1e9",
        "0x1F",
        "Inf",
        "NaN",
        " ",
        "#",
        "\\",
        "{{v}}",
        "{{w}}",
    ];

    /// A runbook whose one check's query is `QUERY` (single-quoted in YAML).
    const PROMQL_RUNBOOK: &str = "id: soup\ntitle: Soup\nsummary: s\ncomponent: c\nparams:\n  - name: v\n    kind: label-value\n  - name: w\n    kind: duration\n    default: 5m\nsteps:\n  - id: q\n    title: Q\n    explanation: e\n    check:\n      kind: promql\n      query: 'QUERY'\n";

    #[test]
    fn the_promql_soup_runbook_loads_with_a_good_query() {
        let text = PROMQL_RUNBOOK.replace("QUERY", r#"sum(rate(x_total{a="{{v}}"}[{{w}}]))"#);
        assert!(parse_runbook(&text, "promql.yaml").is_ok(), "{text}");
        let text = PROMQL_RUNBOOK.replace("QUERY", "sum(rate(x_total[5m])");
        assert!(parse_runbook(&text, "promql.yaml").is_err(), "a missing parenthesis is found");
    }

    /// The parser and validator answer (with a runbook or an error), whatever the text.
    pub fn runbook_parser_holds(text: &str) {
        let _ = parse_runbook(text, "input.yaml");
    }

    /// Shown commands quote values so that a shell reads back exactly the value: the command
    /// text is run by a real `sh` (`printf %s VALUE` prints its one argument as it is) and split
    /// by the `shlex` crate's POSIX word splitter, two readers independent of `shell_quote`.
    pub fn command_value_holds(value: &str) -> Result<(), TestCaseError> {
        let out =
            command("printf %s {{v}}", &values(ParamKind::LabelValue, value)).map_err(TestCaseError::fail)?;
        let words =
            shlex::split(&out).ok_or_else(|| TestCaseError::fail(format!("shlex cannot split {out:?}")))?;
        prop_assert_eq!(words, vec!["printf".to_owned(), "%s".to_owned(), value.to_owned()], "{}", out);
        let shell = std::process::Command::new("sh")
            .args(["-c", &out])
            .output()
            .map_err(|e| TestCaseError::fail(format!("cannot run sh: {e}")))?;
        prop_assert!(shell.status.success(), "sh -c {:?}: {}", out, String::from_utf8_lossy(&shell.stderr));
        prop_assert_eq!(String::from_utf8_lossy(&shell.stdout), value, "sh -c {:?}", out);
        Ok(())
    }

    #[test]
    fn command_values_known_cases() -> Result<(), TestCaseError> {
        for value in
            ["plain", "", "it's", "a b", "$(id)", "`id`", "\\n", "-n", "'", "''", "\"\"", "é ü", "a\nb"]
        {
            command_value_holds(value)?;
        }
        Ok(())
    }

    proptest! {
        // Each case starts a shell: a bounded number of them.
        #![proptest_config(ProptestConfig { cases: super::config().cases.min(256), ..super::config() })]

        /// See [`command_value_holds`].
        #[test]
        fn command_values_are_one_shell_word(value in "[^\\x00]{0,40}") {
            command_value_holds(&value)?;
        }
    }

    proptest! {
        #![proptest_config(super::config())]

        /// See [`promql_value_holds`].
        #[test]
        fn promql_values_never_leave_their_literal(value in any::<String>()) {
            promql_value_holds(&value)?;
        }

        /// A Kubernetes name is either refused or a valid DNS-1123 name.
        #[test]
        fn kubernetes_names_are_valid_or_refused(value in prop_oneof![any::<String>(), "[a-z0-9.-]{0,70}"]) {
            k8s_name_holds(&value)?;
        }


        /// PromQL-like token soup in a check's query: parsing it at load (promql-parser, after
        /// the sentinels) answers with a runbook or problems, never a panic; and the query the
        /// runbook was shipped with still loads.
        #[test]
        fn promql_checking_never_panics(tokens in prop::collection::vec(prop::sample::select(PROMQL_TOKENS.to_vec()), 0..40)) {
            let query = tokens.concat();
            let text = PROMQL_RUNBOOK.replace("QUERY", &query.replace('\'', "''"));
            let _ = parse_runbook(&text, "promql.yaml");
        }

        /// The parser and validator never panic, on noise or on a damaged real runbook.
        #[test]
        fn runbook_parser_never_panics(noise in any::<String>(), cut in 0usize..4_000, insert in any::<String>()) {
            runbook_parser_holds(&noise);
            let mut damaged = SHIPPED.to_owned();
            let at = damaged.char_indices().map(|(i, _)| i).nth(cut % SHIPPED.chars().count()).unwrap_or(0);
            damaged.insert_str(at, &insert);
            let _ = parse_runbook(&damaged, "damaged.yaml");
        }
    }
}
