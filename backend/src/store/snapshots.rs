//! Snapshots of `pg_stat_statements`, one row each, and the statements' texts, stored once per
//! target and `queryid` in a side table rather than in every snapshot. The counters arrive
//! packed (`pg::snapshots` packs and reads them); the store keeps them as they are.

use std::collections::HashMap;
use std::time::Duration;

use triage_shared::{ApiError, ErrorKind};

use super::sql::{Row, Sql, Value};
use super::{Store, StoreError};

/// The snapshots' tables, through [`Store::snapshots`].
pub struct Snapshots<'a> {
    store: &'a Store,
}

/// A snapshot to store.
pub struct NewSnapshot {
    pub target: String,
    pub taken_at_unix: f64,
    pub kind: String,
    pub statements: i64,
    /// The packed counters.
    pub data: Vec<u8>,
    /// What the packed counters do not hold, as JSON.
    pub meta: String,
    /// Statement texts by `queryid`; one already stored for the target is kept.
    pub texts: Vec<(i64, String)>,
}

/// A stored snapshot, without its counters.
pub struct SnapshotRow {
    pub id: i64,
    pub target: String,
    pub taken_at_unix: f64,
    pub kind: String,
    pub statements: i64,
}

/// A stored snapshot with its counters.
pub struct StoredSnapshot {
    pub row: SnapshotRow,
    pub data: Vec<u8>,
    pub meta: String,
}

/// Which one snapshot of a target to read.
#[derive(Clone, Copy)]
pub enum Find {
    Id(i64),
    /// The last taken at or before this time.
    AtOrBefore(f64),
    /// The first taken at or after this time.
    AtOrAfter(f64),
}

static SAVE_TEXTS: Sql = Sql::each(
    "INSERT INTO triage_pg_statement_texts (target, queryid, query)
     SELECT $1, u.queryid, u.query FROM unnest($2::bigint[], $3::text[]) AS u(queryid, query)
     ON CONFLICT DO NOTHING",
    // Zipped by position through a materialized side with an automatic index: a plain join of
    // two `json_each` scans one per row of the other (5,000 texts took seconds).
    "INSERT OR IGNORE INTO pg_statement_texts (target, queryid, query)
     WITH q AS MATERIALIZED (SELECT key, value FROM json_each(?3))
     SELECT ?1, i.value, q.value FROM json_each(?2) AS i CROSS JOIN q ON q.key = i.key",
);

static SAVE: Sql = Sql::new(
    "INSERT INTO triage_pg_snapshots (target, taken_at, kind, statements, data, meta)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
);

static LIST: Sql = Sql::new(
    "SELECT id, target, taken_at, kind, statements FROM triage_pg_snapshots WHERE target = $1
     ORDER BY taken_at DESC, id DESC LIMIT 500",
);

static FIND_ID: Sql = Sql::new(
    "SELECT id, target, taken_at, kind, statements, data, meta FROM triage_pg_snapshots WHERE target = $1 AND id = $2",
);

static FIND_AT_OR_BEFORE: Sql = Sql::new(
    "SELECT id, target, taken_at, kind, statements, data, meta FROM triage_pg_snapshots WHERE target = $1 AND taken_at <= $2
     ORDER BY taken_at DESC, id DESC LIMIT 1",
);

static FIND_AT_OR_AFTER: Sql = Sql::new(
    "SELECT id, target, taken_at, kind, statements, data, meta FROM triage_pg_snapshots WHERE target = $1 AND taken_at >= $2
     ORDER BY taken_at ASC, id ASC LIMIT 1",
);

static TEXTS: Sql = Sql::each(
    "SELECT queryid, query FROM triage_pg_statement_texts WHERE target = $1 AND queryid = ANY($2)",
    "SELECT queryid, query FROM pg_statement_texts WHERE target = ?1 AND queryid IN (SELECT value FROM json_each(?2))",
);

static PRUNE_PERIODIC: Sql =
    Sql::new("DELETE FROM triage_pg_snapshots WHERE target = $1 AND kind = 'periodic' AND taken_at < $2");

static PRUNE_MANUAL: Sql = Sql::new(
    "DELETE FROM triage_pg_snapshots WHERE target = $1 AND kind <> 'periodic' AND (taken_at < $2 OR id NOT IN
       (SELECT id FROM triage_pg_snapshots WHERE target = $1 AND kind <> 'periodic' ORDER BY taken_at DESC, id DESC LIMIT $3))",
);

/// The snapshots cannot be kept or read; also for a stored snapshot that cannot be unpacked.
pub fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::Unavailable, format!("Triage's store cannot keep or read snapshots: {e}"))
}

fn snapshot_row(row: &mut Row) -> Result<SnapshotRow, StoreError> {
    Ok(SnapshotRow {
        id: row.int()?,
        target: row.text()?,
        taken_at_unix: row.real()?,
        kind: row.text()?,
        statements: row.int()?,
    })
}

impl<'a> Snapshots<'a> {
    pub(super) fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Stores the snapshot and its new statement texts, together; returns its id.
    pub async fn save(&self, s: NewSnapshot) -> Result<i64, ApiError> {
        let (ids, queries): (Vec<i64>, Vec<String>) = s.texts.into_iter().unzip();
        let steps = vec![
            (&SAVE_TEXTS, vec![s.target.clone().into(), ids.into(), queries.into()]),
            (
                &SAVE,
                vec![
                    s.target.into(),
                    s.taken_at_unix.into(),
                    s.kind.into(),
                    s.statements.into(),
                    s.data.into(),
                    s.meta.into(),
                ],
            ),
        ];
        let mut rows = self.store.transaction(steps).await.map_err(unavailable)?;
        match rows.first_mut() {
            Some(row) => row.int().map_err(unavailable),
            None => Err(unavailable("the new snapshot's id was not returned")),
        }
    }

