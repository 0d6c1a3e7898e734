//! The event step: the PutEvents entries for a build record, and sending
//! entries after checking the bus. `build`, `event send` and `prune --events`
//! run it.

use crate::artifacts::BuildRecord;
use crate::aws::{eventbridge, Aws};
use crate::cli::EventArgs;
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, Entry, EventFacts};
use crate::provenance::Provenance;

/// The entries for a build record: one per Packer build.
pub fn entries_for(
    record: &BuildRecord,
    prov: Option<&Provenance>,
    family: Option<&str>,
    status: crate::events::entry::AmiStatus,
    ev: &EventArgs,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for build in record.builds() {
        let primary = record.primary(build);
        let facts = EventFacts {
            status,
            primary: primary.map(|p| (p.region().clone(), p.ami_id().clone())),
            amis: record
                .artifacts
                .iter()
                .filter(|a| a.build() == build)
                .map(|a| (a.region().clone(), a.ami_id().clone()))
                .collect(),
            commit: prov.and_then(|p| p.commit.clone()),
            build_id: prov.map(|p| p.build_id.clone()),
            name: primary.and_then(|p| p.name.clone()),
            family: Some(family.unwrap_or(build).to_string()),
            ..EventFacts::default()
        };
        out.push(
            build_entry(
                &facts,
                &ev.event_source,
                &ev.event_detail_type,
                &ev.event_bus,
            )
            .map_err(Error::EventRejected)?,
        );
    }
    Ok(out)
}

/// Check the bus and publish; exit 7 on anything not accepted.
pub async fn send(aws: &Aws, region: &str, entries: Vec<Entry>) -> Result<Vec<String>> {
    let bus = entries
        .first()
        .map(|e| e.event_bus_name.clone())
        .unwrap_or_default();
    eventbridge::check_bus(aws, region, &bus).await?;
    eventbridge::put_events(aws, region, entries).await
}
