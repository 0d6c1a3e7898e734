//! S3 adapter: upload the build's files for audit.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;

use super::{aws_error, Aws};
use crate::error::{Error, Result};

/// Split `s3://bucket/prefix/` into (bucket, prefix ending in `/` or empty).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| Error::Usage(format!("`{url}` is not an s3://bucket/prefix/ URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::Usage(format!("`{url}` names no bucket")));
    }
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
        assert_eq!(parse_url("https://b/p").unwrap_err().exit_code(), 2);
        assert!(parse_url("s3:///p").is_err());
    }
}
