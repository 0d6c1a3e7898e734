//! `ami-builder event render|send|test` (the event step itself is `steps::announce`).

use std::process::ExitCode;

use chrono::Utc;
use serde_json::Value;

use crate::cli::{EventCommand, EventRenderArgs, EventTestArgs, Global, OutputFormat};
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, Entry, EventFacts};
use crate::events::pattern::Pattern;
use crate::ids::Region;
use crate::steps::announce::send;
use crate::steps::parse_ami_ref;

fn render_entry(args: &EventRenderArgs, region: Option<&Region>) -> Result<Entry> {
    let mut facts = EventFacts {
        status: args.status,
        commit: args.commit.clone(),
        name: args.name.clone(),
        family: args.family.clone(),
        ..EventFacts::default()
    };
    for s in &args.amis {
        let (r, a) = parse_ami_ref(s, region)?;
        facts.add(r, a);
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
            // an array of entries: what `aws events put-events --entries
            // file://...` reads, and the shape of the build's event file
            let e = render_entry(&args, global.region.as_ref())?;
            print_json(&serde_json::to_value([e]).map_err(|e| Error::Other(e.to_string()))?)?;
            Ok(ExitCode::SUCCESS)
        }
        EventCommand::Send(args) => {
            let aws = super::load_aws(global).await?;
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
    let events = crate::events::entry::as_envelopes(&event, Utc::now()).map_err(Error::Usage)?;
    let results: Vec<_> = events.iter().map(|e| pattern.explain(e)).collect();
    let matched = results.iter().all(std::result::Result::is_ok);
    match format {
        OutputFormat::Json if events.len() == 1 => print_json(&serde_json::json!({
            "match": matched,
            "reason": results[0].as_ref().err().map(ToString::to_string),
        }))?,
        OutputFormat::Json => print_json(&serde_json::json!({
            "match": matched,
            "events": results.iter().map(|r| serde_json::json!({
                "match": r.is_ok(),
                "reason": r.as_ref().err().map(ToString::to_string),
            })).collect::<Vec<_>>(),
        }))?,
        OutputFormat::Text => {
            let mut text = String::new();
            for (i, r) in results.iter().enumerate() {
                if events.len() > 1 {
                    text.push_str(&format!("event {} of {}: ", i + 1, events.len()));
                }
                match r {
                    Ok(()) => text.push_str("match\n"),
                    Err(m) => text.push_str(&format!("no match: {m}\n")),
                }
            }
            crate::output::print(&text)?;
        }
    }
    // every event must match: a rule that misses one build's event misses
    // that build
    Ok(if matched {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
