//! Snapshots of `pg_stat_statements` kept in Triage's store (`store::snapshots`), and the window
//! diff between two readings.
//!
//! A snapshot is one row: its counters packed as fixed-size binary records (40 bytes per
//! statement) plus a little JSON for the names, so writing and reading 5,000 statements is one
//! row and a few hundred microseconds. Statement texts are stored once per target and `queryid`
//! in a side table, not in every snapshot.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use triage_shared::pg::{DiffReport, DiffRow, SnapshotInfo};
use triage_shared::{ApiError, ErrorKind};

use crate::store::Store;
use crate::store::snapshots::{Find, NewSnapshot, SnapshotRow, StoredSnapshot, unavailable};

/// One statement's cumulative counters at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub queryid: i64,
    pub dbid: u32,
    pub userid: u32,
    pub database: Option<String>,
    pub role: Option<String>,
    pub calls: i64,
    pub total_ms: f64,
    pub rows: i64,
}

impl Entry {
    fn key(&self) -> (i64, u32, u32) {
        (self.queryid, self.dbid, self.userid)
    }
}

/// Every statement's counters at one moment, with the texts known for them.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub taken_at_unix: f64,
    pub stats_reset: Option<String>,
    pub entries: Vec<Entry>,
    pub texts: HashMap<i64, String>,
}

/// What is stored as a snapshot's `meta`: what the binary records do not hold.
#[derive(Serialize, Deserialize, Default)]
struct Meta {
    stats_reset: Option<String>,
    databases: HashMap<u32, String>,
    roles: HashMap<u32, String>,
}

const RECORD: usize = 40;

/// Packs the counters: queryid, dbid, userid, calls, total_ms, rows, little-endian.
fn encode(reading: &Reading) -> (Vec<u8>, String) {
    let mut data = Vec::with_capacity(reading.entries.len() * RECORD);
    let mut meta = Meta { stats_reset: reading.stats_reset.clone(), ..Meta::default() };
    for e in &reading.entries {
        data.extend_from_slice(&e.queryid.to_le_bytes());
        data.extend_from_slice(&e.dbid.to_le_bytes());
        data.extend_from_slice(&e.userid.to_le_bytes());
        data.extend_from_slice(&e.calls.to_le_bytes());
        data.extend_from_slice(&e.total_ms.to_le_bytes());
        data.extend_from_slice(&e.rows.to_le_bytes());
        if let Some(d) = &e.database {
            meta.databases.entry(e.dbid).or_insert_with(|| d.clone());
        }
        if let Some(r) = &e.role {
            meta.roles.entry(e.userid).or_insert_with(|| r.clone());
        }
    }
    (data, serde_json::to_string(&meta).unwrap_or_else(|_| "{}".to_owned()))
}

fn decode(data: &[u8], meta: &str) -> Result<(Option<String>, Vec<Entry>), ApiError> {
    if !data.len().is_multiple_of(RECORD) {
        return Err(unavailable(format!(
            "a snapshot's data is {} bytes, not a multiple of {RECORD}",
            data.len()
        )));
    }
    let meta: Meta = serde_json::from_str(meta).map_err(unavailable)?;
    let word = |r: &[u8], at: usize| -> [u8; 8] {
        let mut b = [0u8; 8];
        b.copy_from_slice(&r[at..at + 8]);
        b
    };
    let half = |r: &[u8], at: usize| -> [u8; 4] {
        let mut b = [0u8; 4];
        b.copy_from_slice(&r[at..at + 4]);
        b
    };
    let entries = data
        .chunks_exact(RECORD)
        .map(|r| {
            let (dbid, userid) = (u32::from_le_bytes(half(r, 8)), u32::from_le_bytes(half(r, 12)));
            Entry {
                queryid: i64::from_le_bytes(word(r, 0)),
                dbid,
                userid,
                database: meta.databases.get(&dbid).cloned(),
                role: meta.roles.get(&userid).cloned(),
                calls: i64::from_le_bytes(word(r, 16)),
                total_ms: f64::from_le_bytes(word(r, 24)),
                rows: i64::from_le_bytes(word(r, 32)),
            }
        })
        .collect();
    Ok((meta.stats_reset, entries))
}

