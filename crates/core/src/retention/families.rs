//! Which families a listing has, so that `prune --family NAME` naming none
//! of them is said out loud: a typo in the filter would otherwise plan
//! nothing, silently, and a pipeline would "prune" for months without
//! deleting an image.

use std::collections::BTreeSet;

use super::plan::{Inventory, PlanRules};
use crate::ids::Region;

/// The `--family` names that no image in `inv` carries, and the families
/// that do exist (sorted); `None` when every named family exists or no
/// filter was given.
pub fn missing_families(inv: &Inventory, rules: &PlanRules) -> Option<(Vec<String>, Vec<String>)> {
    if rules.families.is_empty() {
        return None;
    }
    let present: BTreeSet<&str> = inv
        .images
        .iter()
        .filter_map(|i| i.tags.get(&rules.family_tag))
        .map(String::as_str)
        .filter(|f| !f.is_empty())
        .collect();
    let missing: Vec<String> = rules
        .families
        .iter()
        .filter(|f| !present.contains(f.as_str()))
        .cloned()
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some((missing, present.into_iter().map(str::to_string).collect()))
}

/// The warning for [`missing_families`]' answer.
pub fn missing_families_warning(
    missing: &[String],
    present: &[String],
    regions: &[Region],
) -> String {
    let have = if present.is_empty() {
        "no image there has a family tag".to_string()
    } else {
        format!("the families there are {}", present.join(", "))
    };
    format!(
        "--family {}: no image in {} has it ({have}); nothing of it is planned",
        missing.join(","),
        regions
            .iter()
            .map(Region::as_str)
            .collect::<Vec<_>>()
            .join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::plan::{Image, Sharing};
    use std::collections::BTreeMap;

    fn img(family: Option<&str>) -> Image {
        let mut tags = BTreeMap::new();
        if let Some(f) = family {
            tags.insert(crate::tags::FAMILY.to_string(), f.to_string());
        }
        Image {
            region: "us-east-1".into(),
            id: "ami-1".into(),
            name: String::new(),
            owner_id: String::new(),
            creation_date: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            tags,
            snapshot_ids: vec![],
            deregistration_protection: false,
            deregistration_protection_until: None,
            last_launched: None,
            deprecation_time: None,
            disabled: false,
            sharing: Sharing::default(),
        }
    }

    #[test]
    fn a_family_no_image_has_is_named_with_those_that_exist() {
        let inv = Inventory {
            images: vec![img(Some("web")), img(Some("app")), img(None), img(Some(""))],
            ..Inventory::default()
        };
        let rules = |f: &[&str]| PlanRules {
            families: f.iter().map(|s| s.to_string()).collect(),
            ..PlanRules::default()
        };
        assert_eq!(missing_families(&inv, &rules(&[])), None);
        assert_eq!(missing_families(&inv, &rules(&["web"])), None);
        let (missing, present) = missing_families(&inv, &rules(&["web", "wbe"])).expect("missing");
        assert_eq!(missing, ["wbe"]);
        assert_eq!(present, ["app", "web"]);
        let w = missing_families_warning(&missing, &present, &["us-east-1".into()]);
        assert_eq!(
            w,
            "--family wbe: no image in us-east-1 has it (the families there are app, web); nothing of it is planned"
        );
        let none = missing_families_warning(&["x".into()], &[], &["eu-west-1".into()]);
        assert!(none.contains("no image there has a family tag"), "{none}");
    }
}
