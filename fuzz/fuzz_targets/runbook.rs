#![no_main]
//! The runbook loader and validator (`runbooks::parse_runbook`: YAML, then every rule of
//! `validate.rs`) on arbitrary text. It never panics; every problem names the file it was given
//! and a line of the input (or 0 for the file as a whole) with a reason; a runbook it accepts has
//! a valid id and steps, and travels to the browser as JSON and back unchanged.

use libfuzzer_sys::fuzz_target;
use triage::runbooks::parse_runbook;
use triage_shared::runbook::Runbook;

const FILE: &str = "fuzz.yaml";

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    // The lines as YAML counts them (`\r\n`, `\r` and `\n` each end one; an empty file has
    // one line, a final line break starts one more).
    let lines = 1 + text.replace("\r\n", "\n").chars().filter(|&c| c == '\n' || c == '\r').count();
    match parse_runbook(&text, FILE) {
        Err(problems) => {
            assert!(!problems.is_empty(), "refused without a problem");
            for p in &problems {
                assert_eq!(p.file, FILE);
                assert!(!p.reason.trim().is_empty(), "a problem without a reason at line {}", p.line);
                assert!(p.line <= lines, "{p} points past the input's {lines} lines");
            }
        }
        Ok(runbook) => {
            assert!(!runbook.id.is_empty() && runbook.id.len() <= 63, "accepted id {:?}", runbook.id);
            assert!(!runbook.steps.is_empty(), "accepted without steps");
            let json = serde_json::to_string(&runbook).expect("an accepted runbook encodes as JSON");
            let back: Runbook = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("an accepted runbook does not read back: {e}\n{json}"));
            let again = serde_json::to_string(&back).expect("encodes again");
            assert_eq!(json, again, "an accepted runbook changed on its way through JSON");
        }
    }
});
