//! A runbook's PromQL, parsed when the runbook is loaded, so a syntax error is a `file:line`
//! problem of `triage runbooks check` rather than a failed check during an incident.
//!
//! The queries are templates, so each parameter slot is first replaced by a sentinel: inside a
//! string, the word `triageslot<N>z`; as a range, the duration `<1000003 + N>s`. The result is
//! parsed with the `promql-parser` crate, and then each sentinel must be found where the
//! parameter's value will be safe at run time:
//! - a string sentinel in the value of a label matcher (`label="…"`, `label=~"…"`), never in
//!   another string such as a function's argument;
//! - a range sentinel as the range of a selector (`x[…]`) or of a subquery (`(…)[…:]`).
//!
//! The template's own scanner (`template::promql_slots`) has already refused a placeholder
//! outside a double-quoted string and outside a whole range; this check confirms with a real
//! parser that those strings and ranges are the ones the rule means.

use std::time::Duration;

use promql_parser::label::Matcher;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};

use crate::runbooks::template::{Placeholder, PromqlSlot};

/// The first range sentinel, in seconds: far from any range a runbook writes (11.6 days).
const RANGE_SENTINEL_BASE: u64 = 1_000_003;

fn string_sentinel(n: usize) -> String {
    format!("triageslot{n}z")
}

fn range_sentinel(n: usize) -> Duration {
    Duration::from_secs(RANGE_SENTINEL_BASE + n as u64)
}

/// What the parsed query holds, where sentinels may be found.
#[derive(Default)]
struct Places {
    matcher_values: Vec<String>,
    other_strings: Vec<String>,
    ranges: Vec<Duration>,
}

impl Places {
    fn matchers<'a>(&mut self, matchers: impl IntoIterator<Item = &'a Matcher>) {
        self.matcher_values.extend(matchers.into_iter().map(|m| m.value.clone()));
    }

    fn selector(&mut self, vs: &promql_parser::parser::VectorSelector) {
        self.matchers(vs.matchers.matchers.iter().chain(vs.matchers.or_matchers.iter().flatten()));
    }
}

impl ExprVisitor for Places {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        match expr {
            Expr::VectorSelector(vs) => self.selector(vs),
            Expr::MatrixSelector(ms) => {
                self.selector(&ms.vs);
                self.ranges.push(ms.range);
            }
            Expr::Subquery(sq) => self.ranges.push(sq.range),
            Expr::StringLiteral(s) => self.other_strings.push(s.val.clone()),
            // The walk does not enter an aggregation's parameter (`count_values("x", …)`).
            Expr::Aggregate(agg) => {
                if let Some(param) = &agg.param {
                    walk_expr(self, param)?;
                }
            }
            _ => {}
        }
        Ok(true)
    }
}

/// Problems of one query whose slots the template scanner found; empty when it parses and
/// every parameter lands where its slot says.
pub fn check(template: &str, slots: &[(Placeholder, PromqlSlot)]) -> Vec<String> {
    let mut text = String::with_capacity(template.len() + 16 * slots.len());
    let mut at = 0;
    for (n, (h, slot)) in slots.iter().enumerate() {
        text.push_str(&template[at..h.start]);
        match slot {
            PromqlSlot::String { .. } => text.push_str(&string_sentinel(n)),
            PromqlSlot::Range => text.push_str(&format!("{}s", range_sentinel(n).as_secs())),
        }
        at = h.end;
    }
    text.push_str(&template[at..]);

    let expr = match parser::parse(&text) {
        Ok(expr) => expr,
        Err(e) => {
            let with = if slots.is_empty() { "" } else { " (with sample parameter values)" };
            return vec![format!("PromQL does not parse{with}: {e}")];
        }
    };
    let mut places = Places::default();
    if let Err(e) = walk_expr(&mut places, &expr) {
        return vec![format!("PromQL: {e}")];
    }

    let mut problems = Vec::new();
    for (n, (h, slot)) in slots.iter().enumerate() {
        match slot {
            PromqlSlot::String { .. } => {
                let sentinel = string_sentinel(n);
                if places.matcher_values.iter().any(|v| v.contains(&sentinel)) {
                    continue;
                }
                let why = if places.other_strings.iter().any(|v| v.contains(&sentinel)) {
                    "is in a string that is not a label matcher's value; only values such as label=\"…\" may hold parameters"
                } else {
                    "is not inside a label matcher's value"
                };
                problems.push(format!("PromQL: `{{{{{}}}}}` {why}", h.name));
            }
            PromqlSlot::Range => {
                if !places.ranges.contains(&range_sentinel(n)) {
                    problems.push(format!(
                        "PromQL: `{{{{{}}}}}` is not the range of a selector or subquery",
                        h.name
                    ));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::runbooks::template::promql_slots;

    fn problems(query: &str) -> Vec<String> {
        let slots = promql_slots(query).expect("the scanner accepts it");
        check(query, &slots)
    }

    #[test]
    fn shipped_shapes_pass() {
        for q in [
            "up",
            r#"sum(rate(x_total{namespace="{{ns}}"}[{{w}}])) / clamp_min(sum(rate(y_total{namespace="{{ns}}"}[{{w}}])), 0.001)"#,
            r#"max(rate(c{namespace="{{ns}}", pod=~"{{d}}-.*", container!=""}[{{w}}]))"#,
            r#"histogram_quantile(0.95, sum by (le) (rate(h_bucket{namespace="{{ns}}"}[{{w}}])))"#,
            r#"max_over_time(rate(x{a="{{v}}"}[1m])[{{w}}:30s])"#,
            r#"{__name__="x", a="pre-{{v}}-post"}"#,
        ] {
            assert_eq!(problems(q), Vec::<String>::new(), "{q}");
        }
    }

    #[test]
    fn syntax_errors_are_reported() {
        for q in ["sum(rate(x[5m])", "rate(x[5m]) +", r#"x{a="{{v}}"} by"#, "rate(x)[5m]"] {
            let p = problems(q);
            assert_eq!(p.len(), 1, "{q}: {p:?}");
            assert!(p[0].starts_with("PromQL does not parse"), "{q}: {p:?}");
        }
    }

    #[test]
    fn a_string_outside_a_matcher_is_refused() {
        let p = problems(r#"label_replace(up, "dst", "{{v}}", "src", ".*")"#);
        assert_eq!(
            p,
            [
                "PromQL: `{{v}}` is in a string that is not a label matcher's value; only values such as label=\"…\" may hold parameters"
            ]
        );
        let p = problems(r#"count_values("{{v}}", up)"#);
        assert_eq!(p.len(), 1, "{p:?}");
    }
}
