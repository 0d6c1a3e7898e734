//! Other accounts (pure): who a build's images are shared with, where they
//! are copied to, and which event bus in which account hears of them.
//!
//! Owns: [`ShareTarget`] (`--share-with`), [`CopyTarget`]
//! (`--copy-to ACCOUNT:REGION`), [`BusArn`] (`--event-bus` as an ARN), the
//! launch permissions and snapshot permissions a set of targets needs
//! ([`Grants`]). Each value is checked where it enters, against the formats
//! AWS documents, so that a typo is a usage error before the build rather
//! than an `InvalidParameterValue` after it, and so that nothing here can
//! make an image public: there is no target for `all`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, Region};
use crate::retention::Sharing;

/// An ARN's partition: the three AWS has for EC2 and Organizations.
const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

/// One `--share-with`: an account, a whole organization, or an
/// organizational unit (and the OUs below it). EC2's
/// `LaunchPermission` has exactly these three (`UserId`, `OrganizationArn`,
/// `OrganizationalUnitArn`; EC2 API reference, "LaunchPermission").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ShareTarget {
    Account(AccountId),
    /// `arn:aws:organizations::<management account>:organization/o-...`
    Organization(String),
    /// `arn:aws:organizations::<management account>:ou/o-.../ou-...`
    OrganizationalUnit(String),
}

impl ShareTarget {
    /// The account, when the target is one.
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            ShareTarget::Account(a) => Some(a),
            _ => None,
        }
    }

    /// The target in words, for messages.
    pub fn describe(&self) -> String {
        match self {
            ShareTarget::Account(a) => format!("account {a}"),
            ShareTarget::Organization(o) => format!("organization {o}"),
            ShareTarget::OrganizationalUnit(o) => format!("organizational unit {o}"),
        }
    }
}

impl fmt::Display for ShareTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShareTarget::Account(a) => f.write_str(a),
            ShareTarget::Organization(o) | ShareTarget::OrganizationalUnit(o) => f.write_str(o),
        }
    }
}

impl From<ShareTarget> for String {
    fn from(t: ShareTarget) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for ShareTarget {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// `o-` then 10 to 32 lowercase letters or digits (Organizations API
/// reference, "Organization": Id pattern `^o-[a-z0-9]{10,32}$`).
fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// `ou-` then 4 to 32 and, after a `-`, 8 to 32 lowercase letters or
/// digits (Organizations API reference, "OrganizationalUnit": Id pattern
/// `^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`).
fn is_ou_id(s: &str) -> bool {
    let alnum = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    s.strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(root, ou)| {
            (4..=32).contains(&root.len())
                && (8..=32).contains(&ou.len())
                && alnum(root)
                && alnum(ou)
        })
}

/// `--ou`: an OU id (`ou-...`) or the root's (`r-` and 4 to 32 lowercase
/// letters or digits: Organizations API reference, "Root"), whose accounts
/// and OUs below are listed.
pub fn check_parent_id(s: &str) -> Result<(), String> {
    let root = s.strip_prefix("r-").is_some_and(|r| {
        (4..=32).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if is_ou_id(s) || root {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an OU id (ou-ab12-cdefgh34) or a root id (r-ab12): `aws organizations list-organizational-units-for-parent` lists them"
        ))
    }
}

const SHARE_FORMS: &str = "an account id (123456789012), an organization ARN (arn:aws:organizations::123456789012:organization/o-exampleorgid) or an organizational unit ARN (arn:aws:organizations::123456789012:ou/o-exampleorgid/ou-examplerootid111-exampleouid111)";

impl FromStr for ShareTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(a) = AccountId::parse(s) {
            return Ok(ShareTarget::Account(a));
        }
        if s.eq_ignore_ascii_case("all") || s.eq_ignore_ascii_case("public") {
            return Err(format!(
                "`{s}`: ami-builder never makes an image public; share it with {SHARE_FORMS}"
            ));
        }
        if is_org_id(s) || is_ou_id(s) {
            return Err(format!(
                "`{s}` is an id, and EC2 takes the ARN: `aws organizations describe-organization --query Organization.Arn` (or `describe-organizational-unit`) prints it"
            ));
        }
        let bad = || format!("`{s}` is not {SHARE_FORMS}");
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(bad());
        };
        if *arn != "arn"
            || !PARTITIONS.contains(partition)
            || *service != "organizations"
            || !region.is_empty()
            || !AccountId::is_valid(account)
        {
            return Err(bad());
        }
        match resource.split('/').collect::<Vec<_>>().as_slice() {
            ["organization", org] if is_org_id(org) => Ok(ShareTarget::Organization(s.into())),
            ["ou", org, ou] if is_org_id(org) && is_ou_id(ou) => {
                Ok(ShareTarget::OrganizationalUnit(s.into()))
            }
            _ => Err(bad()),
        }
    }
}

