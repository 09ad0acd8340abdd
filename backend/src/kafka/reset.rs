//! The guarded offset reset of one group on one topic (the guide's data-recovery step): to the
//! earliest or latest offset, to a time, or shifted by N. Refused while the group has active
//! members (the answer names them); the dry run answers the per-partition plan; a real run
//! needs the group's name typed, is audited before and after, commits exactly the planned
//! offsets and reads them back.

use std::collections::BTreeMap;

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::topic_partition_list::Offset;
use triage_shared::commands;
use triage_shared::kafka::{OffsetMove, OffsetResetOutcome, OffsetResetRequest, ResetTarget};
use triage_shared::{ApiError, ErrorKind};

use super::views::{LogEnd, find_topic};
use super::{Kafka, check_name};
use crate::guard::{Actor, Plan, guarded};

impl Kafka {
    /// `POST /api/kafka/groups/{group}/reset-offsets`.
    pub async fn reset_offsets(
        &self,
        actor: &Actor<'_>,
        group: &str,
        req: &OffsetResetRequest,
    ) -> Result<OffsetResetOutcome, ApiError> {
        check_name("group", group)?;
        check_name("topic", &req.topic)?;
        if !self.settings.allow_offset_reset {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                "the offset reset is disabled in this Triage; an administrator enables it with \
                 `[kafka] allow_offset_reset = true`",
            ));
        }
        let moves = self.plan_reset(group, req).await?;
        let replayed: i64 = moves.iter().map(|m| m.replayed).sum();
        let skipped: i64 = moves.iter().map(|m| m.skipped).sum();
        let summary = format!(
            "reset group {group} on topic {}: {} partitions, {replayed} messages replayed, {skipped} skipped",
            req.topic,
            moves.len()
        );
        let bootstrap = &self.settings.bootstrap;
        let execute = commands::kafka_reset_offsets(bootstrap, group, &req.topic, &req.target, true);
        let plan = Plan {
            action: "kafka-offset-reset",
            target: format!("kafka-group/{group}/{}", req.topic),
            params: serde_json::json!({"topic": req.topic, "target": req.target, "plan": moves}),
            summary: summary.clone(),
            kubectl: execute.clone(),
            confirm_with: Some(group),
            name: group,
        };
        let planned = moves.clone();
        let outcome = guarded(actor, plan, req.dry_run, req.confirm.as_deref(), || async {
            self.commit_plan(group, &req.topic, &planned).await
        })
        .await?;
        Ok(OffsetResetOutcome {
            dry_run: outcome.dry_run,
            summary,
            plan: moves,
            command: if outcome.dry_run {
                commands::kafka_reset_offsets(bootstrap, group, &req.topic, &req.target, false)
            } else {
                execute
            },
            audit_id: outcome.audit_id,
            approval: outcome.approval,
        })
    }

    /// Refuses while the group has members; otherwise the per-partition plan.
    async fn plan_reset(&self, group: &str, req: &OffsetResetRequest) -> Result<Vec<OffsetMove>, ApiError> {
        self.refuse_active(group).await?;
        let md = self.metadata(Some(req.topic.clone())).await?;
        let topic = find_topic(&md, &req.topic)?.clone();
        let topics = std::slice::from_ref(&topic);
        let which = match &req.target {
            ResetTarget::Timestamp { at } => {
                let at: jiff::Timestamp = at.parse().map_err(|e| {
                    ApiError::new(ErrorKind::BadRequest, format!("{at:?} is not an RFC 3339 time: {e}"))
                })?;
                Some(LogEnd::At(at.as_millisecond()))
            }
            _ => None,
        };
        let (starts, ends, committed) = tokio::join!(
            self.log_offsets(&md, topics, LogEnd::Start),
            self.log_offsets(&md, topics, LogEnd::End),
            self.committed(group, topics)
        );
        let at = match which {
            Some(w) => Some(self.log_offsets(&md, topics, w).await),
            None => None,
        };
        let committed = committed.map_err(|e| ApiError::new(ErrorKind::Upstream, e))?;
        let mut moves = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let key = (topic.name.clone(), p.id);
            let read = |m: &BTreeMap<(String, i32), Result<i64, String>>, what: &str| {
                match m.get(&key) {
                    Some(Ok(o)) => Ok(*o),
                    Some(Err(e)) => Err(e.clone()),
                    None => Err(format!("{what} not read")),
                }
                .map_err(|e| {
                    ApiError::new(
                        ErrorKind::Upstream,
                        format!(
                            "partition {} of {}: cannot read its {what}: {e}; nothing was changed",
                            p.id, topic.name
                        ),
                    )
                })
            };
            let start = read(&starts, "log start")?;
            let end = read(&ends, "log end")?;
            let from = committed.get(&key).copied();
            let to = match &req.target {
                ResetTarget::Earliest => start,
                ResetTarget::Latest => end,
                ResetTarget::Timestamp { .. } => {
                    let found = at.as_ref().map_or(Ok(-1), |m| read(m, "offset for the time"))?;
                    if found < 0 { end } else { found }
                }
                ResetTarget::Shift { by } => {
                    let Some(from) = from else {
                        return Err(ApiError::new(
                            ErrorKind::Conflict,
                            format!(
                                "partition {} has no committed offset to shift from; reset it to a time, \
                                 the earliest or the latest offset instead",
                                p.id
                            ),
                        ));
                    };
                    from.saturating_add(*by).clamp(start, end)
                }
            };
            let (replayed, skipped) = match from {
                Some(f) if to < f => (f - to, 0),
                Some(f) => (0, to - f),
                None => (0, 0),
            };
            moves.push(OffsetMove { partition: p.id, from, to, replayed, skipped });
        }
        Ok(moves)
    }

    /// 409 naming the active members, if there are any.
    async fn refuse_active(&self, group: &str) -> Result<(), ApiError> {
        let described = self.describe_groups(Some(group.to_owned())).await?;
        let members: Vec<String> = described
            .iter()
            .filter(|g| g.id == group)
            .flat_map(|g| g.members.iter())
            .map(|m| {
                let who = [m.client_id.as_str(), m.host.as_str()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" on ");
                if who.is_empty() { m.member_id.clone() } else { format!("{} ({who})", m.member_id) }
            })
            .collect();
        // Some brokers report a group with live consumers as `Stable` but name no members:
        // the state is trusted as much as the member list.
        let state = described.iter().find(|g| g.id == group).map(|g| g.state.clone()).unwrap_or_default();
        let active_state = matches!(state.as_str(), "Stable" | "PreparingRebalance" | "CompletingRebalance");
        if members.is_empty() && active_state {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                format!(
                    "group {group} is {state} (the broker names no members, but the group is active); \
                     stop its consumers first (the reset only applies to a group without members)"
                ),
            ));
        }
        if members.is_empty() {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorKind::Conflict,
            format!(
                "group {group} has {} active member(s): {}; stop its consumers first (the reset only \
                 applies to a group without members)",
                members.len(),
                members.join(", ")
            ),
        )
        .with_detail(serde_json::json!({"members": members})))
    }

    /// Commits the planned offsets as the group, then reads them back.
    async fn commit_plan(&self, group: &str, topic: &str, moves: &[OffsetMove]) -> Result<(), ApiError> {
        // Members may have joined since the plan was made.
        self.refuse_active(group).await?;
        let handle = self.group_handle(group)?;
        let timeout = self.timeout();
        let planned: Vec<(i32, i64)> = moves.iter().map(|m| (m.partition, m.to)).collect();
        let topic = topic.to_owned();
        let group = group.to_owned();
        self.blocking(move || {
            let mut tpl = TopicPartitionList::with_capacity(planned.len());
            for (p, to) in &planned {
                tpl.add_partition_offset(&topic, *p, Offset::Offset(*to))
                    .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
            }
            handle.commit(&tpl, CommitMode::Sync).map_err(|e| {
                super::api_error(&e, handle.context(), &format!("committing the offsets of group {group:?}"))
            })?;
            let mut ask = TopicPartitionList::with_capacity(planned.len());
            for (p, _) in &planned {
                ask.add_partition(&topic, *p);
            }
            let back = handle
                .committed_offsets(ask, timeout)
                .map_err(|e| super::api_error(&e, handle.context(), "reading the committed offsets back"))?;
            let differ: Vec<String> = planned
                .iter()
                .filter_map(|(p, to)| {
                    let got = back.find_partition(&topic, *p).map(|e| e.offset());
                    (got != Some(Offset::Offset(*to)))
                        .then(|| format!("partition {p}: planned {to}, reads {got:?}"))
                })
                .collect();
            if differ.is_empty() {
                Ok(())
            } else {
                Err(ApiError::new(
                    ErrorKind::Upstream,
                    format!(
                        "the broker accepted the commit but reads back other offsets: {}",
                        differ.join("; ")
                    ),
                ))
            }
        })
        .await
    }
}
