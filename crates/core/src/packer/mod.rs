//! Understanding what Packer printed, pure: the log model and artifact
//! extraction ([`log`]) and the manifest post-processor's file ([`manifest`]).
//! Running Packer is the process adapter's job (the `ami-builder` crate).

pub mod log;
pub mod manifest;

pub use log::{extract_bytes, extract_reader, Artifact, Extraction, Extractor};