/// One `--copy-to ACCOUNT:REGION`: an account-owned copy in that account
/// and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CopyTarget {
    pub account: AccountId,
    pub region: Region,
}

impl FromStr for CopyTarget {
    type Err = String;

    /// Syntax only; whether the region is one AWS has is the command line's
    /// question ([`crate::regions`]).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not ACCOUNT:REGION (e.g. 123456789012:eu-west-1)");
        let (account, region) = s.split_once(':').ok_or_else(bad)?;
        Ok(CopyTarget {
            account: AccountId::parse(account).map_err(|e| format!("{}: {e}", bad()))?,
            region: Region::parse(region).map_err(|e| format!("{}: {e}", bad()))?,
        })
    }
}

impl fmt::Display for CopyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.account, self.region)
    }
}

/// The partition of a region's ARNs (`aws-cn` for China, `aws-us-gov`
/// for GovCloud, else `aws`).
pub fn partition(region: &Region) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `--role-name`: an IAM role name, with an optional path before it
/// (`ami-builder-copy`, `platform/ami-builder-copy`). IAM API reference,
/// "Role": RoleName `[\w+=,.@-]+`, 1-64 characters; a path's parts take
/// the same characters.
pub fn check_role_name(name: &str) -> Result<(), String> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    };
    let ok = match name.rsplit_once('/') {
        Some((path, role)) => role.len() <= 64 && part_ok(role) && path.split('/').all(part_ok),
        None => name.len() <= 64 && part_ok(name),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an IAM role name (letters, digits and _+=,.@-, at most 64, after an optional path such as platform/): name the role that ami-builder assumes in each account, e.g. ami-builder-copy"
        ))
    }
}

/// The ARN of the role `name` in `account`, in the partition of `region`.
pub fn role_arn(account: &AccountId, name: &str, region: &Region) -> String {
    format!("arn:{}:iam::{account}:role/{name}", partition(region))
}

/// An event bus named by its ARN,
/// `arn:aws:events:<region>:<account>:event-bus/<name>` (EventBridge API
/// reference, "PutEventsRequestEntry": EventBusName is "the name or ARN of
/// the event bus"; a bus in another account must be named by its ARN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusArn {
    pub arn: String,
    pub region: Region,
    pub account: AccountId,
    pub name: String,
}

impl BusArn {
    /// `None` when `bus` is a name, not an ARN; an error when it is an ARN
    /// but not an event bus's.
    pub fn parse(bus: &str) -> Result<Option<BusArn>, String> {
        if !bus.starts_with("arn:") {
            return Ok(None);
        }
        let bad = |why: &str| {
            format!("`{bus}` is not an event bus ARN ({why}; e.g. arn:aws:events:eu-west-1:123456789012:event-bus/central)")
        };
        let parts: Vec<&str> = bus.splitn(6, ':').collect();
        let [_, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(bad("too few fields"));
        };
        if !PARTITIONS.contains(partition) || *service != "events" {
            return Err(bad("not an EventBridge ARN"));
        }
        let region = Region::parse(region).map_err(|e| bad(&e.to_string()))?;
        let account = AccountId::parse(account).map_err(|e| bad(&e.to_string()))?;
        let name = resource
            .strip_prefix("event-bus/")
            .ok_or_else(|| bad("the resource is not event-bus/NAME"))?;
        // EventBridge API reference, "EventBus": Name `[/\.\-_A-Za-z0-9]+`, 1-256
        let ok = !name.is_empty()
            && name.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/.-_".contains(&b));
        if !ok {
            return Err(bad(
                "the bus name has characters EventBridge does not allow",
            ));
        }
        Ok(Some(BusArn {
            arn: bus.to_string(),
            region,
            account,
            name: name.to_string(),
        }))
    }
}

/// What sharing a build with `targets` grants on each of its images.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grants {
    /// Launch permissions (never public).
    pub launch: Sharing,
    /// Accounts given `createVolumePermission` on each image's snapshots:
    /// those that copy the image (`--copy-to`: "To copy an AMI that was
    /// shared with you from another account, the owner of the source AMI
    /// must grant you read permissions for the storage that backs the AMI",
    /// EC2 User Guide, "Copy an AMI"), and with `--share-snapshots` every
    /// account of `--share-with`. Launching needs none: EC2 gives an
    /// instance launched from a shared image access to its snapshots.
    pub snapshots: Vec<AccountId>,
    /// Everyone who may launch the images, as targets (for the KMS key
    /// check: [`crate::key_policy`]).
    pub consumers: Vec<ShareTarget>,
}

impl Grants {
    /// Nothing to grant.
    pub fn is_empty(&self) -> bool {
        !self.launch.is_shared() && self.snapshots.is_empty()
    }
}

