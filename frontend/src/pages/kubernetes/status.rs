//! Kubernetes states → how alarming they are: pod statuses, last terminations, rollouts and
//! events (the Kubernetes tabs and the pod detail).

use triage_shared::k8s::RolloutState;

use crate::widgets::Level;

/// Pod status as kubectl prints it → how alarming it is.
pub fn pod_status_level(status: &str) -> Level {
    match status {
        "Running" => Level::Ok,
        "Completed" | "Succeeded" => Level::Neutral,
        "Pending" | "ContainerCreating" | "PodInitializing" => Level::Warn,
        "CrashLoopBackOff"
        | "Error"
        | "OOMKilled"
        | "Terminating"
        | "Failed"
        | "Evicted"
        | "Unknown"
        | "NodeLost"
        | "ImagePullBackOff"
        | "ErrImagePull"
        | "CreateContainerConfigError"
        | "CreateContainerError"
        | "InvalidImageName"
        | "ContainerStatusUnknown" => Level::Crit,
        s if s.starts_with("Init:") => {
            if s.contains("Error") || s.contains("CrashLoop") || s.contains("BackOff") {
                Level::Crit
            } else {
                Level::Warn
            }
        }
        _ => Level::Neutral,
    }
}

/// A container's last termination reason → level (`OOMKilled` is the one to see first).
pub fn termination_level(reason: &str) -> Level {
    match reason {
        "OOMKilled" => Level::Crit,
        "Completed" => Level::Neutral,
        _ => Level::Warn,
    }
}

/// Rollout state → (badge text, level, explanation).
pub fn rollout_badge(state: &RolloutState) -> (&'static str, Level, String) {
    match state {
        RolloutState::Complete => {
            ("complete", Level::Ok, "All replicas are updated and available.".to_owned())
        }
        RolloutState::Progressing(m) => ("progressing", Level::Warn, m.clone()),
        RolloutState::Stalled(m) => ("stalled", Level::Crit, m.clone()),
    }
}

pub fn event_level(kind: &str) -> Level {
    if kind == "Warning" { Level::Crit } else { Level::Neutral }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_levels() {
        assert_eq!(pod_status_level("Running"), Level::Ok);
        for warn in ["Pending", "ContainerCreating", "Init:0/1"] {
            assert_eq!(pod_status_level(warn), Level::Warn, "{warn}");
        }
        for crit in ["CrashLoopBackOff", "Error", "OOMKilled", "Terminating", "Init:CrashLoopBackOff"] {
            assert_eq!(pod_status_level(crit), Level::Crit, "{crit}");
        }
        assert_eq!(pod_status_level("Completed"), Level::Neutral);
        assert_eq!(termination_level("OOMKilled"), Level::Crit);
        assert_eq!(termination_level("Error"), Level::Warn);
        assert_eq!(event_level("Warning"), Level::Crit);
        assert_eq!(event_level("Normal"), Level::Neutral);
        assert_eq!(rollout_badge(&RolloutState::Stalled("deadline".into())).1, Level::Crit);
        assert_eq!(rollout_badge(&RolloutState::Progressing("x".into())).0, "progressing");
    }
}
