//! The AWS regions ami-builder accepts by name (pure data, no I/O).
//!
//! A region name that passes the syntax check but that AWS does not have
//! (`us-east-9`, `eu-west-10`) is almost always a typo, and with an endpoint
//! override it would not even fail: the tool would act in a region nobody
//! looks at. So names are checked against the regions AWS lists in its
//! documentation (commercial, GovCloud, China, the European Sovereign Cloud),
//! and a region AWS opens after this release is admitted by the caller's
//! `extra` list (the `AMI_BUILDER_EXTRA_REGIONS` environment variable).

use crate::ids::Region;

/// Regions as of this release (docs.aws.amazon.com, "Regions and Zones").
pub const KNOWN: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Check one region name given by the user: `Ok` with the name, or a
/// message that says what is wrong and what to do. `extra` are names the
/// user admits on top of [`KNOWN`].
pub fn check(name: &str, extra: &[&str]) -> Result<Region, String> {
    if name.is_empty() {
        return Err(
            "an empty region name (two commas in a row, or a comma at the end of the list?)".into(),
        );
    }
    if name.trim() != name {
        return Err(format!("the region `{name}` has spaces around it"));
    }
    if KNOWN.contains(&name) || extra.contains(&name) {
        // an admitted name must still look like one
        return Region::parse(name).map_err(|e| e.to_string());
    }
    let close: Vec<&str> = KNOWN.iter().copied().filter(|k| similar(k, name)).collect();
    let hint = if close.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", close.join(" or "))
    };
    Err(format!(
        "`{name}` is not an AWS region{hint}; if AWS opened it after this release, admit it with AMI_BUILDER_EXTRA_REGIONS={name}"
    ))
}

/// Same prefix up to the last dash and a one-character difference, or the
/// same letters without dashes: the typos people make in region names.
fn similar(known: &str, given: &str) -> bool {
    let strip = |s: &str| s.replace('-', "");
    if strip(known) == strip(given) {
        return true;
    }
    let (k, g) = (known.as_bytes(), given.as_bytes());
    k.len() == g.len() && k.iter().zip(g).filter(|(a, b)| a != b).count() == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_pass_and_typos_are_named() {
        assert_eq!(check("us-east-1", &[]).as_deref(), Ok("us-east-1"));
        assert!(check("us_east_1", &["us_east_1"])
            .unwrap_err()
            .contains("not a region name"));
        let e = check("us-east-9", &[]).unwrap_err();
        assert!(
            e.contains("not an AWS region") && e.contains("us-east-1"),
            "{e}"
        );
        assert!(check("useast1", &[])
            .unwrap_err()
            .contains("did you mean us-east-1"));
        assert!(check("", &[]).unwrap_err().contains("two commas"));
        assert!(check(" us-east-1", &[]).unwrap_err().contains("spaces"));
        assert!(check("x", &[])
            .unwrap_err()
            .contains("AMI_BUILDER_EXTRA_REGIONS=x"));
        assert_eq!(
            check("us-east-9", &["us-east-9"]).as_deref(),
            Ok("us-east-9")
        );
    }

    #[test]
    fn every_known_name_is_well_formed() {
        for r in KNOWN {
            assert!(crate::ids::Region::is_valid(r), "{r}");
        }
    }
}
