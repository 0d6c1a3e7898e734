//! The AmiBuilder event (pure): the PutEvents entry `build` and `event send`
//! publish, its limits, and the envelope EventBridge wraps it in.
//!
//! Compatible with the AWS "AMI Builder" sample: `source` com.ami.builder,
//! `detail-type` AmiBuilder, `detail.AmiStatus`. No I/O, clock or environment:
//! the caller passes the time and ids.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ids::{AccountId, AmiId, Region};

/// Default `source`.
pub const DEFAULT_SOURCE: &str = "com.ami.builder";
/// Default `detail-type`.
pub const DEFAULT_DETAIL_TYPE: &str = "AmiBuilder";
/// PutEvents accepts at most this many entries per call.
pub const MAX_ENTRIES: usize = 10;
/// PutEvents request size limit (bytes, as AWS computes entry sizes).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// The event's `detail.AmiStatus`: what happened to the image (DESIGN.md's
/// list; `build` sends `Created`, `prune --events` `Deregistered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AmiStatus {
    #[default]
    Created,
    Promoted,
    RolledBack,
    Revoked,
    Deprecated,
    Disabled,
    Deregistered,
    Restored,
}

impl AmiStatus {
    pub const ALL: [AmiStatus; 8] = [
        AmiStatus::Created,
        AmiStatus::Promoted,
        AmiStatus::RolledBack,
        AmiStatus::Revoked,
        AmiStatus::Deprecated,
        AmiStatus::Disabled,
        AmiStatus::Deregistered,
        AmiStatus::Restored,
    ];

    /// The value as it appears in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            AmiStatus::Created => "Created",
            AmiStatus::Promoted => "Promoted",
            AmiStatus::RolledBack => "RolledBack",
            AmiStatus::Revoked => "Revoked",
            AmiStatus::Deprecated => "Deprecated",
            AmiStatus::Disabled => "Disabled",
            AmiStatus::Deregistered => "Deregistered",
            AmiStatus::Restored => "Restored",
        }
    }
}

impl AmiStatus {
    /// The `State` EC2's own `EC2 AMI State Change` event gives for the
    /// same change (EC2 User Guide, "AMI events": available, failed,
    /// deregistered, disabled), so that one rule can match both. A
    /// deprecation has no EC2 state: the image stays `available`, and
    /// saying so would match rules meant for new images.
    pub fn ec2_state(self) -> Option<&'static str> {
        match self {
            AmiStatus::Deregistered => Some("deregistered"),
            AmiStatus::Disabled => Some("disabled"),
            AmiStatus::Restored => Some("available"),
            _ => None,
        }
    }

    /// Whether the event is about one image (the lifecycle events): its
    /// detail then carries EC2's `ImageId` too.
    fn per_image(self) -> bool {
        matches!(
            self,
            AmiStatus::Deprecated
                | AmiStatus::Disabled
                | AmiStatus::Deregistered
                | AmiStatus::Restored
        )
    }
}

impl std::fmt::Display for AmiStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AmiStatus {
    type Err = String;

    /// Exactly as written in events (rules match case-sensitively, so a
    /// `created` would announce what no rule sees).
    fn from_str(s: &str) -> Result<Self, String> {
        AmiStatus::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = AmiStatus::ALL.iter().map(|a| a.as_str()).collect();
                format!("`{s}` is not an AmiStatus: one of {}", all.join(", "))
            })
    }
}

