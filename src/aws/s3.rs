//! S3 adapter: upload the build's files and prune's reports for audit;
//! read the reports of several accounts back to merge them.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;

use super::{aws_error, Aws};
use crate::error::{Error, Result};

/// Split `s3://bucket/prefix/` into (bucket, prefix ending in `/` or empty).
/// The URL is read by the `url` crate (the WHATWG rules the AWS CLI's users
/// meet in browsers), then held to what an S3 location is: scheme `s3`, a
/// bucket, no user, port, query or fragment.
pub fn parse_url(text: &str) -> Result<(String, String)> {
    let bad =
        |why: &str| Error::Usage(format!("`{text}` is not an s3://bucket/prefix/ URL: {why}"));
    let u = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if u.scheme() != "s3" {
        return Err(bad(&format!("the scheme is {}, not s3", u.scheme())));
    }
    let bucket = u.host_str().unwrap_or_default();
    if bucket.is_empty() {
        return Err(Error::Usage(format!("`{text}` names no bucket")));
    }
    if !u.username().is_empty() || u.password().is_some() || u.port().is_some() {
        return Err(bad("it has a user or a port"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad("it has a ? or # part"));
    }
    let prefix = u.path().trim_start_matches('/');
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    Ok((bucket.to_string(), prefix))
}

/// Upload files under `s3://bucket/prefix/<file name>`; returns the object URLs.
pub async fn upload(aws: &Aws, url: &str, files: &[&Path]) -> Result<Vec<String>> {
    let (bucket, prefix) = parse_url(url)?;
    let client = aws.s3();
    let mut done = Vec::new();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = format!("{prefix}{name}");
        let body = ByteStream::from_path(f)
            .await
            .map_err(|e| Error::Other(format!("reading {} for upload: {e}", f.display())))?;
        client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("uploading {} to s3://{bucket}/{key}", f.display()),
                    &e,
                    aws.endpoint(),
                )
            })?;
        done.push(format!("s3://{bucket}/{key}"));
    }
    Ok(done)
}

/// The keys under `s3://bucket/prefix/` (every page).
pub async fn list(aws: &Aws, url: &str) -> Result<(String, Vec<String>)> {
    let (bucket, prefix) = parse_url(url)?;
    let mut pages = aws
        .s3()
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error(format!("listing {url}"), &e, aws.endpoint()))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    Ok((bucket, keys))
}

/// The text of one object, refused past `max_bytes` (whatever is in a
/// bucket is read as hostile: a report is never that large).
pub async fn get_text(aws: &Aws, bucket: &str, key: &str, max_bytes: usize) -> Result<String> {
    let out = aws
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| aws_error(format!("reading s3://{bucket}/{key}"), &e, aws.endpoint()))?;
    if out.content_length().is_some_and(|n| n > max_bytes as i64) {
        return Err(Error::Usage(format!(
            "s3://{bucket}/{key} is over {max_bytes} bytes: not a report ami-builder wrote"
        )));
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| Error::Other(format!("reading s3://{bucket}/{key}: {e}")))?
        .into_bytes();
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::Usage(format!("s3://{bucket}/{key} is not UTF-8 text")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("s3://b/p/q/").expect("ok"),
            ("b".into(), "p/q/".into())
        );
        assert_eq!(
            parse_url("s3://b/p").expect("ok"),
            ("b".into(), "p/".into())
        );
        assert_eq!(
            parse_url("s3://b").expect("ok"),
            ("b".into(), String::new())
        );
        assert_eq!(
            parse_url("s3://my.bucket-1/a/b").expect("ok"),
            ("my.bucket-1".into(), "a/b/".into())
        );
        assert_eq!(parse_url("https://b/p").unwrap_err().exit_code(), 2);
        for bad in [
            "s3:///p",
            "s3://",
            "b/p",
            "s3://b/p?versionId=1",
            "s3://b/p#x",
            "s3://u@b/p",
            "s3://b:9000/p",
        ] {
            let e = parse_url(bad).expect_err(bad);
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