/// The grants for `--share-with`, `--share-snapshots` and the accounts of
/// `--copy-to` (each account a copy goes to must be able to launch and read
/// the image it copies from). Snapshots can be shared only with accounts
/// (`CreateVolumePermission` has `UserId` and `Group`, no organization):
/// asking `--share-snapshots` of an organization or OU is an error, not a
/// grant quietly narrower than asked.
pub fn grants(
    share_with: &[ShareTarget],
    share_snapshots: bool,
    copy_to: &[CopyTarget],
) -> Result<Grants, String> {
    let mut accounts = BTreeSet::new();
    let mut orgs = BTreeSet::new();
    let mut ous = BTreeSet::new();
    let mut snapshots = BTreeSet::new();
    for t in share_with {
        match t {
            ShareTarget::Account(a) => {
                accounts.insert(a.to_string());
                if share_snapshots {
                    snapshots.insert(a.clone());
                }
            }
            ShareTarget::Organization(o) => {
                orgs.insert(o.clone());
            }
            ShareTarget::OrganizationalUnit(o) => {
                ous.insert(o.clone());
            }
        }
    }
    if share_snapshots {
        let groups: Vec<String> = share_with
            .iter()
            .filter(|t| t.account().is_none())
            .map(ToString::to_string)
            .collect();
        if !groups.is_empty() {
            return Err(format!(
                "--share-snapshots: EC2 shares snapshots with accounts only (CreateVolumePermission has no organization or OU), not with {}; name the accounts that copy the image with --share-with ACCOUNT, or let them launch it without copying",
                groups.join(", ")
            ));
        }
    }
    let mut consumers: BTreeSet<ShareTarget> = share_with.iter().cloned().collect();
    for c in copy_to {
        accounts.insert(c.account.to_string());
        snapshots.insert(c.account.clone());
        consumers.insert(ShareTarget::Account(c.account.clone()));
    }
    Ok(Grants {
        launch: Sharing {
            public: false,
            accounts: accounts.into_iter().collect(),
            organizations: orgs.into_iter().collect(),
            organizational_units: ous.into_iter().collect(),
        },
        snapshots: snapshots.into_iter().collect(),
        consumers: consumers.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "arn:aws:organizations::123456789012:organization/o-exampleorgid";
    const OU: &str =
        "arn:aws:organizations::123456789012:ou/o-exampleorgid/ou-examplerootid111-exampleouid111";

    #[test]
    fn the_three_forms_ec2_takes_parse() {
        assert_eq!(
            "111122223333".parse::<ShareTarget>(),
            Ok(ShareTarget::Account(
                AccountId::parse("111122223333").unwrap()
            ))
        );
        assert_eq!(
            ORG.parse::<ShareTarget>(),
            Ok(ShareTarget::Organization(ORG.into()))
        );
        assert_eq!(
            OU.parse::<ShareTarget>(),
            Ok(ShareTarget::OrganizationalUnit(OU.into()))
        );
        let gov = "arn:aws-us-gov:organizations::123456789012:organization/o-exampleorgid";
        assert!(gov.parse::<ShareTarget>().is_ok());
    }

    #[test]
    fn anything_else_is_refused_with_the_forms() {
        for bad in [
            "",
            "all",
            "ALL",
            "public",
            "11112222333",
            "1111222233334",
            "arn:aws:organizations::123456789012:organization/o-short",
            "arn:aws:organizations:us-east-1:123456789012:organization/o-exampleorgid",
            "arn:aws:iam::123456789012:root",
            "arn:aws:organizations::123456789012:ou/o-exampleorgid/ou-x-exampleouid111",
            "arn:aws:organizations::123456789012:ou/o-exampleorgid",
            "arn:aws:organizations::123456789012:organization/o-exampleorgid/extra",
            "arn:aws:organizations::12345678901x:organization/o-exampleorgid",
            "arn:aws:organizations::123456789012:organization/o-ExampleOrgId",
        ] {
            let e = bad.parse::<ShareTarget>().expect_err(bad);
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
        let e = "all".parse::<ShareTarget>().unwrap_err();
        assert!(e.contains("never makes an image public"), "{e}");
        let e = "o-exampleorgid".parse::<ShareTarget>().unwrap_err();
        assert!(e.contains("describe-organization"), "{e}");
        let e = "ou-examplerootid111-exampleouid111"
            .parse::<ShareTarget>()
            .unwrap_err();
        assert!(e.contains("takes the ARN"), "{e}");
    }

    #[test]
    fn a_target_round_trips_through_json() {
        for s in ["111122223333", ORG, OU] {
            let t: ShareTarget = s.parse().unwrap();
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<ShareTarget>(&json).unwrap(), t);
        }
        assert!(serde_json::from_str::<ShareTarget>("\"all\"").is_err());
    }

    #[test]
    fn ou_and_root_ids() {
        assert_eq!(check_parent_id("ou-ab12-cdefgh34"), Ok(()));
        assert_eq!(check_parent_id("r-ab12"), Ok(()));
        for bad in [
            "",
            "ou-ab12",
            "r-",
            "o-exampleorgid",
            "ou-AB12-cdefgh34",
            OU,
        ] {
            assert!(check_parent_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn copy_targets_are_account_and_region() {
        let t: CopyTarget = "222233334444:eu-west-1".parse().unwrap();
        assert_eq!(t.account, "222233334444");
        assert_eq!(t.region, "eu-west-1");
        assert_eq!(t.to_string(), "222233334444:eu-west-1");
        for bad in [
            "222233334444",
            "eu-west-1:222233334444",
            "2222:eu-west-1",
            ":",
            "222233334444:",
        ] {
            let e = bad.parse::<CopyTarget>().expect_err(bad);
            assert!(e.contains("ACCOUNT:REGION"), "{e}");
        }
    }

    #[test]
    fn bus_arns_name_region_account_and_bus() {
        assert_eq!(BusArn::parse("default"), Ok(None));
        assert_eq!(BusArn::parse("central-bus"), Ok(None));
        let b = BusArn::parse("arn:aws:events:eu-west-1:333344445555:event-bus/central")
            .unwrap()
            .unwrap();
        assert_eq!(
            (b.region.as_str(), b.account.as_str(), b.name.as_str()),
            ("eu-west-1", "333344445555", "central")
        );
        for bad in [
            "arn:aws:events:eu-west-1:333344445555:rule/central",
            "arn:aws:sns:eu-west-1:333344445555:event-bus/central",
            "arn:aws:events:nowhere:333344445555:event-bus/central",
            "arn:aws:events:eu-west-1:3333:event-bus/central",
            "arn:aws:events:eu-west-1:333344445555:event-bus/",
            "arn:aws:events:eu-west-1:333344445555:event-bus/a b",
            "arn:aws:events:eu-west-1",
        ] {
            let e = BusArn::parse(bad).expect_err(bad);
            assert!(e.contains("event-bus/central"), "{e}");
        }
    }

    #[test]
    fn grants_cover_the_copying_accounts_and_never_the_public() {
        let t = |s: &str| s.parse::<ShareTarget>().unwrap();
        let copy: CopyTarget = "444455556666:eu-west-1".parse().unwrap();
        let g = grants(
            &[t("111122223333"), t(ORG), t(OU), t("111122223333")],
            false,
            std::slice::from_ref(&copy),
        )
        .unwrap();
        assert!(!g.launch.public);
        assert_eq!(g.launch.accounts, ["111122223333", "444455556666"]);
        assert_eq!(g.launch.organizations, [ORG]);
        assert_eq!(g.launch.organizational_units, [OU]);
        // only the account that copies reads the snapshots
        assert_eq!(g.snapshots, [AccountId::parse("444455556666").unwrap()]);
        assert_eq!(
            g.consumers,
            [t("111122223333"), t("444455556666"), t(ORG), t(OU)],
            "every consumer once, for the key check"
        );

        let g = grants(&[t("111122223333")], true, &[]).unwrap();
        assert_eq!(g.snapshots, [AccountId::parse("111122223333").unwrap()]);
        assert!(grants(&[], false, &[]).unwrap().is_empty());
    }

    #[test]
    fn roles_are_named_in_the_account_and_partition_of_the_copy() {
        let acct = AccountId::parse("222233334444").unwrap();
        let r = |s: &str| Region::parse(s).unwrap();
        assert_eq!(
            role_arn(&acct, "ami-builder-copy", &r("eu-west-1")),
            "arn:aws:iam::222233334444:role/ami-builder-copy"
        );
        assert_eq!(
            role_arn(&acct, "platform/copy", &r("cn-north-1")),
            "arn:aws-cn:iam::222233334444:role/platform/copy"
        );
        assert!(role_arn(&acct, "x", &r("us-gov-west-1")).starts_with("arn:aws-us-gov:"));
        for ok in [
            "ami-builder-copy",
            "a+b=c,d.e@f_g",
            "platform/copy",
            &"r".repeat(64),
        ] {
            assert_eq!(check_role_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "arn:aws:iam::1:role/x",
            "/x",
            "x/",
            &"r".repeat(65),
            "r\u{e9}le",
        ] {
            let e = check_role_name(bad).expect_err(bad);
            assert!(e.contains("not an IAM role name"), "{e}");
        }
    }

    #[test]
    fn snapshots_are_not_shared_with_an_organization() {
        let e = grants(&[ORG.parse().unwrap()], true, &[]).unwrap_err();
        assert!(e.contains("accounts only") && e.contains(ORG), "{e}");
    }
}
