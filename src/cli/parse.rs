//! The value parsers and formatters of the command line: `K=V`, region
//! names, endpoint URLs, ages (`humantime`) and times (`--as-of`). Each
//! answers clap with the message the user sees.

use crate::ids::Region;

/// Parse `K=V` (the value may contain `=`; the key may not be empty).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// Check a region name ([`crate::regions::check`]), admitting the names in
/// `AMI_BUILDER_EXTRA_REGIONS` (comma-separated) for regions newer than
/// this release.
pub fn parse_region(s: &str) -> Result<Region, String> {
    let extra = std::env::var("AMI_BUILDER_EXTRA_REGIONS").unwrap_or_default();
    let extra: Vec<&str> = extra.split(',').map(str::trim).collect();
    crate::regions::check(s, &extra)
}

/// An endpoint URL as the SDK needs it: `http://` or `https://`, a host, no
/// query or fragment. The SDK itself would take `localhost:5000` as a URL
/// with the scheme `localhost` and fail at the first call with a dispatch
/// error; this says what to write instead, before any call.
pub fn parse_endpoint(s: &str) -> Result<String, String> {
    let fix = |why: &str| {
        format!("`{s}` is not an endpoint URL ({why}): write it with its scheme, e.g. http://127.0.0.1:5000 or https://ec2.us-east-1.amazonaws.com")
    };
    let u = url::Url::parse(s).map_err(|e| fix(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(fix("no http:// or https:// scheme"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(fix("no host"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(fix("it has a ? or # part"));
    }
    Ok(s.to_string())
}

/// An age as [`parse_age`] reads it: `30m`, `90s`, `2d`.
pub fn format_age(age: chrono::TimeDelta) -> String {
    let s = age.num_seconds().max(0);
    match s {
        0 => "0s".to_string(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Parse an age: whole numbers with units (`90m`, `24h`, `2d`, `1w`,
/// `1d 12h`).
pub fn parse_age(s: &str) -> Result<chrono::TimeDelta, String> {
    let bad = || format!("expected an age such as 90m, 24h, 2d or 1w, got `{s}`");
    // humantime reads `1w`, `2d 3h`, `90m`; a bare number has no unit and
    // is refused rather than guessed
    let d = humantime::parse_duration(s.trim()).map_err(|_| bad())?;
    chrono::TimeDelta::from_std(d).map_err(|_| bad())
}

/// `prune --unused-for`: an age of at least a day, since EC2 reports a
/// launch up to 24 hours late (its `LastLaunchedTime`): a shorter window
/// would call an image unused that was launched an hour ago.
pub fn parse_unused_for(s: &str) -> Result<chrono::TimeDelta, String> {
    let age = parse_age(s)?;
    if age < chrono::TimeDelta::days(1) {
        return Err(format!(
            "`{s}` is less than a day: EC2 reports a launch up to 24 hours late, so a shorter --unused-for would miss recent launches"
        ));
    }
    Ok(age)
}

/// A point in time as `--as-of` takes it: an RFC 3339 time
/// (`2027-01-10T09:00:00Z`), a date (`2027-01-10`, midnight UTC), or an
/// offset from `now` (`+40d`, `-12h`, `+1w 2d`).
pub fn parse_time(
    s: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let bad = |why: String| {
        format!("`{s}` is not a time: {why}; write 2027-01-10, 2027-01-10T09:00:00Z, +40d or -12h")
    };
    if let Some((sign, age)) = s
        .strip_prefix('+')
        .map(|a| (1, a))
        .or_else(|| s.strip_prefix('-').map(|a| (-1, a)))
    {
        let age = parse_age(age).map_err(bad)?;
        let t = if sign > 0 {
            now.checked_add_signed(age)
        } else {
            now.checked_sub_signed(age)
        };
        return t.ok_or_else(|| bad("out of range".into()));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| bad("out of range".into()));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| bad(e.to_string()))
}

/// `--share-with`: an account id, an organization ARN or an OU ARN
/// ([`crate::accounts::ShareTarget`]).
pub fn parse_share_target(s: &str) -> Result<crate::accounts::ShareTarget, String> {
    s.parse()
}

/// `--event-bus`: a name, or an event bus ARN checked as one
/// ([`crate::accounts::BusArn`]).
pub fn parse_event_bus(s: &str) -> Result<String, String> {
    crate::accounts::BusArn::parse(s)?;
    Ok(s.to_string())
}

/// `--copy-to ACCOUNT:REGION`: the region must be one AWS has.
pub fn parse_copy_target(s: &str) -> Result<crate::accounts::CopyTarget, String> {
    let t: crate::accounts::CopyTarget = s.parse()?;
    parse_region(&t.region).map(|_| t)
}

/// `--role-name`.
pub fn parse_role_name(s: &str) -> Result<String, String> {
    crate::accounts::check_role_name(s).map(|()| s.to_string())
}

/// `--ou`: an OU or root id.
pub fn parse_parent_id(s: &str) -> Result<String, String> {
    crate::accounts::check_parent_id(s).map(|()| s.to_string())
}
