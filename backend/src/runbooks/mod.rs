//! The runbook engine: troubleshooting flows loaded from YAML files, validated, and run.
//!
//! `mod.rs` owns the registry (the loaded set, swapped whole on reload) and the runs kept in
//! memory; `validate.rs` the rules a file must keep, `template.rs` where a parameter's value may
//! go, `checks.rs` one function per check kind, `engine.rs` a run (concurrent checks, verdicts,
//! ranking), `report.rs` the Markdown incident report and `store.rs` finished runs in the store.

pub mod checks;
pub mod engine;
pub mod report;
pub mod template;
pub mod validate;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::broadcast;
use triage_shared::runbook::{RunEvent, RunState, Runbook, RunbookSummary};

use crate::config::RunbookSettings;
pub use validate::Problem;

/// What loading a folder of runbooks found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub runbooks: Vec<Runbook>,
    pub problems: Vec<Problem>,
    pub files: usize,
}

/// Parses and validates one runbook file's text.
pub fn parse_runbook(text: &str, file: &str) -> Result<Runbook, Vec<Problem>> {
    match serde_saphyr::from_str::<Runbook>(text) {
        Ok(runbook) => {
            let problems = validate::validate(&runbook, text, file);
            if problems.is_empty() { Ok(runbook) } else { Err(problems) }
        }
        Err(e) => {
            let line = e.location().map_or(0, |l| usize::try_from(l.line()).unwrap_or(0));
            Err(vec![Problem { file: file.to_owned(), line, reason: yaml_reason(&e) }])
        }
    }
}

/// The parser's message without its rendered source snippet.
fn yaml_reason(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("not valid YAML");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // The line is reported separately; drop the parser's own "line N column M: " prefix.
    let first = match first.strip_prefix("line ").and_then(|rest| rest.split_once(": ")) {
        Some((position, rest)) if position.contains("column") => rest,
        _ => first,
    };
    // serde's "unknown variant" is the check-kind (or action, rule op…) that does not exist.
    if first.contains("unknown variant") {
        return format!("{first} (unknown check kind, action, operator or verdict)");
    }
    first.to_owned()
}

/// Loads every `*.yaml` / `*.yml` file of `dir`, in name order. Files with problems are left
/// out of `runbooks`; a runbook id used twice is a problem of the second file.
pub fn load_dir(dir: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            loaded.problems.push(Problem {
                file: dir.display().to_string(),
                line: 0,
                reason: format!("cannot read the runbook folder: {e}"),
            });
            return loaded;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for path in paths {
        loaded.files += 1;
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                loaded.problems.push(Problem { file, line: 0, reason: format!("cannot read: {e}") });
                continue;
            }
        };
        match parse_runbook(&text, &file) {
            Ok(runbook) => {
                if let Some(first) = seen.get(&runbook.id) {
                    let line = text.lines().position(|l| l.starts_with("id:")).map_or(0, |i| i + 1);
                    loaded.problems.push(Problem {
                        file,
                        line,
                        reason: format!("duplicate runbook id `{}` (also in {first})", runbook.id),
                    });
                    continue;
                }
                seen.insert(runbook.id.clone(), file);
                loaded.runbooks.push(runbook);
            }
            Err(problems) => loaded.problems.extend(problems),
        }
    }
    loaded
}

/// One run in memory: its state, every event so far (for late subscribers) and the live feed.
pub struct Run {
    inner: Mutex<RunInner>,
    tx: broadcast::Sender<RunEvent>,
}

struct RunInner {
    state: RunState,
    events: Vec<RunEvent>,
}

impl Run {
    fn new(state: RunState) -> Self {
        let (tx, _) = broadcast::channel(256);
        Self { inner: Mutex::new(RunInner { state, events: Vec::new() }), tx }
    }

    /// The environment the run's checks read.
    pub fn env(&self) -> String {
        self.inner.lock().map(|i| i.state.env.clone()).unwrap_or_default()
    }

    /// Builds a finished run from its stored state, with the events it would have sent.
    pub fn from_finished(state: RunState) -> Self {
        let run = Self::new(state.clone());
        let mut events = vec![RunEvent::Started {
            run_id: state.run_id.clone(),
            runbook: state.runbook.clone(),
            params: state.params.clone(),
            steps: state.steps.iter().map(|(id, _)| id.clone()).collect(),
        }];
        for (_, step) in &state.steps {
            if let triage_shared::runbook::StepState::Done { result } = step {
                events.push(RunEvent::CheckFinished { result: result.clone() });
            }
        }
        events.push(RunEvent::Finished {
            causes: state.causes.clone(),
            finished_at: state.finished_at.unwrap_or(state.started_at),
        });
        if let Ok(mut inner) = run.inner.lock() {
            inner.events = events;
        }
        run
    }

