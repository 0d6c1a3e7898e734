//! Auto Scaling instance refreshes, for `promote --refresh`: start one
//! (`StartInstanceRefresh` with the preferences given) and follow it
//! (`DescribeInstanceRefreshes`) to its end (Auto Scaling API reference);
//! and find the groups that carry the opt-in tag (`DescribeAutoScalingGroups`
//! with a `tag:KEY` filter).
//!
//! The functions take the client, not [`Aws`](super::Aws), so that the
//! tests can hand them a client answered in process (aws-smithy-mocks):
//! moto has no instance refresh, and a refresh's failure and rollback
//! cannot be produced by any local server.

use std::time::Duration;

use aws_sdk_autoscaling::types::RefreshPreferences;
use serde::Serialize;

use crate::channels::RefreshOutcome;

/// The preferences `promote` passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub min_healthy_percentage: Option<i32>,
    pub checkpoints: Vec<i32>,
    pub auto_rollback: bool,
}

/// Where a refresh stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State {
    pub status: String,
    pub outcome: RefreshOutcome,
    pub percentage_complete: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
}

/// Start a refresh of `group`; its id.
pub async fn start(
    client: &aws_sdk_autoscaling::Client,
    group: &str,
    prefs: &Preferences,
) -> Result<String, String> {
    let mut p = RefreshPreferences::builder().auto_rollback(prefs.auto_rollback);
    if let Some(m) = prefs.min_healthy_percentage {
        p = p.min_healthy_percentage(m);
    }
    for c in &prefs.checkpoints {
        p = p.checkpoint_percentages(*c);
    }
    let out = client
        .start_instance_refresh()
        .auto_scaling_group_name(group)
        .preferences(p.build())
        .send()
        .await
        .map_err(|e| super::describe(&e, None))?;
    out.instance_refresh_id()
        .map(str::to_string)
        .ok_or_else(|| "StartInstanceRefresh named no refresh".to_string())
}

/// The state of refresh `id` of `group`.
pub async fn state(
    client: &aws_sdk_autoscaling::Client,
    group: &str,
    id: &str,
) -> Result<State, String> {
    let out = client
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .instance_refresh_ids(id)
        .send()
        .await
        .map_err(|e| super::describe(&e, None))?;
    let r = out
        .instance_refreshes()
        .iter()
        .find(|r| r.instance_refresh_id() == Some(id))
        .ok_or_else(|| format!("refresh {id} of {group} is not listed"))?;
    let status = r.status().map_or("Unknown", |s| s.as_str()).to_string();
    Ok(State {
        outcome: RefreshOutcome::of(&status),
        status,
        percentage_complete: r.percentage_complete(),
        status_reason: r.status_reason().map(str::to_string),
    })
}

/// Poll refresh `id` every `poll` until it ends or `limit` has passed,
/// telling `progress` each state read.
pub async fn follow(
    client: &aws_sdk_autoscaling::Client,
    group: &str,
    id: &str,
    poll: Duration,
    limit: Duration,
    progress: &mut dyn FnMut(&State),
) -> Result<State, String> {
    let started = tokio::time::Instant::now();
    loop {
        let s = state(client, group, id).await?;
        progress(&s);
        if s.outcome.done() {
            return Ok(s);
        }
        if started.elapsed() >= limit {
            return Err(format!(
                "refresh {id} of {group} is still {} after {}s (--refresh-timeout); follow it with aws autoscaling describe-instance-refreshes",
                s.status,
                limit.as_secs()
            ));
        }
        tokio::time::sleep(poll).await;
    }
}