/// What the event says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFacts {
    pub status: AmiStatus,
    /// The build-region AMI as `(region, id)`.
    pub primary: Option<(Region, AmiId)>,
    /// Every AMI: region -> id.
    pub amis: BTreeMap<Region, AmiId>,
    /// Commit SHA.
    pub commit: Option<String>,
    pub build_id: Option<String>,
    pub name: Option<String>,
    pub family: Option<String>,
    /// `Promoted`, `RolledBack`: the channel, and what it pointed at before
    /// (region -> id).
    pub channel: Option<String>,
    pub previous: BTreeMap<Region, AmiId>,
    /// The launch-template versions a promotion made default:
    /// (region, template id, version).
    pub launch_templates: Vec<(Region, String, i64)>,
    /// `Revoked`: why.
    pub reason: Option<String>,
    /// Every image with the account that owns it, copies in other
    /// accounts included (`Amis` has one image per region, the build
    /// account's; a consumer in another account needs to know whose image
    /// it launches).
    pub images: Vec<EventImage>,
}

/// One image of [`EventFacts::images`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventImage {
    pub account: AccountId,
    pub region: Region,
    pub ami: AmiId,
}

impl EventFacts {
    /// Add one AMI; the first added is the primary unless one was set.
    pub fn add(&mut self, region: Region, ami: AmiId) {
        if self.primary.is_none() {
            self.primary = Some((region.clone(), ami.clone()));
        }
        self.amis.insert(region, ami);
    }
}

/// One PutEvents request entry, serialised with the API's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `Source`.
    #[serde(rename = "Source")]
    pub source: String,
    /// `DetailType`.
    #[serde(rename = "DetailType")]
    pub detail_type: String,
    /// `Detail`: a JSON object, as text.
    #[serde(rename = "Detail")]
    pub detail: String,
    /// `Resources`: the AMI ids.
    #[serde(rename = "Resources")]
    pub resources: Vec<String>,
    /// `EventBusName`.
    #[serde(rename = "EventBusName")]
    pub event_bus_name: String,
}

/// Build the detail object.
pub fn detail(f: &EventFacts) -> Value {
    let mut d = serde_json::Map::new();
    d.insert("AmiStatus".into(), json!(f.status.as_str()));
    if let Some((_, id)) = &f.primary {
        d.insert("AmiId".into(), json!(id));
    }
    d.insert("Amis".into(), json!(f.amis));
    if f.status.per_image() {
        if let Some((_, id)) = &f.primary {
            d.insert("ImageId".into(), json!(id));
        }
        if let Some(state) = f.status.ec2_state() {
            d.insert("State".into(), json!(state));
        }
    }
    for (k, v) in [
        ("Commit", &f.commit),
        ("BuildId", &f.build_id),
        ("Name", &f.name),
        ("Family", &f.family),
    ] {
        if let Some(v) = v {
            d.insert(k.into(), json!(v));
        }
    }
    if let Some(c) = &f.channel {
        d.insert("Channel".into(), json!(c));
    }
    if !f.previous.is_empty() {
        d.insert("PreviousAmis".into(), json!(f.previous));
    }
    if !f.launch_templates.is_empty() {
        let lts: Vec<Value> = f
            .launch_templates
            .iter()
            .map(|(r, id, v)| json!({"Region": r, "LaunchTemplateId": id, "Version": v}))
            .collect();
        d.insert("LaunchTemplates".into(), Value::Array(lts));
    }
    if let Some(r) = &f.reason {
        d.insert("Reason".into(), json!(r));
    }
    if !f.images.is_empty() {
        // the owner of `AmiId`, when it is listed
        let owner = f.primary.as_ref().and_then(|(region, id)| {
            f.images
                .iter()
                .find(|i| &i.region == region && &i.ami == id)
        });
        if let Some(o) = owner {
            d.insert("Account".into(), json!(o.account));
        }
        let images: Vec<Value> = f
            .images
            .iter()
            .map(|i| json!({"Account": i.account, "Region": i.region, "ImageId": i.ami}))
            .collect();
        d.insert("Images".into(), Value::Array(images));
    }
    Value::Object(d)
}

