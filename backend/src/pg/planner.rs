//! Asking the planner, inside Triage's `READ ONLY` transaction: a statement's generic plan (a
//! prepared statement planned with `plan_cache_mode = force_generic_plan`, which every version
//! from 12 on offers, so `$n` parameters need no values), with and without hypothetical indexes
//! (HypoPG: they live in the session's memory, are seen only by `EXPLAIN`, and write nothing).
//!
//! Every step sits behind a savepoint: a statement that cannot be planned (a parameter whose type
//! cannot be inferred, a truncated text, a relation another role's search path finds) is
//! reported and the next one is tried. Prepared statements and hypothetical indexes outlive a
//! rollback, so both are dropped on every path; when that fails the error ends the transaction and
//! the connection is discarded, taking them with it.

use serde_json::Value;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::{MARKER, TxError};

const PREPARED: &str = "triage_advice";

/// One scan node of a plan.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Scan {
    pub node_type: String,
    pub schema: Option<String>,
    pub relation: Option<String>,
    pub index: Option<String>,
}

impl Scan {
    /// "Seq Scan on sessions", "Index Scan using sessions_pkey on sessions".
    pub fn describe(&self, index_label: Option<&str>) -> String {
        let mut s = self.node_type.clone();
        if let Some(i) = index_label.or(self.index.as_deref()) {
            s.push_str(" using ");
            s.push_str(i);
        }
        if let Some(r) = &self.relation {
            s.push_str(" on ");
            s.push_str(r);
        }
        s
    }
}

#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub total_cost: f64,
    pub scans: Vec<Scan>,
}

impl Plan {
    fn from_json(v: &Value) -> Option<Self> {
        let root = v.get(0)?.get("Plan")?;
        let mut scans = Vec::new();
        collect(root, None, &mut scans);
        Some(Self { total_cost: root.get("Total Cost")?.as_f64()?, scans })
    }

    /// The scan of `schema.table` (a bitmap index scan takes its heap scan's relation).
    pub fn scan_of(&self, schema: &str, table: &str) -> Option<&Scan> {
        self.scans
            .iter()
            .find(|s| s.relation.as_deref() == Some(table) && s.schema.as_deref().is_none_or(|x| x == schema))
    }

    pub fn uses_index(&self, name: &str) -> Option<&Scan> {
        self.scans.iter().find(|s| s.index.as_deref() == Some(name))
    }
}

fn collect(node: &Value, parent: Option<(&str, &str)>, out: &mut Vec<Scan>) {
    let text = |k: &str| node.get(k).and_then(Value::as_str).map(str::to_owned);
    let node_type = text("Node Type").unwrap_or_default();
    let relation = text("Relation Name");
    let schema = text("Schema");
    if node_type.contains("Scan") {
        let (schema, relation) = match (schema.clone(), relation.clone(), parent) {
            (None, None, Some((s, r))) => (Some(s.to_owned()), Some(r.to_owned())),
            other => (other.0, other.1),
        };
        out.push(Scan { node_type: node_type.clone(), schema, relation, index: text("Index Name") });
    }
    let here = match (&schema, &relation) {
        (Some(s), Some(r)) => Some((s.as_str(), r.as_str())),
        _ => parent,
    };
    for child in node.get("Plans").and_then(Value::as_array).into_iter().flatten() {
        collect(child, here, out);
    }
}

/// HypoPG's version when it is installed in the connected database.
pub(super) async fn hypopg(tx: &Client) -> Result<Option<String>, TxError> {
    Ok(tx
        .query_opt(&format!("{MARKER} SELECT extversion FROM pg_extension WHERE extname = 'hypopg'"), &[])
        .await?
        .map(|r| r.get(0)))
}

/// Plans `sql` (one statement with `params` parameters, already read by PostgreSQL's parser)
/// generically, in two round trips. `Ok(Err(why))` when PostgreSQL cannot plan it.
pub(super) async fn generic_plan(
    tx: &Client,
    sql: &str,
    params: usize,
) -> Result<Result<Plan, String>, TxError> {
    // The statement's own text, as pg_stat_statements holds it: it cannot be bound, and it
    // parsed as exactly one statement, which EXPLAIN plans and never runs. It comes last in its
    // batch, so a trailing comment in it hides nothing of Triage's.
    if let Err(e) = tx
        .batch_execute(&format!("{MARKER} SAVEPOINT triage_plan; {MARKER} PREPARE {PREPARED} AS {sql}"))
        .await
    {
        let why = reason(e)?;
        tx.batch_execute(&format!("{MARKER} ROLLBACK TO SAVEPOINT triage_plan")).await?;
        return Ok(Err(why));
    }
    let args = if params == 0 { String::new() } else { format!("({})", vec!["NULL"; params].join(", ")) };
    let explained = tx
        .simple_query(&format!(
            "{MARKER} EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE {PREPARED}{args};
             {MARKER} DEALLOCATE {PREPARED};
             {MARKER} RELEASE SAVEPOINT triage_plan"
        ))
        .await;
    match explained {
        Ok(messages) => {
            let text = messages.iter().find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            });
            let plan =
                text.and_then(|t| serde_json::from_str::<Value>(t).ok()).and_then(|v| Plan::from_json(&v));
            Ok(plan.ok_or_else(|| "EXPLAIN gave no plan with a total cost".to_owned()))
        }
        Err(e) => {
            let why = reason(e)?;
            tx.batch_execute(&format!(
                "{MARKER} ROLLBACK TO SAVEPOINT triage_plan; {MARKER} DEALLOCATE {PREPARED}"
            ))
            .await?;
            Ok(Err(why))
        }
    }
}

