//! Which images the fleet launches: launch-template versions resolved
//! (`$Default`, `$Latest`, a number) and Auto Scaling groups mapped to the
//! images they launch, over plain facts the EC2 and Auto Scaling adapters
//! fill in. Pure: no SDK types, no calls.

use std::collections::{BTreeMap, HashMap};

/// A launch template and the image of each of its versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub default_version: i64,
    pub latest_version: i64,
    pub images: BTreeMap<i64, String>,
}

/// A group's reference to a launch template: by id or name, at a version
/// (`$Default` when none is given, `$Latest`, or a number).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}

/// What an Auto Scaling group launches from: a launch configuration, and
/// launch templates (its own, its mixed-instances policy's and overrides').
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub launch_configuration: Option<String>,
    pub templates: Vec<TemplateRef>,
}

/// The image `spec` launches, if the template and the version exist. An
/// unknown template or version, or a garbled version, is `None`: the
/// template's versions protect their images anyway.
pub fn template_image<'t>(templates: &'t [Template], spec: &TemplateRef) -> Option<&'t str> {
    let t = templates.iter().find(|t| {
        spec.id.as_deref() == Some(t.id.as_str()) || spec.name.as_deref() == Some(t.name.as_str())
    })?;
    let version = match spec.version.as_deref().unwrap_or("$Default") {
        "$Default" => t.default_version,
        "$Latest" => t.latest_version,
        n => n.parse().ok()?,
    };
    t.images.get(&version).map(String::as_str)
}

/// The images a group launches (sorted, each once), through its launch
/// configuration (`configurations`: name -> image) and its templates.
pub fn group_images<'a>(
    group: &Group,
    templates: &'a [Template],
    configurations: &'a HashMap<String, String>,
) -> Vec<&'a str> {
    let mut images: Vec<&str> = Vec::new();
    if let Some(img) = group
        .launch_configuration
        .as_ref()
        .and_then(|lc| configurations.get(lc))
    {
        images.push(img);
    }
    images.extend(
        group
            .templates
            .iter()
            .filter_map(|spec| template_image(templates, spec)),
    );
    images.sort_unstable();
    images.dedup();
    images
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(id: &str, name: &str, default: i64, latest: i64) -> Template {
        Template {
            id: id.into(),
            name: name.into(),
            default_version: default,
            latest_version: latest,
            images: (1..=latest).map(|v| (v, format!("ami-{id}-{v}"))).collect(),
        }
    }

    fn spec(id: Option<&str>, name: Option<&str>, version: Option<&str>) -> TemplateRef {
        TemplateRef {
            id: id.map(str::to_string),
            name: name.map(str::to_string),
            version: version.map(str::to_string),
        }
    }

    #[test]
    fn a_group_launches_the_version_its_specification_names() {
        let all = [template("lt-a", "web", 2, 3), template("lt-b", "db", 1, 1)];
        let image = |s| template_image(&all, &s);
        // no version is $Default
        assert_eq!(image(spec(Some("lt-a"), None, None)), Some("ami-lt-a-2"));
        assert_eq!(
            image(spec(Some("lt-a"), None, Some("$Default"))),
            Some("ami-lt-a-2")
        );
        assert_eq!(
            image(spec(Some("lt-a"), None, Some("$Latest"))),
            Some("ami-lt-a-3")
        );
        assert_eq!(
            image(spec(Some("lt-a"), None, Some("1"))),
            Some("ami-lt-a-1")
        );
        // by name
        assert_eq!(image(spec(None, Some("db"), None)), Some("ami-lt-b-1"));
        // unknown template, version or a garbled version: nothing
        assert_eq!(image(spec(Some("lt-zz"), None, None)), None);
        assert_eq!(image(spec(Some("lt-a"), None, Some("9"))), None);
        assert_eq!(image(spec(Some("lt-a"), None, Some("latest"))), None);
    }

    #[test]
    fn a_group_names_every_image_it_launches_once() {
        let all = [template("lt-a", "web", 2, 3)];
        let configs = HashMap::from([("old-lc".to_string(), "ami-lc".to_string())]);
        let g = Group {
            name: "web-asg".into(),
            launch_configuration: Some("old-lc".into()),
            templates: vec![
                spec(Some("lt-a"), None, None),
                spec(None, Some("web"), Some("$Default")),
                spec(Some("lt-a"), None, Some("$Latest")),
            ],
        };
        assert_eq!(
            group_images(&g, &all, &configs),
            vec!["ami-lc", "ami-lt-a-2", "ami-lt-a-3"]
        );
        let none = Group {
            name: "empty".into(),
            launch_configuration: Some("gone".into()),
            ..Group::default()
        };
        assert!(group_images(&none, &all, &configs).is_empty());
    }
}
