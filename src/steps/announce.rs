//! The event step: the PutEvents entries for a build record, and sending
//! entries after checking the bus. `build`, `event send` and `prune --events`
//! run it.

use crate::artifacts::BuildRecord;
use crate::aws::{eventbridge, Aws};
use crate::cli::EventArgs;
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, Entry, EventFacts, EventImage, MAX_ENTRIES};
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
            images: record
                .artifacts
                .iter()
                .chain(&record.copies)
                .filter(|a| a.build() == build)
                .filter_map(|a| {
                    Some(EventImage {
                        account: a.account.clone()?,
                        region: a.region().clone(),
                        ami: a.ami_id().clone(),
                    })
                })
                .collect(),
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

/// The entry announcing one image's new status (`prune`'s lifecycle events,
/// `prune undo`'s `Restored`): the region and id as listed or read back
/// from a report, checked again here.
pub fn image_entry(
    region: &str,
    id: &str,
    status: crate::events::entry::AmiStatus,
    ev: &EventArgs,
    account: Option<&crate::ids::AccountId>,
) -> Result<Entry> {
    let (region, ami) = match (
        crate::ids::Region::parse(region),
        crate::ids::AmiId::parse(id),
    ) {
        (Ok(r), Ok(i)) => (r, i),
        (Err(e), _) | (_, Err(e)) => return Err(Error::Other(format!("the event: {e}"))),
    };
    let mut facts = EventFacts {
        status,
        ..EventFacts::default()
    };
    if let Some(a) = account {
        facts.images.push(EventImage {
            account: a.clone(),
            region: region.clone(),
            ami: ami.clone(),
        });
    }
    facts.add(region, ami);
    build_entry(
        &facts,
        &ev.event_source,
        &ev.event_detail_type,
        &ev.event_bus,
    )
    .map_err(Error::EventRejected)
}

/// Check each bus once and publish, [`MAX_ENTRIES`] entries a `PutEvents`
/// call; exit 7 on anything not accepted. The event ids in entry order.
///
/// A bus named by its ARN is sent to in the ARN's region. A bus in another
/// account (the central bus of an organization) is not described first:
/// `DescribeEventBus` there needs a permission that the bus policy
/// admitting `PutEvents` does not give, and EventBridge's answer for each
/// entry still says whether that bus took it.
pub async fn send(aws: &Aws, region: &str, entries: Vec<Entry>) -> Result<Vec<String>> {
    let mut call_region: Option<String> = None;
    let mut foreign = Vec::new();
    let mut own: Option<crate::ids::AccountId> = None;
    for e in &entries {
        let arn = crate::accounts::BusArn::parse(&e.event_bus_name).map_err(Error::Usage)?;
        let r = arn
            .as_ref()
            .map_or_else(|| region.to_string(), |a| a.region.to_string());
        if call_region.get_or_insert_with(|| r.clone()) != &r {
            return Err(Error::Usage(format!(
                "the events go to buses in two regions ({} and {r}): send them separately",
                call_region.unwrap_or_default()
            )));
        }
        if let Some(a) = arn {
            if own.is_none() {
                own = Some(aws.account_id(&r).await?);
            }
            if own.as_ref() != Some(&a.account) {
                foreign.push(e.event_bus_name.clone());
            }
        }
    }
    let region = call_region.unwrap_or_else(|| region.to_string());
    let region = region.as_str();
    send_with(
        entries,
        |bus| {
            let skip = foreign.contains(&bus);
            async move {
                if skip {
                    tracing::info!(%bus, "a bus in another account: its answer to PutEvents is the check");
                    return Ok(());
                }
                eventbridge::check_bus(aws, region, &bus).await
            }
        },
        |chunk| eventbridge::put_events(aws, region, chunk),
    )
    .await
}

/// [`send`] over any checker and publisher (tests count the calls). The
/// bus is checked once per bus, not once per `PutEvents` call: a prune that
/// deregisters a thousand images sends a hundred calls to one bus.
async fn send_with<C, CF, P, PF>(entries: Vec<Entry>, check: C, mut put: P) -> Result<Vec<String>>
where
    C: Fn(String) -> CF,
    CF: std::future::Future<Output = Result<()>>,
    P: FnMut(Vec<Entry>) -> PF,
    PF: std::future::Future<Output = Result<Vec<String>>>,
{
    let mut checked: Vec<String> = Vec::new();
    for e in &entries {
        if !checked.contains(&e.event_bus_name) {
            check(e.event_bus_name.clone()).await?;
            checked.push(e.event_bus_name.clone());
        }
    }
    if entries.is_empty() {
        // PutEvents refuses no entries, with the message it has for that
        return put(entries).await;
    }
    let mut ids = Vec::with_capacity(entries.len());
    for chunk in entries.chunks(MAX_ENTRIES) {
        ids.extend(put(chunk.to_vec()).await?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn entry(bus: &str, n: usize) -> Entry {
        Entry {
            source: "com.ami.builder".into(),
            detail_type: "AmiBuilder".into(),
            detail: format!("{{\"n\":{n}}}"),
            resources: Vec::new(),
            event_bus_name: bus.into(),
        }
    }

    #[test]
    fn each_bus_is_checked_once_and_entries_go_ten_a_call() {
        let entries: Vec<Entry> = (0..25)
            .map(|n| entry(if n == 24 { "other" } else { "default" }, n))
            .collect();
        let checks = RefCell::new(Vec::new());
        let puts = RefCell::new(Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        let ids = rt
            .block_on(send_with(
                entries,
                |bus| {
                    checks.borrow_mut().push(bus);
                    async { Ok(()) }
                },
                |chunk: Vec<Entry>| {
                    puts.borrow_mut().push(chunk.len());
                    let ids = chunk.iter().map(|e| e.detail.clone()).collect();
                    async move { Ok(ids) }
                },
            ))
            .expect("sent");
        assert_eq!(*checks.borrow(), ["default", "other"]);
        assert_eq!(*puts.borrow(), [10, 10, 5]);
        assert_eq!(ids.len(), 25);
        assert_eq!(ids[24], "{\"n\":24}", "in entry order");
    }
}
