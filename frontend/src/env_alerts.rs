//! The alerts of every environment for the merged views (Overview's lines, the Alerts page): a
//! slot per environment, each filled by its own request the moment that request answers, so a
//! slow or hung environment shows "asking…" and then its error in words while every other
//! environment's figures are already on screen. At most one request per environment is out at a
//! time: a refresh does not pile requests up behind a hung one.

use leptos::prelude::*;
use leptos::task::spawn_local;
use triage_shared::ApiError;
use triage_shared::env::Environments;
use triage_shared::prom::Alert;

use crate::api::prom::{alerts, alerts_in};
use crate::format::time::now_unix;

/// One environment's place in a merged alert view.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvSlot {
    /// `None` when the environments are unknown (their list failed): the current one's.
    pub env: Option<String>,
    /// The environment's display colour, `#rrggbb`.
    pub colour: Option<String>,
    /// The last good answer; `None` until one arrives.
    pub alerts: Option<Vec<Alert>>,
    /// Why the last request failed; cleared by the next good answer.
    pub error: Option<String>,
    /// A request is out.
    pub asking: bool,
    /// When the last request finished, good or not (Unix seconds).
    pub finished_at: Option<f64>,
}

/// Where a slot stands, as the page shows it (and as `data-state` tells tests and benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// No answer yet and the first request is out.
    Asking,
    /// The last request failed.
    Failed,
    /// The last request answered.
    Answered,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asking => "asking",
            Self::Failed => "failed",
            Self::Answered => "answered",
        }
    }
}

impl EnvSlot {
    fn new(env: Option<String>, colour: Option<String>) -> Self {
        Self { env, colour, alerts: None, error: None, asking: false, finished_at: None }
    }

    /// The environment's name for the page ("this environment" when the list is unknown).
    pub fn name(&self) -> String {
        self.env.clone().unwrap_or_else(|| "this environment".to_owned())
    }

    pub fn state(&self) -> SlotState {
        if self.error.is_some() {
            SlotState::Failed
        } else if self.alerts.is_some() {
            SlotState::Answered
        } else {
            SlotState::Asking
        }
    }

    /// Takes in one request's answer: a good one replaces the alerts, a failure keeps the
    /// previous ones and says why.
    pub fn settle(&mut self, result: Result<Vec<Alert>, ApiError>, at: f64) {
        self.asking = false;
        self.finished_at = Some(at);
        match result {
            Ok(list) => {
                self.alerts = Some(list);
                self.error = None;
            }
            Err(e) => self.error = Some(e.message),
        }
    }

    /// The number of alerts in `state` ("firing", "pending") of the last good answer.
    pub fn count(&self, state: &str) -> usize {
        self.alerts.as_ref().map_or(0, |l| l.iter().filter(|a| a.state == state).count())
    }
}

/// The slots for `all` (every environment with a Prometheus that the caller may see, in the
/// configuration's order), keeping what `previous` knew of each; without the list, one slot for
/// the current environment.
pub fn reconcile(previous: &[EnvSlot], all: Option<&Environments>) -> Vec<EnvSlot> {
    let wanted: Vec<(Option<String>, Option<String>)> = match all {
        None => vec![(None, None)],
        Some(all) => all
            .environments
            .iter()
            .filter(|e| e.upstreams.prometheus && e.role.is_some())
            .map(|e| (Some(e.name.clone()), Some(e.colour.clone())))
            .collect(),
    };
    wanted
        .into_iter()
        .map(|(env, colour)| match previous.iter().find(|s| s.env == env) {
            Some(old) => EnvSlot { colour, ..old.clone() },
            None => EnvSlot::new(env, colour),
        })
        .collect()
}

/// Asks every environment of `all` that has no request out, each answer filling its own slot
/// when it arrives. Call it again to refresh.
pub fn ask_every_env(slots: RwSignal<Vec<EnvSlot>>, all: Option<&Environments>) {
    let mut to_ask = Vec::new();
    slots.update(|list| {
        *list = reconcile(list, all);
        for slot in list.iter_mut().filter(|s| !s.asking) {
            slot.asking = true;
            to_ask.push(slot.env.clone());
        }
    });
    for env in to_ask {
        spawn_local(async move {
            let result = match &env {
                Some(name) => alerts_in(name).await,
                None => alerts().await,
            };
            let at = now_unix();
            // The page may have gone meanwhile; then there is nothing to fill.
            let _ = slots.try_update(|list| {
                if let Some(slot) = list.iter_mut().find(|s| s.env == env) {
                    slot.settle(result, at);
                }
            });
        });
    }
}

