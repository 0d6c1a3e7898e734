//! EC2 adapter: describe and confirm images.
//!
//! Owns: every EC2 call ami-builder makes. Commands get typed results
//! ([`ImageInfo`]) and crate errors with actionable messages.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{aws_error, error_code, Aws};
use crate::error::{Error, Result};

/// What EC2 says about one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// Region.
    pub region: String,
    /// AMI id.
    pub ami_id: String,
    /// Image name.
    pub name: Option<String>,
    /// `available`, `pending`, `failed`, ...
    pub state: String,
    /// As EC2 reports it (ISO 8601).
    pub creation_date: Option<String>,
    /// EBS snapshots behind the image's block device mappings.
    pub snapshot_ids: Vec<String>,
    /// Owner account.
    pub owner_id: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// Describe one image; `Ok(None)` when EC2 says it does not exist.
pub async fn describe_image(aws: &Aws, region: &str, ami_id: &str) -> Result<Option<ImageInfo>> {
    let client = aws.ec2(region);
    let resp = client.describe_images().image_ids(ami_id).send().await;
    let out = match resp {
        Ok(o) => o,
        Err(e) => {
            let code = error_code(&e).unwrap_or_default();
            if code.starts_with("InvalidAMIID") {
                return Ok(None);
            }
            return Err(aws_error(
                format!("describing image {ami_id} in {region}"),
                &e,
                aws.endpoint(),
            ));
        }
    };
    let Some(img) = out.images().iter().find(|i| i.image_id() == Some(ami_id)) else {
        return Ok(None);
    };
    let snapshot_ids = img
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
        .collect();
    let tags = img
        .tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    Ok(Some(ImageInfo {
        region: region.to_string(),
        ami_id: ami_id.to_string(),
        name: img.name().map(str::to_string),
        state: img
            .state()
            .map_or_else(|| "unknown".to_string(), |s| s.as_str().to_string()),
        creation_date: img.creation_date().map(str::to_string),
        snapshot_ids,
        owner_id: img.owner_id().map(str::to_string),
        tags,
    }))
}

/// Confirm that an image exists and is `available`, polling while it is
/// `pending` until `timeout`. Errors are [`Error::NotConfirmed`] (exit 5) for
/// images that are missing or in a bad state, and [`Error::Aws`] for API failures.
pub async fn confirm_available(
    aws: &Aws,
    region: &str,
    ami_id: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<ImageInfo> {
    let started = Instant::now();
    loop {
        match describe_image(aws, region, ami_id).await? {
            None => {
                return Err(Error::NotConfirmed(format!(
                    "AMI {ami_id} was reported by Packer but does not exist in {region}: it may have been deregistered by Packer's cleanup or by someone else, or the region/endpoint is wrong (check --region / --endpoint-url)"
                )))
            }
            Some(info) if info.state == "available" => return Ok(info),
            Some(info) if info.state == "pending" => {
                if started.elapsed() >= timeout {
                    return Err(Error::NotConfirmed(format!(
                        "AMI {ami_id} in {region} is still pending after {}s: raise --wait-timeout or check the image in the EC2 console",
                        timeout.as_secs()
                    )));
                }
                tracing::info!(ami_id, region, "image pending; waiting");
                tokio::time::sleep(poll).await;
            }
            Some(info) => {
                return Err(Error::NotConfirmed(format!(
                    "AMI {ami_id} in {region} is in state `{}`, not `available`: the image is unusable; inspect it in EC2 and rebuild",
                    info.state
                )))
            }
        }
    }
}

/// Tag resources (AMIs, snapshots) in one region, batching up to 100 resources per
/// `CreateTags` call. When a batch fails, each resource is retried alone so the
/// error names exactly which ones could not be tagged. Returns those failures.
pub async fn create_tags(
    aws: &Aws,
    region: &str,
    resources: &[String],
    tags: &[(String, String)],
) -> Result<Vec<String>> {
    let client = aws.ec2(region);
    let tag_list: Vec<aws_sdk_ec2::types::Tag> = tags
        .iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect();
    let mut failures = Vec::new();
    for batch in resources.chunks(100) {
        let res = client
            .create_tags()
            .set_resources(Some(batch.to_vec()))
            .set_tags(Some(tag_list.clone()))
            .send()
            .await;
        if res.is_ok() {
            continue;
        }
        for r in batch {
            if let Err(e) = client
                .create_tags()
                .resources(r)
                .set_tags(Some(tag_list.clone()))
                .send()
                .await
            {
                failures.push(format!(
                    "{region} {r}: {}",
                    super::describe(&e, aws.endpoint())
                ));
            }
        }
    }
    Ok(failures)
}

/// Images owned by this account named `name` in `region` (regional copies).
pub async fn images_named(aws: &Aws, region: &str, name: &str) -> Result<Vec<String>> {
    let out = aws
        .ec2(region)
        .describe_images()
        .owners("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values(name)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("looking for copies of {name} in {region}"),
                &e,
                aws.endpoint(),
            )
        })?;
    Ok(out
        .images()
        .iter()
        .filter_map(|i| i.image_id().map(str::to_string))
        .collect())
}