fn rfc3339(unix: f64) -> String {
    jiff::Timestamp::from_second(unix as i64).map_or_else(|_| format!("{unix}"), |t| t.to_string())
}

fn info(row: SnapshotRow) -> SnapshotInfo {
    SnapshotInfo {
        id: row.id,
        // Without the environment's prefix (see `SnapshotStore::key`).
        target: row.target.rsplit('/').next().unwrap_or_default().to_owned(),
        taken_at: rfc3339(row.taken_at_unix),
        taken_at_unix: row.taken_at_unix,
        kind: row.kind,
        statements: row.statements,
    }
}

/// Readings kept as snapshots in Triage's store: packed on the way in, unpacked on the way out.
pub struct SnapshotStore {
    store: Store,
    /// The environment's name, prefixed to target names in the store (`prod-eu/main`) so two
    /// environments' targets of the same name never share snapshots; none for `default`, whose
    /// rows predate environments.
    prefix: Option<String>,
}

impl SnapshotStore {
    pub fn new(store: Store, env: &str) -> Self {
        let prefix = (env != triage_shared::env::DEFAULT_ENV).then(|| format!("{env}/"));
        Self { store, prefix }
    }

    /// The target's name in the store (target names never contain `/`).
    fn key(&self, target: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}{target}"),
            None => target.to_owned(),
        }
    }

    pub async fn save(&self, target: &str, kind: &str, reading: &Reading) -> Result<SnapshotInfo, ApiError> {
        let (data, meta) = encode(reading);
        let statements = reading.entries.len() as i64;
        let taken_at_unix = reading.taken_at_unix;
        let id = self
            .store
            .snapshots()
            .save(NewSnapshot {
                target: self.key(target),
                taken_at_unix,
                kind: kind.to_owned(),
                statements,
                data,
                meta,
                texts: reading.texts.iter().map(|(k, v)| (*k, v.clone())).collect(),
            })
            .await?;
        Ok(info(SnapshotRow {
            id,
            target: target.to_owned(),
            taken_at_unix,
            kind: kind.to_owned(),
            statements,
        }))
    }

    /// The target's snapshots, newest first (at most 500).
    pub async fn list(&self, target: &str) -> Result<Vec<SnapshotInfo>, ApiError> {
        Ok(self.store.snapshots().list(&self.key(target)).await?.into_iter().map(info).collect())
    }

    /// One snapshot, unpacked.
    async fn find(&self, target: &str, which: Find) -> Result<Option<(SnapshotInfo, Reading)>, ApiError> {
        let Some(StoredSnapshot { row, data, meta }) =
            self.store.snapshots().find(&self.key(target), which).await?
        else {
            return Ok(None);
        };
        let (stats_reset, entries) = decode(&data, &meta)?;
        let reading =
            Reading { taken_at_unix: row.taken_at_unix, stats_reset, entries, texts: HashMap::new() };
        Ok(Some((info(row), reading)))
    }

    pub async fn load(&self, target: &str, id: i64) -> Result<(SnapshotInfo, Reading), ApiError> {
        self.find(target, Find::Id(id)).await?.ok_or_else(|| {
            ApiError::new(ErrorKind::NotFound, format!("no snapshot {id} of PostgreSQL target {target}"))
        })
    }

    /// The last snapshot taken at or before `unix`.
    pub async fn load_at_or_before(
        &self,
        target: &str,
        unix: f64,
    ) -> Result<(SnapshotInfo, Reading), ApiError> {
        self.find(target, Find::AtOrBefore(unix)).await?.ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                format!(
                    "no snapshot of {target} was taken at or before {}; take one, or start the window later",
                    rfc3339(unix)
                ),
            )
        })
    }

    /// The first snapshot taken at or after `unix`, if any.
    pub async fn load_at_or_after(
        &self,
        target: &str,
        unix: f64,
    ) -> Result<Option<(SnapshotInfo, Reading)>, ApiError> {
        self.find(target, Find::AtOrAfter(unix)).await
    }

    /// Texts of the given statements, from the side table.
    pub async fn texts(&self, target: &str, ids: Vec<i64>) -> Result<HashMap<i64, String>, ApiError> {
        self.store.snapshots().texts(&self.key(target), ids).await
    }

    /// Deletes periodic snapshots older than `keep`.
    pub async fn prune(&self, target: &str, keep: Duration) -> Result<(), ApiError> {
        self.store.snapshots().prune(&self.key(target), keep).await
    }

    /// Keeps the target's on-demand snapshots to the newest `count`, none older than `max_age`:
    /// any reader may take one, so they must not accumulate forever.
    pub async fn prune_manual(&self, target: &str, count: u32, max_age: Duration) -> Result<(), ApiError> {
        self.store.snapshots().prune_manual(&self.key(target), count, max_age).await
    }
}

