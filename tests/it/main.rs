//! The one integration-test binary: drives the real `ami-builder` executable
//! against a moto server it starts itself (see `harness`) and real Packer.

mod accounts;
mod adversarial;
mod build;
mod check;
mod cli;
mod extract;
mod faults;
mod harness;
mod help;
mod lifecycle;
mod notify;
mod org_prune;
mod promote;
mod prune;
mod schemas;