/// Outcome of one deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Deleted {
    /// Deleted now.
    Deleted,
    /// It was already gone (NotFound): counted as done.
    AlreadyGone,
    /// It failed; the message names AWS's error code.
    Failed {
        /// What AWS said.
        error: String,
    },
}

/// Deregister an image or delete a snapshot: one call, retried by the
/// SDK's own policy (`--max-attempts`, standard mode: throttling such as
/// `RequestLimitExceeded` backs off exponentially), and classified
/// here ([`already_done`] is done, anything else a failure naming AWS's code).
pub async fn delete_resource(aws: &Aws, region: &str, kind_image: bool, id: &str) -> Deleted {
    let client = aws.ec2(region);
    let ep = aws.endpoint();
    let result = if kind_image {
        let r = client.deregister_image().image_id(id).send().await;
        r.map(|_| ()).map_err(|e| code_and_message(&e, ep))
    } else {
        let r = client.delete_snapshot().snapshot_id(id).send().await;
        r.map(|_| ()).map_err(|e| code_and_message(&e, ep))
    };
    classify(result)
}

/// `(error code, message)` of a failed call.
fn code_and_message<E, R>(
    e: &aws_sdk_ec2::error::SdkError<E, R>,
    endpoint: Option<&str>,
) -> (String, String)
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    (
        error_code(e).unwrap_or_default().to_string(),
        super::describe(e, endpoint),
    )
}

/// What a deletion's result means for the plan.
pub fn classify(result: std::result::Result<(), (String, String)>) -> Deleted {
    match result {
        Ok(()) => Deleted::Deleted,
        Err((code, _)) if already_done(&code) => Deleted::AlreadyGone,
        Err((_, msg)) => Deleted::Failed { error: msg },
    }
}

/// Error codes that mean another run (or a person) deleted the resource
/// first: the end state is the plan's, so the deletion counts as done. EC2
/// answers `InvalidAMIID.Unavailable` for an image that is being or has just
/// been deregistered, and `.NotFound` once it is gone.
pub fn already_done(code: &str) -> bool {
    matches!(
        code,
        "InvalidAMIID.NotFound" | "InvalidAMIID.Unavailable" | "InvalidSnapshot.NotFound"
    )
}

/// Check with EC2's DryRun that we may deregister `image` and delete `snapshot`.
/// Returns the missing permissions (empty when allowed or when the endpoint does
/// not implement DryRun).
pub async fn dry_run_permissions(
    aws: &Aws,
    region: &str,
    image: Option<&str>,
    snapshot: Option<&str>,
) -> Vec<String> {
    let client = aws.ec2(region);
    let mut missing = Vec::new();
    if let Some(i) = image {
        if let Err(e) = client
            .deregister_image()
            .image_id(i)
            .dry_run(true)
            .send()
            .await
        {
            if error_code(&e) == Some("UnauthorizedOperation") {
                missing.push(format!("ec2:DeregisterImage in {region} ({i})"));
            }
        }
    }
    if let Some(s) = snapshot {
        if let Err(e) = client
            .delete_snapshot()
            .snapshot_id(s)
            .dry_run(true)
            .send()
            .await
        {
            if error_code(&e) == Some("UnauthorizedOperation") {
                missing.push(format!("ec2:DeleteSnapshot in {region} ({s})"));
            }
        }
    }
    missing
}