/// What each statement added between `from` and `to`, ranked by added total time. Texts come
/// from `to` (a live reading has them); the caller fills in the rest from the store.
pub fn diff(
    target: &str,
    from_info: SnapshotInfo,
    from: &Reading,
    to_info: Option<SnapshotInfo>,
    to: &Reading,
    limit: usize,
) -> Result<DiffReport, ApiError> {
    if to.taken_at_unix < from.taken_at_unix {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!(
                "the window ends ({}) before it starts ({}); swap from and to",
                rfc3339(to.taken_at_unix),
                rfc3339(from.taken_at_unix)
            ),
        ));
    }
    let before: HashMap<(i64, u32, u32), &Entry> = from.entries.iter().map(|e| (e.key(), e)).collect();
    let mut reset_detected = from.stats_reset.is_some() && to.stats_reset != from.stats_reset;
    let mut rows: Vec<DiffRow> = Vec::new();
    let mut total_added = 0.0;
    for e in &to.entries {
        let (calls, total, nrows, new) = match before.get(&e.key()) {
            Some(b) if e.calls >= b.calls && e.total_ms >= b.total_ms => {
                (e.calls - b.calls, e.total_ms - b.total_ms, e.rows - b.rows, false)
            }
            // Counters went back: reset (or evicted and seen again) inside the window.
            Some(_) => {
                reset_detected = true;
                (e.calls, e.total_ms, e.rows, false)
            }
            None => (e.calls, e.total_ms, e.rows, true),
        };
        if calls == 0 && total <= 0.0 {
            continue;
        }
        total_added += total;
        rows.push(DiffRow {
            queryid: Some(e.queryid),
            database: e.database.clone(),
            role: e.role.clone(),
            query: to.texts.get(&e.queryid).cloned().unwrap_or_default(),
            calls,
            total_ms: total,
            mean_ms: if calls > 0 { total / calls as f64 } else { 0.0 },
            rows: nrows,
            share_pct: 0.0,
            new_in_window: new,
        });
    }
    let changed = rows.len() as i64;
    // Only the top `limit` are needed in order: select, then sort that part.
    if rows.len() > limit {
        rows.select_nth_unstable_by(limit - 1, |a, b| b.total_ms.total_cmp(&a.total_ms));
        rows.truncate(limit);
    }
    rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    for r in &mut rows {
        r.share_pct = if total_added > 0.0 { r.total_ms / total_added * 100.0 } else { 0.0 };
    }
    Ok(DiffReport {
        target: target.to_owned(),
        from: from_info,
        to: to_info,
        to_time: rfc3339(to.taken_at_unix),
        seconds: to.taken_at_unix - from.taken_at_unix,
        rows,
        statements_changed: changed,
        total_added_ms: total_added,
        reset_detected,
        took_ms: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(queryid: i64, calls: i64, total_ms: f64) -> Entry {
        Entry { queryid, dbid: 1, userid: 10, database: None, role: None, calls, total_ms, rows: calls }
    }

    fn info(id: i64) -> SnapshotInfo {
        SnapshotInfo {
            id,
            target: "t".into(),
            taken_at: String::new(),
            taken_at_unix: 0.0,
            kind: "manual".into(),
            statements: 0,
        }
    }

    #[tokio::test]
    async fn two_environments_targets_of_one_name_keep_their_own_snapshots() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(&dir.path().join("s.db")).expect("open");
        let (default, prod) =
            (SnapshotStore::new(store.clone(), "default"), SnapshotStore::new(store, "prod-eu"));
        let reading = |n: i64| Reading {
            taken_at_unix: 100.0,
            entries: vec![entry(n, n, 1.0)],
            texts: HashMap::from([(n, format!("SELECT {n}"))]),
            ..Reading::default()
        };
        let a = default.save("main", "manual", &reading(1)).await.expect("save");
        let b = prod.save("main", "manual", &reading(2)).await.expect("save");
        let listed: Vec<i64> = default.list("main").await.expect("list").iter().map(|s| s.id).collect();
        assert_eq!(listed, [a.id]);
        let listed = prod.list("main").await.expect("list");
        assert_eq!((listed.len(), listed[0].id, listed[0].target.as_str()), (1, b.id, "main"));
        assert!(prod.load("main", a.id).await.is_err(), "another environment's snapshot is not found");
        let (_, got) = prod.load("main", b.id).await.expect("load");
        assert_eq!(got.entries[0].queryid, 2);
        assert_eq!(prod.texts("main", vec![1, 2]).await.expect("texts").keys().collect::<Vec<_>>(), [&2]);
    }

    #[test]
    fn ranks_by_added_time_and_marks_new_statements() {
        let from = Reading {
            taken_at_unix: 100.0,
            entries: vec![entry(1, 1000, 9000.0), entry(2, 10, 50.0)],
            ..Reading::default()
        };
        let to = Reading {
            taken_at_unix: 160.0,
            entries: vec![entry(1, 1010, 9010.0), entry(2, 10, 50.0), entry(3, 4, 400.0)],
            ..Reading::default()
        };
        let d = diff("t", info(1), &from, None, &to, 10).expect("diff");
        assert_eq!(d.rows.len(), 2, "an unchanged statement is left out");
        assert_eq!(d.rows[0].queryid, Some(3));
        assert!(d.rows[0].new_in_window);
        assert_eq!(d.rows[0].calls, 4);
        assert!((d.rows[0].mean_ms - 100.0).abs() < 1e-9);
        assert_eq!(d.rows[1].queryid, Some(1));
        assert!((d.rows[1].total_ms - 10.0).abs() < 1e-9);
        assert!((d.total_added_ms - 410.0).abs() < 1e-9);
        assert!(!d.reset_detected);
        assert!((d.seconds - 60.0).abs() < 1e-9);
    }

    #[test]
    fn counters_going_back_mean_a_reset() {
        let from =
            Reading { taken_at_unix: 1.0, entries: vec![entry(1, 1000, 9000.0)], ..Reading::default() };
        let to = Reading { taken_at_unix: 2.0, entries: vec![entry(1, 5, 20.0)], ..Reading::default() };
        let d = diff("t", info(1), &from, None, &to, 10).expect("diff");
        assert!(d.reset_detected);
        assert_eq!(d.rows[0].calls, 5);
    }

    #[test]
    fn snapshots_pack_and_unpack() {
        let mut a = entry(-42, 7, 1.5);
        a.database = Some("app".into());
        a.role = Some("svc".into());
        let reading = Reading {
            stats_reset: Some("2026-01-01T00:00:00Z".into()),
            entries: vec![a, Entry { dbid: 2, userid: 20, ..entry(i64::MAX, 0, 0.0) }],
            ..Reading::default()
        };
        let (data, meta) = encode(&reading);
        assert_eq!(data.len(), 2 * RECORD);
        let (reset, entries) = decode(&data, &meta).expect("decode");
        assert_eq!(reset, reading.stats_reset);
        assert_eq!(entries, reading.entries);
        assert!(decode(&data[1..], &meta).is_err(), "a torn record is an error, not garbage");
    }

    #[test]
    fn a_reversed_window_is_refused() {
        let from = Reading { taken_at_unix: 5.0, ..Reading::default() };
        let to = Reading { taken_at_unix: 1.0, ..Reading::default() };
        let err = diff("t", info(1), &from, None, &to, 10).expect_err("reversed");
        assert_eq!(err.kind, ErrorKind::BadRequest);
    }

    #[test]
    fn limit_keeps_the_biggest() {
        let from = Reading::default();
        let to = Reading {
            taken_at_unix: 1.0,
            entries: (0..100).map(|i| entry(i, 1, i as f64)).collect(),
            ..Reading::default()
        };
        let d = diff("t", info(1), &from, None, &to, 3).expect("diff");
        assert_eq!(d.rows.iter().map(|r| r.queryid).collect::<Vec<_>>(), [Some(99), Some(98), Some(97)]);
        assert_eq!(d.statements_changed, 100);
    }
}
