#![no_main]
//! `workloads::selector_of` on arbitrary `LabelSelector` objects (keys, operators and values from
//! a pool of real and hostile words or arbitrary text). A selector it accepts is never empty, and
//! its text — what Triage sends as `labelSelector=` — parses back, with the sandbox's parser
//! (which reads selectors as the API server does), to a selector that matches exactly the same
//! label maps as the accepted one (`kube::core::SelectorExt::matches`). The sandbox's own
//! conversion of the object agrees too. The sandbox's text parser takes arbitrary text without
//! panicking.

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::core::SelectorExt;
use libfuzzer_sys::fuzz_target;
use triage::kubernetes::workloads::selector_of;
use triage_sandbox::selectors::LabelSelector as SandboxSelector;

const POOL: [&str; 20] = [
    "app",
    "tier",
    "web",
    "api",
    "example.com/team",
    "v1.2_3-x",
    "",
    "a",
    "b",
    "a,b",
    "a=b",
    "a!=b",
    "(",
    ")",
    " ",
    "!",
    "in",
    "notin",
    "x in (y)",
    "é",
];

#[derive(Debug, Arbitrary)]
enum Word {
    Pool(u8),
    Any(String),
}

impl Word {
    fn text(&self) -> String {
        match self {
            Word::Pool(i) => POOL[usize::from(*i) % POOL.len()].to_owned(),
            Word::Any(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Other(String),
}

#[derive(Debug, Arbitrary)]
struct Requirement {
    key: Word,
    op: Op,
    values: Option<Vec<Word>>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    match_labels: Option<Vec<(Word, Word)>>,
    match_expressions: Option<Vec<Requirement>>,
    label_maps: Vec<Vec<(Word, Word)>>,
    text: String,
}

fn map(pairs: &[(Word, Word)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.text(), v.text())).collect()
}

/// A seed written as JSON: `{"selector": LabelSelector, "labels": [map…], "text": "…"}`.
#[derive(serde::Deserialize)]
struct Seed {
    selector: LabelSelector,
    #[serde(default)]
    labels: Vec<BTreeMap<String, String>>,
    #[serde(default)]
    text: String,
}

fuzz_target!(|bytes: &[u8]| {
    if bytes.first() == Some(&b'{') {
        if let Ok(seed) = serde_json::from_slice::<Seed>(bytes) {
            check(&seed.selector, seed.labels, &seed.text);
        }
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(bytes)) else { return };
    let selector = LabelSelector {
        match_labels: input.match_labels.as_deref().map(map),
        match_expressions: input.match_expressions.as_ref().map(|reqs| {
            reqs.iter()
                .map(|r| LabelSelectorRequirement {
                    key: r.key.text(),
                    operator: match &r.op {
                        Op::In => "In".to_owned(),
                        Op::NotIn => "NotIn".to_owned(),
                        Op::Exists => "Exists".to_owned(),
                        Op::DoesNotExist => "DoesNotExist".to_owned(),
                        Op::Other(s) => s.clone(),
                    },
                    values: r.values.as_ref().map(|vs| vs.iter().map(Word::text).collect()),
                })
                .collect()
        }),
    };
    check(&selector, input.label_maps.iter().map(|m| map(m)).collect(), &input.text);
});

fn check(selector: &LabelSelector, mut maps: Vec<BTreeMap<String, String>>, text: &str) {
    // The sandbox's parser on arbitrary text: never panics, nor does what it returns.
    if let Ok(parsed) = SandboxSelector::parse(text) {
        let _ = parsed.to_string();
        let _ = parsed.matches_labels(&serde_json::json!({ "app": text }));
    }

    let Ok(accepted) = selector_of("deployment fuzz", selector) else { return };
    assert!(!accepted.selects_all(), "{selector:?} accepted as an empty selector");
    let text = accepted.to_string();
    assert!(!text.trim().is_empty(), "{selector:?} accepted with the empty text {text:?}");
    let parsed = SandboxSelector::parse(&text)
        .unwrap_or_else(|e| panic!("{selector:?} accepted as {text:?}, which does not parse: {e}"));
    assert!(!parsed.is_empty(), "{text:?} parses back as an empty selector");
    let object = serde_json::to_value(selector).expect("a LabelSelector encodes as JSON");
    let converted = SandboxSelector::from_object(&object, "spec.selector").ok();

    // The label maps to compare on: the fuzzer's own, and ones built from the selector's words
    // so that matches are found as well as misses.
    let own = selector.match_labels.clone().unwrap_or_default();
    let mut with_values = own.clone();
    for r in selector.match_expressions.iter().flatten() {
        if let Some(v) = r.values.iter().flatten().next() {
            with_values.insert(r.key.clone(), v.clone());
        }
    }
    maps.extend([BTreeMap::new(), own, with_values]);
    for labels in &maps {
        let expected = accepted.matches(labels);
        let json = serde_json::to_value(labels).expect("labels encode as JSON");
        assert_eq!(
            parsed.matches_labels(&json),
            expected,
            "{selector:?} sent as {text:?} decides {labels:?} differently"
        );
        if let Some(converted) = &converted {
            assert_eq!(
                converted.matches_labels(&json),
                expected,
                "{selector:?}: the sandbox's conversion decides {labels:?} differently"
            );
        }
    }
}
