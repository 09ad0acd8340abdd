//! The command-line equivalents Triage shows (`kubectl …`), written in one place for both sides:
//! the backend's dry runs, job steps and resolved fixes and the browser's views use these same
//! functions, so a command has one spelling and every value in it is shell-quoted.

use std::fmt::Display;

/// Quotes a value for a POSIX shell when it holds anything but plain word characters.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '=' | '@' | ','));
    if plain { value.to_owned() } else { format!("'{}'", value.replace('\'', "'\\''")) }
}

/// `kubectl -n NS get RESOURCE [-o wide] [-l SELECTOR]`.
pub fn kubectl_get(ns: &str, resource: &str, wide: bool, selector: Option<&str>) -> String {
    let mut cmd = format!("kubectl -n {} get {}", shell_quote(ns), shell_quote(resource));
    if wide {
        cmd.push_str(" -o wide");
    }
    if let Some(sel) = selector.map(str::trim).filter(|s| !s.is_empty()) {
        cmd.push_str(" -l ");
        cmd.push_str(&shell_quote(sel));
    }
    cmd
}

pub fn kubectl_describe(ns: &str, kind: &str, name: &str) -> String {
    format!("kubectl -n {} describe {} {}", shell_quote(ns), shell_quote(kind), shell_quote(name))
}

pub fn kubectl_logs(ns: &str, pod: &str, tail: u32, previous: bool) -> String {
    let mut cmd = format!("kubectl -n {} logs {} --tail={tail}", shell_quote(ns), shell_quote(pod));
    if previous {
        cmd.push_str(" --previous");
    }
    cmd
}

pub fn kubectl_events(ns: &str) -> String {
    format!("kubectl -n {} get events --sort-by=.lastTimestamp", shell_quote(ns))
}

pub fn kubectl_top_pods(ns: &str) -> String {
    format!("kubectl -n {} top pods", shell_quote(ns))
}

pub const KUBECTL_TOP_NODES: &str = "kubectl top nodes";

pub fn kubectl_scale(ns: &str, deployment: &str, replicas: impl Display) -> String {
    let replicas = replicas.to_string();
    format!(
        "kubectl -n {} scale deployment/{} --replicas={}",
        shell_quote(ns),
        shell_quote(deployment),
        shell_quote(&replicas)
    )
}

pub fn kubectl_restart(ns: &str, deployment: &str) -> String {
    format!("kubectl -n {} rollout restart deployment/{}", shell_quote(ns), shell_quote(deployment))
}

pub fn kubectl_delete_pod(ns: &str, pod: &str, force: bool) -> String {
    let force = if force { " --force --grace-period=0" } else { "" };
    format!("kubectl -n {} delete pod {}{force}", shell_quote(ns), shell_quote(pod))
}

pub fn kubectl_delete_pods(ns: &str, selector: &str, force: bool) -> String {
    let force = if force { " --force --grace-period=0" } else { "" };
    format!("kubectl -n {} delete pods -l {}{force}", shell_quote(ns), shell_quote(selector))
}

/// `kafka-broker-api-versions.sh --bootstrap-server SERVERS`.
pub fn kafka_broker_api_versions(bootstrap: &str) -> String {
    format!("kafka-broker-api-versions.sh --bootstrap-server {}", shell_quote(bootstrap))
}

/// `kafka-topics.sh --bootstrap-server SERVERS --describe [--topic TOPIC]`.
pub fn kafka_topics_describe(bootstrap: &str, topic: Option<&str>) -> String {
    let mut cmd = format!("kafka-topics.sh --bootstrap-server {} --describe", shell_quote(bootstrap));
    if let Some(topic) = topic {
        cmd.push_str(" --topic ");
        cmd.push_str(&shell_quote(topic));
    }
    cmd
}

/// `kafka-consumer-groups.sh --bootstrap-server SERVERS --describe (--group GROUP | --all-groups)`.
pub fn kafka_groups_describe(bootstrap: &str, group: Option<&str>) -> String {
    let mut cmd =
        format!("kafka-consumer-groups.sh --bootstrap-server {} --describe", shell_quote(bootstrap));
    match group {
        Some(group) => {
            cmd.push_str(" --group ");
            cmd.push_str(&shell_quote(group));
        }
        None => cmd.push_str(" --all-groups"),
    }
    cmd
}

/// `kafka-consumer-groups.sh --reset-offsets` for one group and topic, `--dry-run` or `--execute`.
pub fn kafka_reset_offsets(
    bootstrap: &str,
    group: &str,
    topic: &str,
    target: &crate::kafka::ResetTarget,
    execute: bool,
) -> String {
    use crate::kafka::ResetTarget;
    let to = match target {
        ResetTarget::Earliest => "--to-earliest".to_owned(),
        ResetTarget::Latest => "--to-latest".to_owned(),
        ResetTarget::Timestamp { at } => format!("--to-datetime {}", shell_quote(at)),
        ResetTarget::Shift { by } => format!("--shift-by {}", shell_quote(&by.to_string())),
    };
    format!(
        "kafka-consumer-groups.sh --bootstrap-server {} --group {} --topic {} --reset-offsets {to} {}",
        shell_quote(bootstrap),
        shell_quote(group),
        shell_quote(topic),
        if execute { "--execute" } else { "--dry-run" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_commands_quote_names() {
        use crate::kafka::ResetTarget;
        assert_eq!(
            kafka_groups_describe("k:9092", Some("team's group")),
            "kafka-consumer-groups.sh --bootstrap-server k:9092 --describe --group 'team'\\''s group'"
        );
        assert_eq!(
            kafka_reset_offsets("k:9092", "g", "events", &ResetTarget::Shift { by: -5 }, false),
            "kafka-consumer-groups.sh --bootstrap-server k:9092 --group g --topic events --reset-offsets --shift-by -5 --dry-run"
        );
        assert_eq!(
            kafka_reset_offsets("k:9092", "g", "t;rm", &ResetTarget::Latest, true),
            "kafka-consumer-groups.sh --bootstrap-server k:9092 --group g --topic 't;rm' --reset-offsets --to-latest --execute"
        );
        assert_eq!(
            kafka_topics_describe("a:1,b:2", None),
            "kafka-topics.sh --bootstrap-server a:1,b:2 --describe"
        );
    }

    #[test]
    fn values_are_quoted_and_spellings_fixed() {
        let ns = "streaming-analytics";
        assert_eq!(kubectl_get(ns, "pods", true, None), "kubectl -n streaming-analytics get pods -o wide");
        assert_eq!(
            kubectl_get(ns, "pods", false, Some("app in (a, b)")),
            "kubectl -n streaming-analytics get pods -l 'app in (a, b)'"
        );
        assert_eq!(
            kubectl_logs(ns, "p", 100, true),
            "kubectl -n streaming-analytics logs p --tail=100 --previous"
        );
        assert_eq!(kubectl_describe(ns, "pod", "p"), "kubectl -n streaming-analytics describe pod p");
        assert_eq!(
            kubectl_scale(ns, "x", 12),
            "kubectl -n streaming-analytics scale deployment/x --replicas=12"
        );
        assert_eq!(
            kubectl_delete_pods(ns, "tier!=db", true),
            "kubectl -n streaming-analytics delete pods -l 'tier!=db' --force --grace-period=0"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
