#![no_main]
//! `auth::return_to::safe_return_to` on arbitrary text: every accepted return path stays on the
//! origin, as given and after any number of rounds of percent-decoding.

use libfuzzer_sys::fuzz_target;
use triage::auth::return_to::safe_return_to;

fuzz_target!(|raw: &str| {
    let Some(path) = safe_return_to(raw) else { return };
    // The answer is the input itself, or home for the login flow's own pages.
    assert!(path == raw || path == "/", "{raw:?} became {path:?}");
    let base = url::Url::parse("http://triage.invalid/").expect("base URL");
    // Decode until nothing changes: no stage may be anything but a plain same-origin path.
    let mut text = path.clone();
    for round in 0..64 {
        assert!(text.starts_with('/'), "round {round} of {raw:?}: {text:?} is not a path");
        assert!(!text.starts_with("//"), "round {round} of {raw:?}: {text:?} is scheme-relative");
        assert!(!text.contains('\\'), "round {round} of {raw:?}: {text:?} has a backslash");
        assert!(
            !text.chars().any(|c| c.is_control() || c.is_whitespace()),
            "round {round} of {raw:?}: {text:?} has a control or space character"
        );
        let joined = base.join(&text).map(|u| u.origin());
        assert_eq!(joined.ok(), Some(base.origin()), "round {round} of {raw:?}: {text:?} leaves the origin");
        let decoded = decode(&text);
        if decoded == text {
            return;
        }
        text = decoded;
    }
    panic!("{raw:?} still decodes after 64 rounds");
});

/// Percent-decoding as a lenient server would do it (invalid UTF-8 replaced, not refused).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(pair) = bytes.get(i + 1..i + 3)
            && let (Some(h), Some(l)) = (hex(pair[0]), hex(pair[1]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}