/// Slots that fill in as answers arrive: asked once the list of environments is known, and again
/// each time `reload` (when given) changes.
pub fn use_env_alerts(reload: Option<RwSignal<u32>>) -> RwSignal<Vec<EnvSlot>> {
    let envs = crate::env::use_environments();
    let slots = RwSignal::new(Vec::<EnvSlot>::new());
    Effect::new(move |_| {
        if let Some(r) = reload {
            r.track();
        }
        if let Some(list) = envs.list.get() {
            ask_every_env(slots, list.as_ref().ok());
        }
    });
    slots
}

#[cfg(test)]
mod tests {
    use super::*;
    use triage_shared::ErrorKind;

    fn firing(name: &str) -> Alert {
        Alert {
            labels: [("alertname".to_owned(), name.to_owned())].into_iter().collect(),
            annotations: Default::default(),
            state: "firing".to_owned(),
            active_at: None,
            value: None,
        }
    }

    #[test]
    fn a_slot_is_asking_until_its_own_answer_and_a_failure_keeps_the_last_good_one() {
        let mut slot = EnvSlot::new(Some("prod-eu".into()), None);
        slot.asking = true;
        assert_eq!(slot.state(), SlotState::Asking);
        slot.settle(Ok(vec![firing("A"), firing("B")]), 10.0);
        assert_eq!((slot.state(), slot.count("firing"), slot.asking), (SlotState::Answered, 2, false));
        slot.settle(Err(ApiError::new(ErrorKind::Unavailable, "Prometheus is down")), 25.0);
        assert_eq!(slot.state(), SlotState::Failed);
        assert_eq!(slot.error.as_deref(), Some("Prometheus is down"));
        assert_eq!((slot.count("firing"), slot.finished_at), (2, Some(25.0)));
        slot.settle(Ok(vec![]), 40.0);
        assert_eq!(
            (slot.state(), slot.count("firing"), slot.error.as_deref()),
            (SlotState::Answered, 0, None)
        );
    }

    #[test]
    fn reconcile_keeps_what_each_environment_knew_and_only_lists_visible_ones() {
        let all: Environments = serde_json::from_value(serde_json::json!({
            "default": "staging",
            "alert_label": "cluster",
            "environments": [
                {"name": "staging", "colour": "#2e7d32", "protection": "standard", "role": "operator",
                 "upstreams": {"kubernetes": true, "prometheus": true, "postgres": false, "kafka": false}},
                {"name": "prod-eu", "colour": "#c62828", "protection": "approval", "role": "reader",
                 "upstreams": {"kubernetes": true, "prometheus": true, "postgres": false, "kafka": false}},
                {"name": "no-prom", "colour": "#000000", "protection": "standard", "role": "reader",
                 "upstreams": {"kubernetes": true, "prometheus": false, "postgres": false, "kafka": false}},
                {"name": "hidden", "colour": "#000000", "protection": "standard", "role": null,
                 "upstreams": {"kubernetes": true, "prometheus": true, "postgres": false, "kafka": false}}
            ]
        }))
        .expect("a valid list of environments");
        let mut known = EnvSlot::new(Some("prod-eu".into()), None);
        known.settle(Ok(vec![firing("A")]), 5.0);
        let slots = reconcile(&[known], Some(&all));
        let names: Vec<String> = slots.iter().map(EnvSlot::name).collect();
        assert_eq!(names, ["staging", "prod-eu"]);
        assert_eq!(slots[0].state(), SlotState::Asking);
        assert_eq!((slots[1].count("firing"), slots[1].colour.as_deref()), (1, Some("#c62828")));
        let alone = reconcile(&[], None);
        assert_eq!((alone.len(), alone[0].name().as_str()), (1, "this environment"));
    }
}
