//! The store's statements, values and rows, and how each database runs them.
//!
//! A statement is written once, in PostgreSQL's spelling: tables named `triage_…` (a PostgreSQL
//! database may be shared with other software) and parameters `$1`, `$2`. Its SQLite text is
//! derived once, on first use: the same table without the prefix (the SQLite file holds only
//! Triage's tables) and parameters `?1`, `?2`. The store's statements hold no string literal or
//! identifier that would be changed by that. Only the statements that pass a list differ beyond
//! that, and they carry both texts ([`Sql::each`]).

use std::sync::OnceLock;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::{ToSql, Type};

use super::StoreError;

/// Room in SQLite's statement cache: more than the store has statements, so each is prepared once.
pub(super) const STATEMENTS: usize = 32;

/// The prefix of the store's tables in PostgreSQL, absent in SQLite.
const POSTGRES_PREFIX: &str = "triage_";

/// One statement of the store.
pub struct Sql {
    postgres: &'static str,
    sqlite: SqliteText,
}

enum SqliteText {
    Derived(OnceLock<String>),
    Own(&'static str),
}

impl Sql {
    /// A statement whose SQLite text is derived from the PostgreSQL one.
    pub const fn new(postgres: &'static str) -> Self {
        Self { postgres, sqlite: SqliteText::Derived(OnceLock::new()) }
    }

    /// A statement that passes a list, spelled for each database: PostgreSQL binds it as an
    /// array, SQLite as a JSON array (read with `json_each`).
    pub const fn each(postgres: &'static str, sqlite: &'static str) -> Self {
        Self { postgres, sqlite: SqliteText::Own(sqlite) }
    }

    pub(super) fn sqlite(&self) -> &str {
        match &self.sqlite {
            SqliteText::Derived(text) => text.get_or_init(|| sqlite_text(self.postgres)),
            SqliteText::Own(text) => text,
        }
    }
}

/// PostgreSQL's spelling turned into SQLite's: `triage_audit` → `audit`, `$1` → `?1`.
fn sqlite_text(postgres: &str) -> String {
    let mut out = String::with_capacity(postgres.len());
    let mut rest = postgres;
    let mut in_word = false;
    while let Some(c) = rest.chars().next() {
        if !in_word && let Some(after) = rest.strip_prefix(POSTGRES_PREFIX) {
            rest = after;
            continue;
        }
        let parameter = c == '$' && rest[1..].starts_with(|d: char| d.is_ascii_digit());
        out.push(if parameter { '?' } else { c });
        in_word = c.is_alphanumeric() || c == '_';
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A parameter or a column of the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    /// Only as a parameter, in an [`Sql::each`] statement.
    Ints(Vec<i64>),
    /// Only as a parameter, in an [`Sql::each`] statement.
    Texts(Vec<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Self::Null, Self::Text)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Self::Null, Self::Int)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Blob(v)
    }
}

impl From<Vec<i64>> for Value {
    fn from(v: Vec<i64>) -> Self {
        Self::Ints(v)
    }
}

impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Self::Texts(v)
    }
}

/// One row of an answer, read column by column in the order of the statement's `SELECT`.
pub struct Row {
    columns: std::vec::IntoIter<Value>,
    at: usize,
}

impl Row {
    fn new(values: Vec<Value>) -> Self {
        Self { columns: values.into_iter(), at: 0 }
    }

    fn next(&mut self) -> Result<Value, StoreError> {
        self.at += 1;
        self.columns.next().ok_or_else(|| StoreError(format!("the store's answer has no column {}", self.at)))
    }

    /// A column of another type than the statement's reader expects (the value itself is not
    /// repeated: it may be a whole snapshot).
    fn wrong(&self, what: &str, got: &Value) -> StoreError {
        let got = match got {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a number",
            Value::Text(_) => "a text",
            Value::Blob(_) => "bytes",
            Value::Ints(_) | Value::Texts(_) => "a list",
        };
        StoreError(format!("the store's column {} holds {got}, not {what}", self.at))
    }

    pub fn int(&mut self) -> Result<i64, StoreError> {
        match self.next()? {
            Value::Int(v) => Ok(v),
            other => Err(self.wrong("an integer", &other)),
        }
    }

    pub fn opt_int(&mut self) -> Result<Option<i64>, StoreError> {
        match self.next()? {
            Value::Int(v) => Ok(Some(v)),
            Value::Null => Ok(None),
            other => Err(self.wrong("an integer or NULL", &other)),
        }
    }

    /// A number; SQLite may hand back a whole one as an integer.
    pub fn real(&mut self) -> Result<f64, StoreError> {
        match self.next()? {
            Value::Real(v) => Ok(v),
            Value::Int(v) => Ok(v as f64),
            other => Err(self.wrong("a number", &other)),
        }
    }