/// Build the entry, enforcing PutEvents' limits before anything is sent.
pub fn build_entry(
    f: &EventFacts,
    source: &str,
    detail_type: &str,
    bus: &str,
) -> Result<Entry, String> {
    if source.is_empty() || detail_type.is_empty() || bus.is_empty() {
        return Err("the event source, detail-type and bus must not be empty".into());
    }
    let mut resources: Vec<String> = Vec::new();
    if let Some((_, id)) = &f.primary {
        resources.push(id.to_string());
    }
    for id in f.amis.values() {
        if !resources.iter().any(|r| id == r) {
            resources.push(id.to_string());
        }
    }
    let entry = Entry {
        source: source.to_string(),
        detail_type: detail_type.to_string(),
        detail: detail(f).to_string(),
        resources,
        event_bus_name: bus.to_string(),
    };
    check_limits(std::slice::from_ref(&entry))?;
    Ok(entry)
}

/// The size AWS counts for an entry (UTF-8 bytes of Source, DetailType, Detail
/// and each resource; `Time` would add 14).
pub fn entry_size(e: &Entry) -> usize {
    e.source.len()
        + e.detail_type.len()
        + e.detail.len()
        + e.resources.iter().map(String::len).sum::<usize>()
}

/// Check PutEvents' limits: 1..=10 entries, total under 256 KiB, detail a JSON object.
pub fn check_limits(entries: &[Entry]) -> Result<(), String> {
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(format!(
            "PutEvents takes 1 to {MAX_ENTRIES} entries, not {}",
            entries.len()
        ));
    }
    let total: usize = entries.iter().map(entry_size).sum();
    if total > MAX_REQUEST_BYTES {
        return Err(format!("the events are {total} bytes; PutEvents accepts at most 256 KiB ({MAX_REQUEST_BYTES} bytes)"));
    }
    for e in entries {
        match serde_json::from_str::<Value>(&e.detail) {
            Ok(Value::Object(_)) => {}
            _ => return Err("the event detail must be a JSON object".into()),
        }
    }
    Ok(())
}

/// The event as EventBridge delivers it to rules and targets.
pub fn envelope(e: &Entry, id: &str, account: &str, region: &str, time: DateTime<Utc>) -> Value {
    let detail: Value = serde_json::from_str(&e.detail).unwrap_or(Value::Null);
    json!({
        "version": "0",
        "id": id,
        "detail-type": e.detail_type,
        "source": e.source,
        "account": account,
        "time": time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": e.resources,
        "detail": detail,
    })
}

/// Accept either a full envelope or a PutEvents entry (`Source`/`DetailType`/`Detail`)
/// and return the envelope EventBridge would deliver.
pub fn as_envelope(v: &Value, time: DateTime<Utc>) -> Result<Value, String> {
    if v.get("source").is_some() || v.get("detail-type").is_some() {
        return Ok(v.clone());
    }
    let obj = v.as_object().ok_or("the event must be a JSON object")?;
    if !obj.contains_key("Source") && !obj.contains_key("DetailType") {
        return Err("the event is neither an envelope (source, detail-type) nor a PutEvents entry (Source, DetailType, Detail)".into());
    }
    let detail = match obj.get("Detail") {
        Some(Value::String(s)) => {
            serde_json::from_str::<Value>(s).map_err(|e| format!("Detail is not JSON: {e}"))?
        }
        Some(other) => other.clone(),
        None => json!({}),
    };
    let entry = Entry {
        source: obj
            .get("Source")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        detail_type: obj
            .get("DetailType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        detail: detail.to_string(),
        resources: obj
            .get("Resources")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        event_bus_name: obj
            .get("EventBusName")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string(),
    };
    Ok(envelope(
        &entry,
        "00000000-0000-0000-0000-000000000000",
        "123456789012",
        "us-east-1",
        time,
    ))
}

/// Every event a document holds, as EventBridge would deliver each: one
/// envelope or entry ([`as_envelope`]), an array of them (what `event
/// render` writes, the build's `ami_builder_event.json`, the file `aws events
/// put-events --entries file://...` reads), or a PutEvents request
/// (`{"Entries": [...]}`, what `--cli-input-json` reads).
pub fn as_envelopes(v: &Value, time: DateTime<Utc>) -> Result<Vec<Value>, String> {
    let list = match v {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("Entries") {
            Some(Value::Array(a)) => a,
            Some(_) => return Err("`Entries` must be an array of PutEvents entries".into()),
            None => return as_envelope(v, time).map(|e| vec![e]),
        },
        _ => return Err("the event must be a JSON object or an array of them".into()),
    };
    if list.is_empty() {
        return Err("the document holds no event (an empty array)".into());
    }
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            as_envelope(e, time).map_err(|m| format!("event {} of {}: {m}", i + 1, list.len()))
        })
        .collect()
}

