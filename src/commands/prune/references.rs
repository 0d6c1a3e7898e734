//! What one `DescribeImageReferences` answer (see [`crate::aws::references`])
//! means for the plan: the uses it found, a failure as
//! [`UsedBy::Unknown`] for each image it was about (kept: nothing is
//! deleted on partial information), or that the action cannot be used in
//! the region at all.

use std::sync::Arc;

use crate::aws::references::Answer;
use crate::retention::{Usage, UsedBy};

/// The uses `answer` gives for `ids` in `region`, and why the action cannot
/// be used there, when that is the answer.
pub(super) fn uses(
    region: &Arc<str>,
    ids: &[Arc<str>],
    answer: Answer,
) -> (Vec<Usage>, Option<String>) {
    match answer {
        Answer::Found(uses) => (uses, None),
        Answer::Unavailable(why) => (Vec::new(), Some(why)),
        Answer::Failed(why) => (
            ids.iter()
                .map(|id| Usage {
                    region: region.to_string(),
                    image_id: id.to_string(),
                    by: UsedBy::Unknown {
                        source: "DescribeImageReferences".into(),
                        error: why.clone(),
                    },
                })
                .collect(),
            None,
        ),
    }
}
