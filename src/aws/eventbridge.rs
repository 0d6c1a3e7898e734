//! EventBridge adapter: check the bus, publish entries, retry only what failed.
//!
//! EventBridge answers HTTP 200 even when entries fail, and a bus that does not
//! exist answers `FailedEntryCount: 0` in some setups, so the bus is described
//! first and every entry's result is read.

use std::future::Future;
use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{aws_error, error_code, Aws};
use crate::error::{Error, Result};
use crate::events::entry::{check_limits, is_retryable, Entry};

/// What EventBridge said about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryResult {
    /// Set when accepted.
    pub event_id: Option<String>,
    /// Set when rejected.
    pub error_code: Option<String>,
    /// AWS's message.
    pub error_message: Option<String>,
}

fn client(aws: &Aws, region: &str) -> aws_sdk_eventbridge::Client {
    aws.eventbridge(region)
}

/// Fail with exit 7 unless the bus exists.
pub async fn check_bus(aws: &Aws, region: &str, bus: &str) -> Result<()> {
    match client(aws, region).describe_event_bus().name(bus).send().await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Err(Error::EventRejected(format!(
            "the event bus `{bus}` does not exist in {region}: create it, or pass --event-bus default"
        ))),
        Err(e) => Err(aws_error(format!("checking the event bus `{bus}` in {region}"), &e, aws.endpoint())),
    }
}

/// Publish entries to EventBridge in `region`, retrying failed retryable entries.
pub async fn put_events(aws: &Aws, region: &str, entries: Vec<Entry>) -> Result<Vec<String>> {
    let c = client(aws, region);
    let endpoint = aws.endpoint().map(str::to_string);
    let send = move |batch: Vec<Entry>| {
        let c = c.clone();
        let endpoint = endpoint.clone();
        async move {
            let reqs: Vec<PutEventsRequestEntry> = batch
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .source(&e.source)
                        .detail_type(&e.detail_type)
                        .detail(&e.detail)
                        .set_resources(Some(e.resources.clone()))
                        .event_bus_name(&e.event_bus_name)
                        .build()
                })
                .collect();
            let out = c
                .put_events()
                .set_entries(Some(reqs))
                .send()
                .await
                .map_err(|e| aws_error("PutEvents", &e, endpoint.as_deref()))?;
            Ok(out
                .entries()
                .iter()
                .map(|r| EntryResult {
                    event_id: r.event_id().map(str::to_string),
                    error_code: r.error_code().map(str::to_string),
                    error_message: r.error_message().map(str::to_string),
                })
                .collect())
        }
    };
    put_with_retry(entries, send, 5, Duration::from_millis(200)).await
}

