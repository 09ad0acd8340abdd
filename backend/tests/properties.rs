//! Property tests of the parsers that take raw user input: the deep-link return path after login
//! and the live-query subscription. Each runs a fixed number of generated cases in CI (bounded
//! time, deterministic from the committed seeds in `proptest-regressions/` when a failure was
//! ever found); `PROPTEST_CASES=100000 cargo test -p triage --test properties` runs longer.
//!
//! Properties: nothing panics; an accepted return path is a same-origin relative path; a
//! subscription that is accepted round-trips its values.

use proptest::prelude::*;
use triage::auth::return_to::safe_return_to;
use triage::live::parse_subscription;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 2_000, ..ProptestConfig::default() }
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

proptest! {
    #![proptest_config(config())]

    #[test]
    fn return_to_never_leaves_the_origin(raw in prop_oneof![hostile_path(), any::<String>()]) {
        if let Some(path) = safe_return_to(&raw) {
            prop_assert!(path.starts_with('/'), "{path:?}");
            prop_assert!(!path.starts_with("//"), "{path:?}");
            prop_assert!(!path.contains('\\'), "{path:?}");
            let resolved = url::Url::parse("https://triage.internal/")
                .and_then(|base| base.join(&path))
                .map_err(|e| TestCaseError::fail(format!("{path:?}: {e}")))?;
            prop_assert_eq!(resolved.host_str(), Some("triage.internal"), "{:?}", path);
        }
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
