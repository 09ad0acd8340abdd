#![no_main]
//! `pg::shape::analyze` (PostgreSQL's parser through `pg_query`, then Triage's resolution of every
//! column to its table) on arbitrary text and on statements assembled from a pool of SQL
//! fragments: it never panics; every table it reports is one the catalog knows and the statement
//! names, every column it attributes to a table is one of that table's columns, and every
//! candidate index is non-empty with no more equality columns than columns.

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use triage::pg::shape::{Catalog, TableName, analyze};

const FRAGMENTS: [&str; 40] = [
    "SELECT * FROM orders o",
    "SELECT o.id FROM orders AS o",
    "SELECT 1 FROM customers c",
    " JOIN customers c ON c.id = o.customer_id",
    " LEFT JOIN LATERAL (SELECT * FROM customers WHERE id = o.customer_id) x ON true",
    " JOIN audit.events e USING (id)",
    " WHERE ",
    " AND ",
    " OR ",
    "NOT ",
    "o.status = $1",
    "region = $2",
    "c.email IN ($3, $4)",
    "created_at > now()",
    "customer_id = ANY($5)",
    "total BETWEEN $6 AND $7",
    "id IS NULL",
    "x.region = o.status",
    "EXISTS (SELECT 1 FROM orders i WHERE i.customer_id = o.customer_id)",
    "o.customer_id IN (SELECT id FROM customers WHERE region = $1)",
    " ORDER BY created_at DESC",
    " ORDER BY o.id, c.id",
    " LIMIT $9",
    " GROUP BY 1 HAVING count(*) > $2",
    "WITH w AS (SELECT * FROM orders WHERE status = $1) ",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) ",
    "SELECT * FROM w",
    "SELECT * FROM r",
    " UNION SELECT * FROM orders",
    "UPDATE orders SET total = $1",
    "DELETE FROM orders o USING customers c",
    "INSERT INTO orders SELECT * FROM orders",
    "(",
    ")",
    ",",
    "lower(email) = $1",
    "\"Weird\".\"Name\" = 1",
    "unknown_table u",
    "generate_series(1, $1) g",
    ";",
];

fn catalog() -> Catalog {
    let mut tables = HashMap::new();
    let mut add = |schema: &str, table: &str, cols: &[&str]| {
        tables.insert(TableName::new(schema, table), cols.iter().map(|c| (*c).to_owned()).collect());
    };
    add("public", "orders", &["id", "customer_id", "status", "created_at", "total"]);
    add("public", "customers", &["id", "region", "email", "created_at"]);
    add("audit", "events", &["id", "actor", "at"]);
    add("Weird", "Name", &["Weird"]);
    Catalog { search_path: vec!["public".to_owned()], tables }
}

// The first byte chooses: even, the rest is the text (the seeds are `0` and a statement); odd,
// each further byte picks a fragment.
fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let sql: String = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        rest.iter().map(|&b| FRAGMENTS[usize::from(b) % FRAGMENTS.len()]).collect()
    };
    let catalog = catalog();
    let Ok(shape) = analyze(&sql, &catalog) else { return };
    for (table, usage) in &shape.tables {
        let columns = catalog.tables.get(table).unwrap_or_else(|| panic!("{sql:?}: {table:?} is not in the catalog"));
        assert!(shape.named.contains(&table.table), "{sql:?}: {table:?} is not named");
        for c in usage.equality.iter().chain(&usage.range).chain(&usage.join).chain(&usage.sort).chain(&usage.referenced) {
            assert!(columns.contains(c), "{sql:?}: {c} is not a column of {table:?}");
        }
        for (cols, eq) in usage.candidates() {
            assert!(!cols.is_empty() && eq <= cols.len(), "{sql:?}: {cols:?} with {eq} equality columns");
        }
    }
});
