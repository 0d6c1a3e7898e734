//! Faults no emulator produces on demand, against a loopback server: the
//! SDK's retries of a deletion that EC2 throttles (`RequestLimitExceeded`),
//! and how each outcome counts for the plan.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ami_builder::aws::ec2::{classify, delete_resource, Deleted};
use ami_builder::aws::{Aws, AwsOptions};

use crate::harness::{block_on, loopback_server};

const OK_IMAGE: &str = r#"<DeregisterImageResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><return>true</return></DeregisterImageResponse>"#;

fn error(code: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code><Message>{code} here</Message></Error></Errors><RequestID>r</RequestID></Response>"#
    )
}

/// Deregister an image at `url` with `max_attempts` (backoff shortened).
fn delete(url: &str, max_attempts: u32) -> Deleted {
    // in-process: the SDK reads its credentials from the environment
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    block_on(async {
        let aws = Aws::load(&AwsOptions {
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
