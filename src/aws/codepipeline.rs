//! CodePipeline adapter: the artifact revisions of a pipeline execution.

use super::{aws_error, Aws};
use crate::error::Result;

/// `artifactRevisions[].revisionId` of an execution (commit SHAs for Git sources).
pub async fn execution_revisions(
    aws: &Aws,
    pipeline: &str,
    execution_id: &str,
) -> Result<Vec<String>> {
    let client = aws.codepipeline();
    let out = client
        .get_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("GetPipelineExecution {pipeline} {execution_id}"),
                &e,
                aws.endpoint(),
            )
        })?;
    Ok(out
        .pipeline_execution()
        .map(|p| {
            p.artifact_revisions()
                .iter()
                .filter_map(|r| r.revision_id().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}
