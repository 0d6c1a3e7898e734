//! Understanding what Packer printed, pure: the log model and artifact
//! extraction ([`log`]), the manifest post-processor's file ([`manifest`]),
//! and the build names a template has, for `--only` ([`template`]).
//! Running Packer is the process adapter's job (the `ami-builder` crate).

pub mod log;
pub mod manifest;
pub mod template;

pub use log::{extract_bytes, extract_reader, Artifact, Extraction, Extractor};
