//! Named read-only SQL checks: the statement is prepared with the parameters' types, values are
//! bound (never spliced), and each result value becomes JSON by its PostgreSQL type. The
//! extended protocol runs exactly one statement, so a check cannot end the read-only
//! transaction and write after it.

use futures::{StreamExt, pin_mut};
use tokio_postgres::Client;
use tokio_postgres::types::{FromSql, ToSql, Type};
use triage_shared::pg::{SqlParam, SqlResult};

use super::TxError;

/// Most rows returned; the result says when there were more.
const MAX_ROWS: usize = 1000;

pub(super) async fn run(tx: &Client, sql: &str, params: &[SqlParam]) -> Result<SqlResult, TxError> {
    let types: Vec<Type> = params
        .iter()
        .map(|p| match p {
            SqlParam::Text(_) => Type::TEXT,
            SqlParam::Int(_) => Type::INT8,
            SqlParam::Float(_) => Type::FLOAT8,
            SqlParam::Bool(_) => Type::BOOL,
        })
        .collect();
    let statement = tx.prepare_typed(sql, &types).await?;
    let columns: Vec<String> = statement.columns().iter().map(|c| c.name().to_owned()).collect();
    let values: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| -> &(dyn ToSql + Sync) {
            match p {
                SqlParam::Text(v) => v,
                SqlParam::Int(v) => v,
                SqlParam::Float(v) => v,
                SqlParam::Bool(v) => v,
            }
        })
        .collect();
    let stream = tx.query_raw(&statement, values).await?;
    pin_mut!(stream);
    let mut rows = Vec::new();
    let mut truncated = false;
    while let Some(row) = stream.next().await {
        let row = row?;
        if rows.len() == MAX_ROWS {
            truncated = true;
            break;
        }
        let mut out = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            out.push(row.try_get::<_, Json>(i)?.0);
        }
        rows.push(out);
    }
    Ok(SqlResult { columns, rows, truncated, took_ms: 0.0 })
}

/// Any PostgreSQL value as JSON: numbers, booleans, text, JSON, timestamps (RFC 3339) and
/// numerics are decoded; other types become a note asking for a cast to text.
struct Json(serde_json::Value);

impl<'a> FromSql<'a> for Json {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use serde_json::Value;
        let v = match *ty {
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Value::from(i16::from_sql(ty, raw)?),
            Type::INT4 => Value::from(i32::from_sql(ty, raw)?),
            Type::INT8 => Value::from(i64::from_sql(ty, raw)?),
            Type::OID => Value::from(u32::from_sql(ty, raw)?),
            Type::FLOAT4 => float(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => float(f64::from_sql(ty, raw)?),
            Type::NUMERIC => {
                numeric(raw).map_or(Value::Null, |s| s.parse::<f64>().map_or(Value::String(s), float))
            }
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Value::String(String::from_sql(ty, raw)?)
            }
            Type::JSON => serde_json::from_slice(raw)?,
            // jsonb's binary form is a version byte, then the text.
            Type::JSONB => serde_json::from_slice(raw.get(1..).unwrap_or_default())?,
            Type::TIMESTAMPTZ | Type::TIMESTAMP => {
                let micros = i64::from_sql(&Type::INT8, raw)?;
                // PostgreSQL counts from 2000-01-01.
                let unix_micros = micros + 946_684_800_000_000;
                let text = jiff::Timestamp::from_microsecond(unix_micros)
                    .map_or_else(|_| micros.to_string(), |t| t.to_string());
                Value::String(if *ty == Type::TIMESTAMP {
                    text.trim_end_matches('Z').to_owned()
                } else {
                    text
                })
            }
            Type::DATE => {
                let days = i32::from_sql(&Type::INT4, raw)?;
                let date = jiff::civil::date(2000, 1, 1).checked_add(jiff::Span::new().days(i64::from(days)));
                Value::String(date.map_or_else(|_| days.to_string(), |d| d.to_string()))
            }
            _ => Value::String(format!("<{} value: cast it to text in the query>", ty.name())),
        };
        Ok(Json(v))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Json(serde_json::Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn float(f: f64) -> serde_json::Value {
    serde_json::Number::from_f64(f)
        .map_or_else(|| serde_json::Value::String(f.to_string()), serde_json::Value::Number)
}

/// Decodes PostgreSQL's binary `numeric` (base-10000 digits) to its decimal text.
fn numeric(raw: &[u8]) -> Option<String> {
    let word = |i: usize| raw.get(i..i + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let (ndigits, weight, sign, dscale) = (word(0)?, word(2)?, word(4)? as u16, word(6)?);
    match sign {
        0xC000 => return Some("NaN".to_owned()),
        0xD000 => return Some("Infinity".to_owned()),
        0xF000 => return Some("-Infinity".to_owned()),
        _ => {}
    }
    let digits: Vec<i16> = (0..ndigits.max(0) as usize).map(|i| word(8 + 2 * i)).collect::<Option<_>>()?;
    let mut int_part = String::new();
    for w in 0..=weight.max(-1) {
        let d = digits.get(w as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            if d != 0 {
                int_part = d.to_string();
            }
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut pos = weight + 1;
    while (frac.len() as i16) < dscale {
        let d = if pos < 0 { 0 } else { digits.get(pos as usize).copied().unwrap_or(0) };
        frac.push_str(&format!("{d:04}"));
        pos += 1;
    }
    frac.truncate(dscale.max(0) as usize);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Some(if frac.is_empty() { format!("{sign}{int_part}") } else { format!("{sign}{int_part}.{frac}") })
}

#[cfg(test)]
mod tests {
    use super::numeric;

    fn encode(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight, sign as i16, dscale] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_decode_to_their_text() {
        assert_eq!(numeric(&encode(2, 1, 0, 2, &[12, 3456])).as_deref(), Some("123456.00"));
        assert_eq!(numeric(&encode(2, 0, 0x4000, 3, &[3, 1416])).as_deref(), Some("-3.141"));
        assert_eq!(numeric(&encode(1, -1, 0, 4, &[50])).as_deref(), Some("0.0050"));
        assert_eq!(numeric(&encode(0, 0, 0, 0, &[])).as_deref(), Some("0"));
        assert_eq!(numeric(&encode(1, 1, 0, 0, &[1])).as_deref(), Some("10000"));
    }
}