    pub fn text(&mut self) -> Result<String, StoreError> {
        match self.next()? {
            Value::Text(v) => Ok(v),
            other => Err(self.wrong("a text", &other)),
        }
    }

    pub fn opt_text(&mut self) -> Result<Option<String>, StoreError> {
        match self.next()? {
            Value::Text(v) => Ok(Some(v)),
            Value::Null => Ok(None),
            other => Err(self.wrong("a text or NULL", &other)),
        }
    }

    pub fn blob(&mut self) -> Result<Vec<u8>, StoreError> {
        match self.next()? {
            Value::Blob(v) => Ok(v),
            other => Err(self.wrong("bytes", &other)),
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        let json = |text: serde_json::Result<String>| {
            text.map(|t| ToSqlOutput::Owned(rusqlite::types::Value::Text(t)))
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
        };
        Ok(match self {
            Self::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Self::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Self::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Self::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Self::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Self::Ints(v) => json(serde_json::to_string(v))?,
            Self::Texts(v) => json(serde_json::to_string(v))?,
        })
    }
}

/// Runs one statement on SQLite (prepared once per connection) and reads its rows.
pub(super) fn sqlite_step(
    conn: &rusqlite::Connection,
    sql: &Sql,
    params: &[Value],
) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(sql.sqlite())?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns)
            .map(|i| {
                Ok(match row.get::<_, rusqlite::types::Value>(i)? {
                    rusqlite::types::Value::Null => Value::Null,
                    rusqlite::types::Value::Integer(v) => Value::Int(v),
                    rusqlite::types::Value::Real(v) => Value::Real(v),
                    rusqlite::types::Value::Text(v) => Value::Text(v),
                    rusqlite::types::Value::Blob(v) => Value::Blob(v),
                })
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(Row::new(values));
    }
    Ok(out)
}

impl Value {
    fn as_postgres(&self) -> &(dyn ToSql + Sync) {
        match self {
            // Every nullable column of the store is a text, and PostgreSQL checks a parameter's
            // Rust type against its column's.
            Self::Null => &None::<&str>,
            Self::Int(v) => v,
            Self::Real(v) => v,
            Self::Text(v) => v,
            Self::Blob(v) => v,
            Self::Ints(v) => v,
            Self::Texts(v) => v,
        }
    }
}

/// Runs one statement on PostgreSQL (prepared once per connection) and reads its rows.
pub(super) async fn postgres_step<C: GenericClient>(
    client: &C,
    sql: &Sql,
    params: &[Value],
) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql.postgres).await?;
    let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(Value::as_postgres).collect();
    client.query(&statement, &params).await?.iter().map(postgres_row).collect()
}

fn postgres_row(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let values = row
        .columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let ty = column.type_();
            Ok(if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(i)?.map_or(Value::Null, Value::Int)
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(i)?.map_or(Value::Null, |v| Value::Int(i64::from(v)))
            } else if *ty == Type::FLOAT8 {
                row.try_get::<_, Option<f64>>(i)?.map_or(Value::Null, Value::Real)
            } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
                row.try_get::<_, Option<String>>(i)?.map_or(Value::Null, Value::Text)
            } else if *ty == Type::BYTEA {
                row.try_get::<_, Option<Vec<u8>>>(i)?.map_or(Value::Null, Value::Blob)
            } else {
                return Err(StoreError(format!(
                    "the store's column {} has the type {ty}, which Triage does not read",
                    column.name()
                )));
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Row::new(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_drops_the_prefix_and_numbers_parameters_with_question_marks() {
        assert_eq!(
            sqlite_text(
                "DELETE FROM triage_pg_snapshots WHERE target = $1 AND id NOT IN (SELECT id FROM triage_pg_snapshots LIMIT $12)"
            ),
            "DELETE FROM pg_snapshots WHERE target = ?1 AND id NOT IN (SELECT id FROM pg_snapshots LIMIT ?12)"
        );
        // Only a word that starts with the prefix loses it; a lone `$` stays.
        assert_eq!(sqlite_text("SELECT x_triage_y, $ FROM triage_a"), "SELECT x_triage_y, $ FROM a");
    }

    #[test]
    fn a_row_is_read_in_order_and_a_wrong_type_is_named_not_printed() {
        let mut row = Row::new(vec![Value::Int(3), Value::Int(2), Value::Null, Value::Blob(vec![7; 4096])]);
        assert_eq!(row.int().expect("int"), 3);
        assert_eq!(row.real().expect("a whole number"), 2.0);
        assert_eq!(row.opt_text().expect("null"), None);
        let e = row.text().expect_err("bytes are no text").to_string();
        assert_eq!(e, "the store's column 4 holds bytes, not a text");
        assert!(row.int().is_err(), "past the last column");
    }
}