/// The retry loop, generic over the sender so fault injection can drive it.
/// Returns the event ids in entry order, or [`Error::EventRejected`] naming each
/// entry's error code.
pub async fn put_with_retry<F, Fut>(
    entries: Vec<Entry>,
    mut send: F,
    max_attempts: u32,
    base_delay: Duration,
) -> Result<Vec<String>>
where
    F: FnMut(Vec<Entry>) -> Fut,
    Fut: Future<Output = Result<Vec<EntryResult>>>,
{
    check_limits(&entries).map_err(Error::EventRejected)?;
    let mut ids: Vec<Option<String>> = vec![None; entries.len()];
    let mut pending: Vec<usize> = (0..entries.len()).collect();
    let mut permanent: Vec<String> = Vec::new();
    let mut last_retryable: Vec<String> = Vec::new();
    for attempt in 0..max_attempts.max(1) {
        if pending.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(base_delay * 2u32.saturating_pow(attempt - 1)).await;
        }
        let batch: Vec<Entry> = pending.iter().map(|&i| entries[i].clone()).collect();
        let results = send(batch).await?;
        if results.len() != pending.len() {
            return Err(Error::EventRejected(format!(
                "EventBridge answered {} results for {} entries",
                results.len(),
                pending.len()
            )));
        }
        let mut retry = Vec::new();
        last_retryable.clear();
        for (&i, r) in pending.iter().zip(results) {
            match (r.event_id, r.error_code) {
                (Some(id), None) => ids[i] = Some(id),
                (_, Some(code)) => {
                    let msg = format!(
                        "entry {}: {code}: {}",
                        i + 1,
                        r.error_message.unwrap_or_default()
                    );
                    if is_retryable(&code) {
                        tracing::warn!(attempt, %msg, "retrying");
                        last_retryable.push(msg);
                        retry.push(i);
                    } else {
                        permanent.push(msg);
                    }
                }
                (None, None) => {
                    permanent.push(format!("entry {}: no event id and no error code", i + 1))
                }
            }
        }
        pending = retry;
    }
    if !permanent.is_empty() || !pending.is_empty() {
        let mut all = permanent;
        if !pending.is_empty() {
            all.push(format!(
                "still failing after {max_attempts} attempts: {}",
                last_retryable.join("; ")
            ));
        }
        return Err(Error::EventRejected(format!(
            "EventBridge did not accept the event: {}",
            all.join("; ")
        )));
    }
    Ok(ids.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn entry(n: usize) -> Entry {
        Entry {
            source: "com.ami.builder".into(),
            detail_type: "AmiBuilder".into(),
            detail: format!("{{\"n\":{n}}}"),
            resources: vec![],
            event_bus_name: "default".into(),
        }
    }

    fn ok(id: &str) -> EntryResult {
        EntryResult {
            event_id: Some(id.into()),
            error_code: None,
            error_message: None,
        }
    }

    fn err(code: &str) -> EntryResult {
        EntryResult {
            event_id: None,
            error_code: Some(code.into()),
            error_message: Some("m".into()),
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt")
    }

    #[test]
    fn partial_failure_retries_only_the_failed_retryable_entry() {
        let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let c = calls.clone();
        let mut round = 0;
        let send = move |batch: Vec<Entry>| {
            c.lock()
                .expect("lock")
                .push(batch.iter().map(|e| e.detail.clone()).collect());
            round += 1;
            let r = round;
            async move {
                Ok(match r {
                    1 => vec![ok("a"), err("ThrottlingException"), ok("c")],
                    _ => vec![ok("b")],
                })
            }
        };
        let ids = rt()
            .block_on(put_with_retry(
                vec![entry(1), entry(2), entry(3)],
                send,
                5,
                Duration::from_millis(1),
            ))
            .expect("sent");
        assert_eq!(ids, vec!["a", "b", "c"]);
        let calls = calls.lock().expect("lock");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1], vec!["{\"n\":2}".to_string()]);
    }

    /// One entry that EventBridge rejects with `code` on every attempt:
    /// the error, and how many times it was sent.
    fn always_rejected(code: &'static str, max_attempts: u32) -> (Error, usize) {
        let mut n = 0;
        let send = |_: Vec<Entry>| {
            n += 1;
            async move { Ok(vec![err(code)]) }
        };
        let e = rt()
            .block_on(put_with_retry(
                vec![entry(1)],
                send,
                max_attempts,
                Duration::from_millis(1),
            ))
            .unwrap_err();
        (e, n)
    }

    #[test]
    fn permanent_errors_are_not_retried_and_name_the_code() {
        let (e, n) = always_rejected("AccessDeniedException", 5);
        assert_eq!(e.exit_code(), 7);
        assert!(e.to_string().contains("AccessDeniedException"), "{e}");
        assert_eq!(n, 1);
    }

    #[test]
    fn persistent_throttling_gives_up_after_max_attempts() {
        let (e, n) = always_rejected("ThrottlingException", 3);
        assert!(e.to_string().contains("after 3 attempts"), "{e}");
        assert!(e.to_string().contains("ThrottlingException"), "{e}");
        assert_eq!(n, 3);
    }

    #[test]
    fn limits_checked_before_sending() {
        let send = |_: Vec<Entry>| async { panic!("must not send") };
        let e = rt()
            .block_on(put_with_retry(
                (0..11).map(entry).collect(),
                send,
                3,
                Duration::from_millis(1),
            ))
            .unwrap_err();
        assert_eq!(e.exit_code(), 7);
    }
}