/// PutEvents error codes worth retrying (the rest are permanent).
pub fn is_retryable(code: &str) -> bool {
    matches!(
        code,
        "InternalFailure" | "ThrottlingException" | "InternalException"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> EventFacts {
        let mut f = EventFacts {
            status: AmiStatus::Created,
            commit: Some("abc".into()),
            build_id: Some("b".into()),
            name: Some("n".into()),
            family: Some("f".into()),
            ..EventFacts::default()
        };
        for (r, a) in [("us-east-1", "ami-11111111"), ("us-west-2", "ami-22222222")] {
            f.add(
                Region::parse(r).expect("valid"),
                AmiId::parse(a).expect("valid"),
            );
        }
        f
    }

    #[test]
    fn entry_is_compatible_with_the_sample() {
        let e =
            build_entry(&facts(), DEFAULT_SOURCE, DEFAULT_DETAIL_TYPE, "default").expect("entry");
        assert_eq!(e.source, "com.ami.builder");
        assert_eq!(e.detail_type, "AmiBuilder");
        assert_eq!(e.resources, vec!["ami-11111111", "ami-22222222"]);
        let d: Value = serde_json::from_str(&e.detail).expect("json");
        assert_eq!(
            d,
            json!({"AmiStatus": "Created", "AmiId": "ami-11111111",
                   "Amis": {"us-east-1": "ami-11111111", "us-west-2": "ami-22222222"},
                   "Commit": "abc", "BuildId": "b", "Name": "n", "Family": "f"})
        );
        let v = serde_json::to_value(&e).expect("ser");
        assert!(v.get("DetailType").is_some() && v.get("EventBusName").is_some());
    }

    #[test]
    fn each_image_names_its_account_and_the_owner_of_ami_id_is_the_account() {
        let mut f = facts();
        let acct = |a: &str| AccountId::parse(a).expect("valid");
        let img = |a: &str, r: &str, id: &str| EventImage {
            account: acct(a),
            region: Region::parse(r).expect("valid"),
            ami: AmiId::parse(id).expect("valid"),
        };
        f.images = vec![
            img("111122223333", "us-east-1", "ami-11111111"),
            img("111122223333", "us-west-2", "ami-22222222"),
            img("444455556666", "us-east-1", "ami-33333333"),
        ];
        let d = detail(&f);
        assert_eq!(d["Account"], "111122223333");
        assert_eq!(
            d["Images"],
            json!([
                {"Account": "111122223333", "Region": "us-east-1", "ImageId": "ami-11111111"},
                {"Account": "111122223333", "Region": "us-west-2", "ImageId": "ami-22222222"},
                {"Account": "444455556666", "Region": "us-east-1", "ImageId": "ami-33333333"}
            ])
        );
        // the sample's fields are unchanged beside them
        assert_eq!(d["Amis"]["us-east-1"], "ami-11111111");
        assert!(detail(&facts()).get("Images").is_none());
    }

    #[test]
    fn limits_are_enforced() {
        let mut f = facts();
        f.name = Some("x".repeat(300 * 1024));
        assert!(
            build_entry(&f, DEFAULT_SOURCE, DEFAULT_DETAIL_TYPE, "default")
                .unwrap_err()
                .contains("256")
        );
        let e =
            build_entry(&facts(), DEFAULT_SOURCE, DEFAULT_DETAIL_TYPE, "default").expect("entry");
        assert!(check_limits(&vec![e.clone(); 11]).is_err());
        let mut bad = e;
        bad.detail = "[1]".into();
        assert!(check_limits(&[bad]).unwrap_err().contains("JSON object"));
    }

    #[test]
    fn entry_becomes_an_envelope() {
        let e =
            build_entry(&facts(), DEFAULT_SOURCE, DEFAULT_DETAIL_TYPE, "default").expect("entry");
        let v = serde_json::to_value(&e).expect("ser");
        let env = as_envelope(&v, DateTime::<Utc>::UNIX_EPOCH).expect("envelope");
        assert_eq!(env["source"], "com.ami.builder");
        assert_eq!(env["detail-type"], "AmiBuilder");
        assert_eq!(env["detail"]["AmiStatus"], "Created");
        assert_eq!(
            as_envelope(&env, DateTime::<Utc>::UNIX_EPOCH).expect("same"),
            env
        );
        assert!(as_envelope(&json!({"foo": 1}), DateTime::<Utc>::UNIX_EPOCH).is_err());
    }

    #[test]
    fn a_document_may_hold_one_event_an_array_or_a_request() {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        let e =
            build_entry(&facts(), DEFAULT_SOURCE, DEFAULT_DETAIL_TYPE, "default").expect("entry");
        let entry = serde_json::to_value(&e).expect("json");
        let one = as_envelopes(&entry, t).expect("one entry");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0]["source"], DEFAULT_SOURCE);
        let two = as_envelopes(&json!([entry.clone(), one[0].clone()]), t).expect("array");
        assert_eq!(two.len(), 2);
        assert_eq!(two[0], two[1], "an entry and its envelope deliver alike");
        let request = as_envelopes(&json!({"Entries": [entry.clone()]}), t).expect("request");
        assert_eq!(request, one);
        for (bad, says) in [
            (json!([]), "no event"),
            (json!([entry, {"foo": 1}]), "event 2 of 2"),
            (json!({"Entries": {}}), "must be an array"),
            (json!("text"), "JSON object or an array"),
        ] {
            let err = as_envelopes(&bad, t).expect_err(says);
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn ami_status_round_trips_and_refuses_near_misses() {
        for a in AmiStatus::ALL {
            assert_eq!(a.as_str().parse::<AmiStatus>(), Ok(a));
        }
        let e = "created".parse::<AmiStatus>().unwrap_err();
        assert!(
            e.contains("`created` is not an AmiStatus") && e.contains("RolledBack"),
            "{e}"
        );
        assert!("".parse::<AmiStatus>().is_err());
    }

    #[test]
    fn lifecycle_events_carry_ec2s_image_id_and_state() {
        let id = |s: &str| AmiId::parse(s).expect("id");
        let region = |s: &str| Region::parse(s).expect("region");
        for (status, state) in [
            (AmiStatus::Deregistered, Some("deregistered")),
            (AmiStatus::Disabled, Some("disabled")),
            (AmiStatus::Restored, Some("available")),
            (AmiStatus::Deprecated, None),
        ] {
            let mut f = EventFacts {
                status,
                ..EventFacts::default()
            };
            f.add(region("us-east-1"), id("ami-0123456789abcdef0"));
            let d = detail(&f);
            assert_eq!(d["ImageId"], "ami-0123456789abcdef0", "{status}");
            assert_eq!(d.get("State").and_then(Value::as_str), state, "{status}");
        }
        let mut created = EventFacts::default();
        created.add(region("us-east-1"), id("ami-0123456789abcdef0"));
        let d = detail(&created);
        assert!(
            d.get("ImageId").is_none() && d.get("State").is_none(),
            "{d}"
        );
    }
}
