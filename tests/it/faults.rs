//! Faults no emulator produces on demand, against a loopback server: the
//! SDK's retries of a deletion that EC2 throttles (`RequestLimitExceeded`),
//! how each outcome counts for the plan, answers whose ids are not ids, and
//! a `DescribeImageReferences` that is denied or fails.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ami_builder::aws::ec2::{classify, delete_resource, Deleted};
use ami_builder::aws::references::{self, Answer};
use ami_builder::aws::{Aws, AwsOptions};

use crate::harness::{ami_builder, block_on, loopback_server};

const OK_IMAGE: &str = r#"<DeregisterImageResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><return>true</return></DeregisterImageResponse>"#;

fn error(code: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code><Message>{code} here</Message></Error></Errors><RequestID>r</RequestID></Response>"#
    )
}

/// The configuration of an in-process run against `url`: `max_attempts`,
/// the first backoff shortened.
async fn aws_at(url: &str, max_attempts: u32) -> Aws {
    // in-process: the SDK reads its credentials from the environment
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    Aws::load(&AwsOptions {
        region: "us-east-1".parse().ok(),
        endpoint_url: Some(url.to_string()),
        max_attempts: Some(max_attempts),
        initial_backoff: Some(Duration::from_millis(5)),
        ..Default::default()
    })
    .await
}

/// Deregister an image at `url` with `max_attempts` (backoff shortened).
fn delete(url: &str, max_attempts: u32) -> Deleted {
    block_on(async {
        let aws = aws_at(url, max_attempts).await;
        delete_resource(&aws, "us-east-1", true, "ami-0123456789abcdef0").await
    })
}

