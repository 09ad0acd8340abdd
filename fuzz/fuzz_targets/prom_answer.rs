#![no_main]
//! The one-pass reader of Prometheus's query answers (`QueryAnswer`, used by the backend for its
//! own queries and by the browser for the forwarded query routes) on arbitrary `data`: JSON text
//! as Prometheus might send it (the seeds are real answers), or a JSON tree built from the bytes
//! with Prometheus's keys and numeric-looking strings, wrapped in a success envelope. It never
//! panics; every point it returns is finite (a chart can place it and JSON can carry it); the
//! result reads back as itself once encoded; each series keeps the text of its last raw value.

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value};
use triage_shared::prom::answer::QueryAnswer;
use triage_shared::prom::{QueryResult, ResultType};

const KEYS: [&str; 8] = ["resultType", "result", "metric", "value", "values", "__name__", "job", "0"];
const TEXTS: [&str; 14] = [
    "vector", "matrix", "scalar", "string", "NaN", "+Inf", "-Inf", "1e309", "-0", "0x1p3", "1_0", " 1",
    "4.2", "",
];

fn json(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let choice = if depth == 0 { u.int_in_range(0..=4)? } else { u.int_in_range(0..=6)? };
    Ok(match choice {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => match u.int_in_range(0..=2)? {
            0 => Number::from_f64(f64::arbitrary(u)?).map_or(Value::Null, Value::Number),
            1 => Value::Number(i64::arbitrary(u)?.into()),
            _ => Value::Number(u64::arbitrary(u)?.into()),
        },
        3 => Value::String((*u.choose(&TEXTS)?).to_owned()),
        4 => Value::String(String::arbitrary(u)?),
        5 => {
            let len = u.int_in_range(0..=4)?;
            Value::Array((0..len).map(|_| json(u, depth - 1)).collect::<Result<_>>()?)
        }
        _ => {
            let len = u.int_in_range(0..=4)?;
            let mut map = Map::new();
            for _ in 0..len {
                let key =
                    if bool::arbitrary(u)? { (*u.choose(&KEYS)?).to_owned() } else { String::arbitrary(u)? };
                map.insert(key, json(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

fn data(bytes: &[u8]) -> Option<Value> {
    if bytes.first().is_some_and(|b| matches!(b, b'{' | b'[' | b' ' | b'\n')) {
        return serde_json::from_slice(bytes).ok();
    }
    let mut u = Unstructured::new(bytes);
    let result_type = if bool::arbitrary(&mut u).ok()? {
        Value::String((*u.choose(&TEXTS[..4]).ok()?).to_owned())
    } else {
        json(&mut u, 1).ok()?
    };
    let result = json(&mut u, 4).ok()?;
    Some(serde_json::json!({ "resultType": result_type, "result": result }))
}

fuzz_target!(|bytes: &[u8]| {
    let Some(data) = data(bytes) else { return };
    let envelope = serde_json::json!({ "status": "success", "data": data, "warnings": ["w"] });
    let text = serde_json::to_vec(&envelope).expect("a JSON tree encodes");
    let Ok(QueryAnswer(result)) = serde_json::from_slice::<QueryAnswer>(&text) else { return };
    assert_eq!(result.warnings, ["w"]);
    for s in &result.series {
        for [t, v] in &s.points {
            assert!(t.is_finite() && v.is_finite(), "point [{t}, {v}] from {data}");
        }
        if matches!(result.result_type, ResultType::Vector | ResultType::Scalar | ResultType::String) {
            assert!(s.points.len() <= 1, "{} points in one instant series from {data}", s.points.len());
        }
        if !s.points.is_empty() {
            assert!(s.last_text.is_some(), "points without a last value from {data}");
        }
    }
    if matches!(result.result_type, ResultType::Scalar | ResultType::String) {
        assert_eq!(result.series.len(), 1);
    }
    // What the browser receives reads back as the same answer.
    let text = serde_json::to_vec(&result).expect("a parsed answer encodes as JSON");
    let back: QueryResult = serde_json::from_slice(&text).expect("the encoded answer decodes");
    assert_eq!(back, result, "the encoded answer reads back differently");
});