    /// The target's snapshots, newest first (at most 500).
    pub async fn list(&self, target: &str) -> Result<Vec<SnapshotRow>, ApiError> {
        let rows = self.store.query(&LIST, vec![target.into()]).await.map_err(unavailable)?;
        rows.into_iter().map(|mut r| snapshot_row(&mut r)).collect::<Result<_, _>>().map_err(unavailable)
    }

    /// One snapshot of the target, if there is one.
    pub async fn find(&self, target: &str, which: Find) -> Result<Option<StoredSnapshot>, ApiError> {
        let (sql, value): (&'static Sql, Value) = match which {
            Find::Id(id) => (&FIND_ID, id.into()),
            Find::AtOrBefore(unix) => (&FIND_AT_OR_BEFORE, unix.into()),
            Find::AtOrAfter(unix) => (&FIND_AT_OR_AFTER, unix.into()),
        };
        let mut rows = self.store.query(sql, vec![target.into(), value]).await.map_err(unavailable)?;
        let Some(row) = rows.first_mut() else { return Ok(None) };
        let read = |row: &mut Row| -> Result<StoredSnapshot, StoreError> {
            Ok(StoredSnapshot { row: snapshot_row(row)?, data: row.blob()?, meta: row.text()? })
        };
        read(row).map(Some).map_err(unavailable)
    }

    /// Texts of the given statements, from the side table.
    pub async fn texts(&self, target: &str, ids: Vec<i64>) -> Result<HashMap<i64, String>, ApiError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self.store.query(&TEXTS, vec![target.into(), ids.into()]).await.map_err(unavailable)?;
        rows.into_iter()
            .map(|mut r| Ok((r.int()?, r.text()?)))
            .collect::<Result<_, StoreError>>()
            .map_err(unavailable)
    }

    /// Deletes the target's periodic snapshots older than `keep`.
    pub async fn prune(&self, target: &str, keep: Duration) -> Result<(), ApiError> {
        let before = super::unix_now() - keep.as_secs_f64();
        self.store.query(&PRUNE_PERIODIC, vec![target.into(), before.into()]).await.map_err(unavailable)?;
        Ok(())
    }

    /// Keeps the target's on-demand snapshots to the newest `count`, none older than `max_age`.
    pub async fn prune_manual(&self, target: &str, count: u32, max_age: Duration) -> Result<(), ApiError> {
        let before = super::unix_now() - max_age.as_secs_f64();
        let params = vec![target.into(), before.into(), i64::from(count).into()];
        self.store.query(&PRUNE_MANUAL, params).await.map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(taken_at_unix: f64, kind: &str, texts: Vec<(i64, String)>) -> NewSnapshot {
        NewSnapshot {
            target: "main".into(),
            taken_at_unix,
            kind: kind.into(),
            statements: 2,
            data: vec![1, 2, 3],
            meta: "{}".into(),
            texts,
        }
    }

    #[tokio::test]
    async fn sqlite_keeps_finds_and_prunes_snapshots() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(&dir.path().join("s.db")).expect("open");
        let snaps = store.snapshots();
        let now = super::super::unix_now();
        let old = snaps
            .save(snapshot(
                now - 7200.0,
                "periodic",
                vec![(-7, "SELECT 1".into()), (i64::MAX, "SELECT 2".into())],
            ))
            .await
            .expect("save");
        // A text already stored is kept, not replaced.
        let new = snaps.save(snapshot(now, "manual", vec![(-7, "SELECT again".into())])).await.expect("save");
        assert!(new > old);
        let listed: Vec<i64> = snaps.list("main").await.expect("list").iter().map(|s| s.id).collect();
        assert_eq!(listed, [new, old]);
        let found = snaps.find("main", Find::Id(old)).await.expect("find").expect("there");
        assert_eq!(
            (found.row.kind.as_str(), found.data, found.meta.as_str()),
            ("periodic", vec![1, 2, 3], "{}")
        );
        let before = snaps.find("main", Find::AtOrBefore(now - 1.0)).await.expect("find").expect("there");
        assert_eq!(before.row.id, old);
        let after = snaps.find("main", Find::AtOrAfter(now - 1.0)).await.expect("find").expect("there");
        assert_eq!(after.row.id, new);
        assert!(snaps.find("other", Find::Id(old)).await.expect("find").is_none());
        let texts = snaps.texts("main", vec![-7, i64::MAX, 5]).await.expect("texts");
        assert_eq!(texts.len(), 2);
        assert_eq!(texts[&-7], "SELECT 1");
        assert_eq!(texts[&i64::MAX], "SELECT 2");
        snaps.prune("main", Duration::from_secs(3600)).await.expect("prune");
        assert_eq!(snaps.list("main").await.expect("list").len(), 1, "the old periodic one is gone");
        snaps.save(snapshot(now + 1.0, "manual", Vec::new())).await.expect("save");
        snaps.prune_manual("main", 1, Duration::from_secs(3600)).await.expect("prune");
        let left: Vec<i64> = snaps.list("main").await.expect("list").iter().map(|s| s.id).collect();
        assert_eq!(left.len(), 1);
        assert_ne!(left[0], new, "only the newest on-demand snapshot is kept");
    }

    #[test]
    fn sqlite_zips_the_texts_by_index_not_by_scanning() {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        super::super::migrations::apply_sqlite(&mut conn).expect("migrate");
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", SAVE_TEXTS.sqlite())).expect("plan");
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params!["t", "[]", "[]"], |r| r.get(3))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(plan.iter().any(|step| step.contains("AUTOMATIC")), "{plan:?}");
    }
}