/// The groups tagged `key` = `value` (the opt-in tag), each with its tags.
pub async fn tagged_groups(
    client: &aws_sdk_autoscaling::Client,
    key: &str,
    value: &str,
) -> Result<Vec<(String, std::collections::BTreeMap<String, String>)>, String> {
    let pages = client
        .describe_auto_scaling_groups()
        .filters(
            aws_sdk_autoscaling::types::Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build(),
        )
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut out = Vec::new();
    for page in pages {
        let page = page.map_err(|e| super::describe(&e, None))?;
        for g in page.auto_scaling_groups() {
            let tags = g
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            out.push((
                g.auto_scaling_group_name().unwrap_or_default().to_string(),
                tags,
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! aws-smithy-mocks answers in process: moto has no instance refresh.
    use super::*;
    use aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput;
    use aws_sdk_autoscaling::operation::start_instance_refresh::StartInstanceRefreshOutput;
    use aws_sdk_autoscaling::types::{InstanceRefresh, InstanceRefreshStatus};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn refresh(
        status: InstanceRefreshStatus,
        pct: i32,
        reason: &str,
    ) -> DescribeInstanceRefreshesOutput {
        DescribeInstanceRefreshesOutput::builder()
            .instance_refreshes(
                InstanceRefresh::builder()
                    .instance_refresh_id("r-1")
                    .status(status)
                    .percentage_complete(pct)
                    .status_reason(reason)
                    .build(),
            )
            .build()
    }

    async fn run(ends: InstanceRefreshStatus) -> (Result<State, String>, Vec<String>, bool) {
        let start_rule = mock!(aws_sdk_autoscaling::Client::start_instance_refresh)
            .match_requests(|r| {
                r.auto_scaling_group_name() == Some("web")
                    && r.preferences().and_then(|p| p.min_healthy_percentage()) == Some(90)
                    && r.preferences().map(|p| p.checkpoint_percentages().to_vec())
                        == Some(vec![50, 100])
                    && r.preferences().and_then(|p| p.auto_rollback()) == Some(true)
            })
            .then_output(|| {
                StartInstanceRefreshOutput::builder()
                    .instance_refresh_id("r-1")
                    .build()
            });
        let pending = mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes)
            .then_output(|| refresh(InstanceRefreshStatus::InProgress, 40, "replacing"));
        let end = ends.clone();
        let last = mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes)
            .then_output(move || refresh(end.clone(), 100, "the end"));
        let client = mock_client!(
            aws_sdk_autoscaling,
            RuleMode::Sequential,
            [&start_rule, &pending, &last]
        );
        let prefs = Preferences {
            min_healthy_percentage: Some(90),
            checkpoints: vec![50, 100],
            auto_rollback: true,
        };
        let id = start(&client, "web", &prefs).await.expect("started");
        assert_eq!(id, "r-1");
        let mut seen = Vec::new();
        let r = follow(
            &client,
            "web",
            &id,
            Duration::from_millis(1),
            Duration::from_secs(60),
            &mut |s| seen.push(s.status.clone()),
        )
        .await;
        (r, seen, start_rule.num_calls() == 1)
    }

    #[tokio::test]
    async fn a_refresh_is_followed_to_success() {
        let (r, seen, started) = run(InstanceRefreshStatus::Successful).await;
        assert!(started, "the preferences were passed");
        assert_eq!(seen, ["InProgress", "Successful"]);
        assert_eq!(r.expect("state").outcome, RefreshOutcome::Succeeded);
    }

    #[tokio::test]
    async fn a_failed_or_rolled_back_refresh_says_so() {
        let (r, _, _) = run(InstanceRefreshStatus::Failed).await;
        let s = r.expect("state");
        assert_eq!(s.outcome, RefreshOutcome::Failed);
        assert_eq!(s.status_reason.as_deref(), Some("the end"));
        let (r, _, _) = run(InstanceRefreshStatus::RollbackSuccessful).await;
        assert_eq!(r.expect("state").outcome, RefreshOutcome::RolledBack);
    }

    #[tokio::test]
    async fn a_refresh_still_running_at_the_limit_names_the_flag_that_sets_it() {
        let pending = mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes)
            .then_output(|| refresh(InstanceRefreshStatus::InProgress, 40, "replacing"));
        let client = mock_client!(aws_sdk_autoscaling, [&pending]);
        let e = follow(
            &client,
            "web",
            "r-1",
            Duration::from_millis(1),
            Duration::ZERO,
            &mut |_| {},
        )
        .await
        .expect_err("still running");
        assert!(e.contains("still InProgress"), "{e}");
        assert!(e.contains("(--refresh-timeout)"), "{e}");
    }
}