#[test]
fn throttling_is_retried_by_the_sdk_until_it_succeeds() {
    let (url, seen) = loopback_server(None, |n| {
        if n < 2 {
            (503, "text/xml", error("RequestLimitExceeded"))
        } else {
            (200, "text/xml", OK_IMAGE.to_string())
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
    let (url, seen) = loopback_server(None, |_| (503, "text/xml", error("RequestLimitExceeded")));
    let got = delete(&url, 3);
    assert!(
        matches!(&got, Deleted::Failed { error } if error.contains("RequestLimitExceeded")),
        "{got:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[test]
fn deletions_against_a_throttling_bucket_are_paced_to_it_and_none_fails() {
    // EC2's throttling scaled down: a bucket of 2 tokens refilled 20 a
    // second, RequestLimitExceeded when empty. 12 deletions, 4 at a time,
    // 5 attempts each (the default) with a 5 ms first backoff: retries by
    // backoff alone come back before the bucket has refilled and fail; the
    // adaptive mode's rate limiter (a partition per API) paces them to the
    // bucket.
    let bucket = std::sync::Mutex::new((2.0_f64, std::time::Instant::now()));
    let (url, seen) = loopback_server(None, move |_| {
        let mut b = bucket.lock().expect("lock");
        let now = std::time::Instant::now();
        b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * 20.0).min(2.0);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            (200, "text/xml", OK_IMAGE.to_string())
        } else {
            (503, "text/xml", error("RequestLimitExceeded"))
        }
    });
    let got = block_on(async {
        let aws = aws_at(&url, 5).await;
        let lane = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (aws, lane) = (aws.clone(), std::sync::Arc::clone(&lane));
            set.spawn(async move {
                let _place = lane.acquire_owned().await;
                delete_resource(&aws, "us-east-1", true, "ami-0123456789abcdef0").await
            });
        }
        let mut got = Vec::new();
        while let Some(d) = set.join_next().await {
            got.push(d.expect("task"));
        }
        got
    });
    let failed: Vec<_> = got.iter().filter(|d| **d != Deleted::Deleted).collect();
    assert!(
        failed.is_empty(),
        "{} of 12 failed: {failed:?}",
        failed.len()
    );
    assert!(seen.load(Ordering::SeqCst) >= 12);
}

#[test]
fn gone_is_done_and_other_errors_fail_at_once() {
    let (url, seen) = loopback_server(None, |_| {
        (400, "text/xml", error("InvalidAMIID.Unavailable"))
    });
    assert_eq!(delete(&url, 5), Deleted::AlreadyGone);
    assert_eq!(seen.load(Ordering::SeqCst), 1, "not retried");
    let (url, seen) = loopback_server(None, |_| (400, "text/xml", error("InvalidAMIID.Malformed")));
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

const CALLER: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::ACCOUNT:user/t</Arn><UserId>AIDAT</UserId><Account>ACCOUNT</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#;

fn images_answer(image_id: &str, snapshot_id: &str) -> String {
    format!(
        r#"<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><imagesSet><item><imageId>{image_id}</imageId><imageState>available</imageState><imageOwnerId>123456789012</imageOwnerId><creationDate>2024-01-01T00:00:00.000Z</creationDate><name>n</name><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>{snapshot_id}</snapshotId></ebs></item></blockDeviceMapping></item></imagesSet></DescribeImagesResponse>"#
    )
}

/// `prune` (a plan) against an endpoint whose first answer is
/// GetCallerIdentity with `account` and whose next is `images`.
fn plan_against(account: &'static str, images: String) -> (Option<i32>, String) {
    let (url, _) = loopback_server(None, move |n| {
        if n == 0 {
            (200, "text/xml", CALLER.replace("ACCOUNT", account))
        } else {
            (200, "text/xml", images.clone())
        }
    });
    let out = ami_builder(&url)
        .args(["prune", "--in-region", "us-east-1", "--max-attempts", "1"])
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn an_ec2_answer_with_an_id_that_is_not_one_plans_nothing() {
    for (image, snapshot, bad) in [
        ("ami-12345678;rm", "snap-12345678", "ami-12345678;rm"),
        ("ami-12345678", "vol-12345678", "vol-12345678"),
    ] {
        let (code, err) = plan_against("123456789012", images_answer(image, snapshot));
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("malformed id") && err.contains(bad), "{err}");
        assert!(!err.contains("DELETE") && !err.contains("delete "), "{err}");
    }
}

#[test]
fn an_account_id_that_is_not_one_is_refused() {
    let (code, err) = plan_against("12345", images_answer("ami-12345678", "snap-12345678"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("`12345` is not an account id"), "{err}");
}

/// Ask a loopback EC2 about one image's references.
fn references_at(url: &str) -> Answer {
    block_on(async {
        let aws = aws_at(url, 2).await;
        references::ask(
            &aws,
            "us-east-1",
            &[std::sync::Arc::from("ami-0123456789abcdef0")],
        )
        .await
    })
}

#[test]
fn a_denied_reference_question_is_unavailable_and_a_failed_one_is_not_an_answer() {
    let (url, _) = loopback_server(None, |_| (403, "text/xml", error("UnauthorizedOperation")));
    let got = references_at(&url);
    assert!(
        matches!(&got, Answer::Unavailable(why) if why.contains("UnauthorizedOperation")),
        "{got:?}"
    );
    let (url, seen) = loopback_server(None, |_| (500, "text/xml", error("InternalError")));
    let got = references_at(&url);
    assert!(
        matches!(&got, Answer::Failed(why) if why.contains("InternalError")),
        "{got:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2, "retried as the SDK does");
    // an answer naming a launch template is a use of the image
    let body = r#"<DescribeImageReferencesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><imageReferenceSet><item><imageId>ami-0123456789abcdef0</imageId><resourceType>ec2:LaunchTemplate</resourceType><arn>arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0123456789abcdef0</arn></item></imageReferenceSet></DescribeImageReferencesResponse>"#;
    let (url, _) = loopback_server(None, move |_| (200, "text/xml", body.to_string()));
    let got = references_at(&url);
    let Answer::Found(uses) = got else {
        panic!("{got:?}")
    };
    assert_eq!(uses.len(), 1);
    assert_eq!(
        uses[0].by.to_string(),
        "ec2:LaunchTemplate arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0123456789abcdef0"
    );
}

#[test]
fn a_resource_gone_since_it_was_listed_has_no_sharing_to_read() {
    let read = |code: &'static str, image: bool| {
        let (url, _) = loopback_server(None, move |_| (400, "text/xml", error(code)));
        block_on(async {
            let aws = aws_at(&url, 1).await;
            if image {
                ami_builder::aws::inventory::image_sharing(
                    &aws,
                    "us-east-1",
                    "ami-0123456789abcdef0",
                )
                .await
            } else {
                ami_builder::aws::inventory::snapshot_sharing(
                    &aws,
                    "us-east-1",
                    "snap-0123456789abcdef0",
                )
                .await
            }
        })
    };
    assert!(matches!(read("InvalidAMIID.NotFound", true), Ok(None)));
    assert!(matches!(read("InvalidSnapshot.NotFound", false), Ok(None)));
    // any other error still ends the planning
    assert!(read("UnauthorizedOperation", true).is_err());
}
