//! A check's verdict on screen: its word (as the backend spells it) and badge colour, and
//! whether it needs attention.

use triage_shared::runbook::Verdict;

use crate::widgets::Level;

/// The badge of a verdict: its word and colour.
pub fn verdict_badge(verdict: Verdict) -> (&'static str, Level) {
    match verdict {
        Verdict::Ok => ("ok", Level::Ok),
        Verdict::Warning => ("warning", Level::Warn),
        Verdict::Critical => ("critical", Level::Crit),
        Verdict::Error => ("error", Level::Crit),
        Verdict::Skipped => ("skipped", Level::Neutral),
    }
}

/// A verdict's word as the backend spells it (`data-verdict` attributes, reports).
pub fn verdict_word(verdict: Verdict) -> &'static str {
    verdict_badge(verdict).0
}

/// Warnings, critical findings and failed checks open their step by default.
pub fn needs_attention(v: Verdict) -> bool {
    matches!(v, Verdict::Warning | Verdict::Critical | Verdict::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_read_as_the_backend_spells_them() {
        assert_eq!(verdict_badge(Verdict::Critical), ("critical", Level::Crit));
        assert_eq!(verdict_word(Verdict::Skipped), "skipped");
        assert!(needs_attention(Verdict::Error));
        assert!(!needs_attention(Verdict::Ok));
    }
}