/// Creates hypothetical indexes from `ddl` (Triage's own `CREATE INDEX` texts, names quoted),
/// all in one round trip; gives their names as plans show them, in order. When one is refused,
/// they are created one by one and each gives its own outcome.
pub(super) async fn hypothetical(
    tx: &Client,
    ddl: &[String],
) -> Result<Vec<Result<String, String>>, TxError> {
    tx.batch_execute(&format!("{MARKER} SAVEPOINT triage_hypo")).await?;
    let all = tx
        .query(
            &format!(
                "{MARKER} SELECT h.indexname::text FROM unnest($1::text[]) WITH ORDINALITY AS d(ddl, n),
                        LATERAL hypopg_create_index(d.ddl) h ORDER BY d.n"
            ),
            &[&ddl],
        )
        .await;
    match all {
        Ok(rows) if rows.len() == ddl.len() => {
            tx.batch_execute(&format!("{MARKER} RELEASE SAVEPOINT triage_hypo")).await?;
            return Ok(rows.iter().map(|r| Ok(r.get(0))).collect());
        }
        Ok(_) => {
            reset(tx).await?;
            tx.batch_execute(&format!("{MARKER} RELEASE SAVEPOINT triage_hypo")).await?;
        }
        Err(e) => {
            reason(e)?;
            tx.batch_execute(&format!("{MARKER} ROLLBACK TO SAVEPOINT triage_hypo")).await?;
            reset(tx).await?;
        }
    }
    let mut out = Vec::with_capacity(ddl.len());
    for d in ddl {
        tx.batch_execute(&format!("{MARKER} SAVEPOINT triage_hypo")).await?;
        match tx
            .query_one(&format!("{MARKER} SELECT indexname::text FROM hypopg_create_index($1)"), &[d])
            .await
        {
            Ok(row) => {
                tx.batch_execute(&format!("{MARKER} RELEASE SAVEPOINT triage_hypo")).await?;
                out.push(Ok(row.get(0)));
            }
            Err(e) => {
                out.push(Err(reason(e)?));
                tx.batch_execute(&format!("{MARKER} ROLLBACK TO SAVEPOINT triage_hypo")).await?;
            }
        }
    }
    Ok(out)
}

/// Drops every hypothetical index of the session.
pub(super) async fn reset(tx: &Client) -> Result<(), TxError> {
    tx.batch_execute(&format!("{MARKER} SELECT hypopg_reset()")).await?;
    Ok(())
}

/// PostgreSQL's reason for refusing a statement; any other failure (the connection) ends the
/// analysis.
fn reason(e: tokio_postgres::Error) -> Result<String, TxError> {
    match e.as_db_error() {
        Some(d) if !super::connection_lost(&e) => Ok(d.message().to_owned()),
        _ => Err(TxError::Pg(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_read_from_nested_plans_with_the_bitmap_heap_relation() {
        let v: Value = serde_json::json!([{"Plan": {
            "Node Type": "Nested Loop", "Total Cost": 52.9,
            "Plans": [
                {"Node Type": "Bitmap Heap Scan", "Relation Name": "orders", "Schema": "public", "Total Cost": 40.0,
                 "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "<1>btree_orders_customer_id"}]},
                {"Node Type": "Index Scan", "Relation Name": "customers", "Schema": "public", "Index Name": "customers_pkey"}
            ]
        }}]);
        let p = Plan::from_json(&v).expect("a plan");
        assert_eq!(p.total_cost, 52.9);
        assert_eq!(p.scans.len(), 3);
        let hypo = p.uses_index("<1>btree_orders_customer_id").expect("used");
        assert_eq!(hypo.relation.as_deref(), Some("orders"));
        assert_eq!(
            hypo.describe(Some("the suggested index")),
            "Bitmap Index Scan using the suggested index on orders"
        );
        assert_eq!(
            p.scan_of("public", "customers").map(|s| s.describe(None)).as_deref(),
            Some("Index Scan using customers_pkey on customers")
        );
        assert!(Plan::from_json(&serde_json::json!([])).is_none());
    }
}
