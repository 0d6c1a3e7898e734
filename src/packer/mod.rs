//! Everything about Packer: running it ([`runner`], the process adapter) and
//! understanding what it printed and what a template holds (`log`,
//! `manifest` and `template`, from the pure core crate, re-exported here).

pub use ami_builder_core::packer::{
    extract_bytes, extract_reader, log, manifest, template, Artifact, Extraction, Extractor,
};

pub mod runner;
