//! `ami-builder event render|send|test`, and the event step of `build`.

use std::process::ExitCode;

use chrono::Utc;
use serde_json::Value;

use super::tag::parse_ami_ref;
use crate::artifacts::BuildRecord;
use crate::aws::{eventbridge, Aws};
use crate::cli::{EventArgs, EventCommand, EventRenderArgs, EventTestArgs, Global, OutputFormat};
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, Entry, EventFacts};
use crate::events::pattern::Pattern;
use crate::provenance::Provenance;

/// The entries for a build record: one per Packer build.
pub fn entries_for(
    record: &BuildRecord,
    prov: Option<&Provenance>,
    family: Option<&str>,
    status: &str,
    ev: &EventArgs,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for build in record.builds() {
        let primary = record.primary(build);
        let facts = EventFacts {
            status: status.to_string(),
            primary: primary.map(|p| (p.region.clone(), p.ami_id.clone())),
            amis: record
                .artifacts
                .iter()
                .filter(|a| a.build == build)
                .map(|a| (a.region.clone(), a.ami_id.clone()))
                .collect(),
            commit: prov.and_then(|p| p.commit.clone()),
            build_id: prov.map(|p| p.build_id.clone()),
            name: primary.and_then(|p| p.name.clone()),
            family: Some(family.unwrap_or(build).to_string()),
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

fn render_entry(args: &EventRenderArgs, region: Option<&str>) -> Result<Entry> {
    let mut facts = EventFacts {
        status: args.status.clone(),
        commit: args.commit.clone(),
        name: args.name.clone(),
        family: args.family.clone(),
        ..EventFacts::default()
    };
    for s in &args.amis {
        let (r, a) = parse_ami_ref(s, region)?;
        if facts.primary.is_none() {
            facts.primary = Some((r.clone(), a.clone()));
        }
        facts.amis.insert(r, a);
    }
    build_entry(
        &facts,
        &args.event.event_source,
        &args.event.event_detail_type,
        &args.event.event_bus,
    )
    .map_err(Error::Usage)
}

/// Run `event ...`.
pub async fn run(global: &Global, cmd: EventCommand) -> Result<ExitCode> {
    match cmd {
        EventCommand::Render(args) => {
            let e = render_entry(&args, global.region.as_deref())?;
            print_json(&serde_json::to_value(&e).map_err(|e| Error::Other(e.to_string()))?)?;
            Ok(ExitCode::SUCCESS)
        }
        EventCommand::Send(args) => {
            let aws = super::load_aws(global).await;
            let region = aws.require_region("event send")?;
            let e = render_entry(&args, Some(&region))?;
            let ids = send(&aws, &region, vec![e]).await?;
            match global.output {
                OutputFormat::Json => print_json(&serde_json::json!({"event_ids": ids}))?,
                OutputFormat::Text => crate::output::print(&format!(
                    "sent event {} to bus {} in {region}",
                    ids.join(","),
                    args.event.event_bus
                ))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        EventCommand::Test(args) => test(&args, global.output),
    }
}

fn print_json(v: &Value) -> Result<()> {
    crate::output::print(&serde_json::to_string_pretty(v).map_err(|e| Error::Other(e.to_string()))?)
}

/// Read FILE or inline JSON text.
pub fn json_arg(what: &str, s: &str) -> Result<String> {
    let t = s.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        return Ok(s.to_string());
    }
    std::fs::read_to_string(s).map_err(|e| Error::Usage(format!("cannot read the {what} {s}: {e}")))
}

fn test(args: &EventTestArgs, format: OutputFormat) -> Result<ExitCode> {
    let pattern_text = json_arg("pattern", &args.pattern)?;
    let event_text = json_arg("event", &args.event)?;
    let pattern = Pattern::parse_str(&pattern_text)
        .map_err(|e| Error::Usage(format!("invalid event pattern: {e}")))?;
    let event: Value = serde_json::from_str(&event_text)
        .map_err(|e| Error::Usage(format!("the event is not JSON: {e}")))?;
    let envelope = crate::events::entry::as_envelope(&event, Utc::now()).map_err(Error::Usage)?;
    let result = pattern.explain(&envelope);
    match format {
        OutputFormat::Json => print_json(&serde_json::json!({
            "match": result.is_ok(),
            "reason": result.as_ref().err().map(ToString::to_string),
        }))?,
        OutputFormat::Text => match &result {
            Ok(()) => crate::output::print("match")?,
            Err(m) => crate::output::print(&format!("no match: {m}"))?,
        },
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