#[cfg(test)]
mod delete_tests {
    //! The SDK's retries against a loopback EC2 that throttles: a real
    //! client, real HTTP, a server that answers `RequestLimitExceeded` (no
    //! emulator produces throttling on demand).
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const OK_IMAGE: &str = r#"<DeregisterImageResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><return>true</return></DeregisterImageResponse>"#;

    fn error(code: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code><Message>{code} here</Message></Error></Errors><RequestID>r</RequestID></Response>"#
        )
    }

    /// Answers the `n`th request with `answers(n)`; returns its URL and the count.
    fn fake_ec2(answers: fn(usize) -> (u16, String)) -> (String, Arc<AtomicUsize>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://127.0.0.1:{}", l.local_addr().expect("addr").port());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                            })
                            .unwrap_or(0);
                        if rest.len() >= len {
                            break;
                        }
                    }
                }
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (status, body) = answers(n);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, seen)
    }

    fn delete(url: &str, max_attempts: u32) -> Deleted {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
            let aws = Aws::load(&super::super::AwsOptions {
                region: Some("us-east-1".into()),
                endpoint_url: Some(url.to_string()),
                max_attempts: Some(max_attempts),
                initial_backoff: Some(Duration::from_millis(5)),
                ..Default::default()
            })
            .await;
            delete_resource(&aws, "us-east-1", true, "ami-0123456789abcdef0").await
        })
    }

    #[test]
    fn throttling_is_retried_by_the_sdk_until_it_succeeds() {
        let (url, seen) = fake_ec2(|n| {
            if n < 2 {
                (503, error("RequestLimitExceeded"))
            } else {
                (200, OK_IMAGE.to_string())
            }
        });
        assert_eq!(delete(&url, 5), Deleted::Deleted);
        assert_eq!(
            seen.load(Ordering::SeqCst),
            3,
            "two throttled attempts, then one"
        );
    }

    #[test]
    fn persistent_throttling_stops_at_max_attempts_and_names_the_code() {
        let (url, seen) = fake_ec2(|_| (503, error("RequestLimitExceeded")));
        let got = delete(&url, 3);
        assert!(
            matches!(&got, Deleted::Failed { error } if error.contains("RequestLimitExceeded")),
            "{got:?}"
        );
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn gone_is_done_and_other_errors_fail_at_once() {
        let (url, seen) = fake_ec2(|_| (400, error("InvalidAMIID.Unavailable")));
        assert_eq!(delete(&url, 5), Deleted::AlreadyGone);
        assert_eq!(seen.load(Ordering::SeqCst), 1, "not retried");
        let (url, seen) = fake_ec2(|_| (400, error("InvalidAMIID.Malformed")));
        assert!(matches!(delete(&url, 5), Deleted::Failed { .. }));
        assert_eq!(seen.load(Ordering::SeqCst), 1, "not retried");
    }

    #[test]
    fn what_a_concurrent_deletion_leaves_counts_as_done() {
        for code in [
            "InvalidAMIID.NotFound",
            "InvalidAMIID.Unavailable",
            "InvalidSnapshot.NotFound",
        ] {
            assert_eq!(
                classify(Err((code.into(), "m".into()))),
                Deleted::AlreadyGone,
                "{code}"
            );
        }
        // other NotFound codes are not about the resource: a failure
        assert!(matches!(
            classify(Err(("InvalidRegion.NotFound".into(), "m".into()))),
            Deleted::Failed { .. }
        ));
    }
}