    pub fn state(&self) -> RunState {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).state.clone()
    }

    /// Applies `change` to the state and publishes `event`, under one lock so that a subscriber
    /// never misses or duplicates an event.
    pub fn publish(&self, event: RunEvent, change: impl FnOnce(&mut RunState)) {
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut inner.state);
        inner.events.push(event.clone());
        let _ = self.tx.send(event);
    }

    /// The events so far and a receiver for the ones to come.
    pub fn subscribe(&self) -> (Vec<RunEvent>, broadcast::Receiver<RunEvent>) {
        let inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (inner.events.clone(), self.tx.subscribe())
    }
}

/// The loaded set, by id; replaced whole on reload.
type RunbookSet = Arc<BTreeMap<String, Arc<Runbook>>>;

struct RunsMap {
    by_id: HashMap<String, Arc<Run>>,
    order: VecDeque<String>,
}

/// The loaded runbooks and the recent runs; cheap to clone.
#[derive(Clone)]
pub struct Runbooks {
    pub settings: Arc<RunbookSettings>,
    set: Arc<RwLock<RunbookSet>>,
    runs: Arc<Mutex<RunsMap>>,
}

impl Runbooks {
    /// Loads `settings.dir`; problems are logged and the valid runbooks are served.
    pub fn load(settings: &RunbookSettings) -> Self {
        let this = Self {
            settings: Arc::new(settings.clone()),
            set: Arc::new(RwLock::new(Arc::new(BTreeMap::new()))),
            runs: Arc::new(Mutex::new(RunsMap { by_id: HashMap::new(), order: VecDeque::new() })),
        };
        let loaded = load_dir(&settings.dir);
        for p in &loaded.problems {
            tracing::warn!("runbook problem: {p}");
        }
        tracing::info!(count = loaded.runbooks.len(), dir = %settings.dir.display(), "runbooks loaded");
        this.install(loaded.runbooks);
        this
    }

    fn install(&self, runbooks: Vec<Runbook>) {
        let map = runbooks.into_iter().map(|r| (r.id.clone(), Arc::new(r))).collect();
        *self.set.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(map);
    }

    /// Reloads from disk. Any problem keeps the current set and is returned, so a broken edit
    /// never takes flows away.
    pub fn reload(&self) -> Result<usize, Vec<Problem>> {
        let loaded = load_dir(&self.settings.dir);
        if !loaded.problems.is_empty() {
            for p in &loaded.problems {
                tracing::warn!("runbook reload refused: {p}");
            }
            return Err(loaded.problems);
        }
        let count = loaded.runbooks.len();
        self.install(loaded.runbooks);
        tracing::info!(count, "runbooks reloaded");
        Ok(count)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Runbook>> {
        self.set.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }

    pub fn summaries(&self) -> Vec<RunbookSummary> {
        let set = self.set.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        set.values()
            .map(|r| RunbookSummary {
                id: r.id.clone(),
                title: r.title.clone(),
                summary: r.summary.clone(),
                component: r.component.clone(),
                alerts: r.alerts.clone(),
                params: r.params.clone(),
                steps: r.steps.len(),
            })
            .collect()
    }

    /// Keeps a run, forgetting the oldest beyond `max_runs`.
    pub fn insert_run(&self, run: Arc<Run>, id: String) {
        let mut runs = self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        runs.by_id.insert(id.clone(), run);
        runs.order.push_back(id);
        while runs.order.len() > self.settings.max_runs.max(1) {
            if let Some(old) = runs.order.pop_front() {
                runs.by_id.remove(&old);
            }
        }
    }

    pub fn run(&self, id: &str) -> Option<Arc<Run>> {
        self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).by_id.get(id).cloned()
    }
}

/// Reloads the runbooks whenever the process receives SIGHUP.
pub fn reload_on_sighup(runbooks: Runbooks) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot listen for SIGHUP; runbooks reload only through the API: {e}");
                return;
            }
        };
        while hup.recv().await.is_some() {
            let _ = runbooks.reload();
        }
    });
    #[cfg(not(unix))]
    drop(runbooks);
}
