//! Everything about Packer: running it (`runner`, the process adapter) and
//! understanding what it printed (`log` and `manifest`, pure).

pub mod log;
pub mod manifest;
pub mod runner;

pub use log::{extract_bytes, extract_reader, Artifact, Extraction, Extractor};
