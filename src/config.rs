//! `ami-builder.toml`: the defaults of every command, kept in the repository.
//!
//! The file is found upward from the working directory (or named by
//! `--config FILE` / `AMI_BUILDER_CONFIG`). Each table is a command, named as
//! on the command line (`[build]`, `[prune]`, `[retention.lint]`; `[global]`
//! for the options every command takes), and each key is one of that
//! command's long options (`keep = 5`, `regions = ["us-east-1"]`, `tag = {
//! team = "platform" }` for the repeatable `--tag K=V`), or a positional's
//! name (`template = "packer/"`). A value becomes the option's default, so
//! the precedence is clap's own: a flag, then its environment variable, then
//! the file, then the built-in default. `ami-builder config show` prints the
//! merged result and where each value came from.
//!
//! Keys are checked against the command's options before anything runs: an
//! unknown key is a usage error (exit 2) naming the file, the table and the
//! options there are, never a value quietly ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};

/// The file name looked for.
pub const FILE_NAME: &str = "ami-builder.toml";

/// A loaded file: where it is, and per command path (`prune`,
/// `retention lint`, `global`) the defaults it sets, by argument id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub sections: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// `--config FILE` / `--config=FILE` among the raw arguments, else
/// `AMI_BUILDER_CONFIG`, else `ami-builder.toml` in `cwd` or the nearest
/// directory above it within the same repository (up to the directory that
/// holds `.git`; outside a repository, `cwd` only). The search stops there
/// because a file above it is not the repository's: one left in a shared
/// directory (`/tmp`, a home directory holding several checkouts) would
/// otherwise set `prune`'s defaults (`keep = 0`, `include-shared`) for every
/// checkout below it, unseen.
pub fn locate(args: &[String], env: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return Some(PathBuf::from(e));
    }
    let root = cwd.ancestors().find(|d| d.join(".git").exists());
    let within: Vec<&Path> = match root {
        Some(root) => cwd
            .ancestors()
            .take_while(|d| *d != root)
            .chain([root])
            .collect(),
        None => vec![cwd],
    };
    within
        .into_iter()
        .map(|d| d.join(FILE_NAME))
        .find(|p| p.is_file())
}

/// The config of this process: located from its arguments, environment
/// and working directory ([`locate`]), read and checked against `cmd`; an
/// empty one when there is no file. `main` and `config show` both use it.
pub fn from_process(cmd: &Command) -> Result<Config, String> {
    // lossy: a non-UTF-8 argument is clap's to refuse, not a panic here
    let raw: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let env = std::env::var("AMI_BUILDER_CONFIG").ok();
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot find the working directory: {e}"))?;
    match locate(&raw, env.as_deref(), &cwd) {
        Some(path) => load(&path, cmd),
        None => Ok(Config::default()),
    }
}

/// Read and check the file against `cmd` (the CLI definition).
pub fn load(path: &Path, cmd: &Command) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    parse(&text, cmd)
        .map(|sections| Config {
            path: Some(path.to_path_buf()),
            sections,
        })
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The tables of a config text, checked against `cmd`: command path ->
/// argument id -> default values.
pub fn parse(
    text: &str,
    cmd: &Command,
) -> Result<BTreeMap<String, BTreeMap<String, Vec<String>>>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    let mut out = BTreeMap::new();
    walk(&table, &mut Vec::new(), cmd, &mut out)?;
    Ok(out)
}

fn walk(
    table: &toml::Table,
    path: &mut Vec<String>,
    cmd: &Command,
    out: &mut BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> Result<(), String> {
    for (key, value) in table {
        let here = if path.is_empty() && key == "global" {
            Some(cmd.clone())
        } else {
            find_subcommand(cmd, path, key)
        };
        if let (Some(sub), toml::Value::Table(t)) = (&here, value) {
            if path.is_empty() && key == "global" {
                out.insert("global".into(), section(t, sub, "global", true)?);
                continue;
            }
            path.push(key.clone());
            if sub.get_subcommands().next().is_some() {
                // a command with subcommands (`retention`, `prune`): the
                // tables naming them go down, the other keys are its own
                // options (`[prune]` keep = 2, and `[prune.undo]`)
                let has_own = sub
                    .get_arguments()
                    .any(|a| !a.is_global_set() && a.get_long().is_some_and(|l| l != "help"));
                let (down, own): (toml::Table, toml::Table) =
                    t.clone().into_iter().partition(|(k, v)| {
                        !has_own || (v.is_table() && find_subcommand(cmd, path, k).is_some())
                    });
                if !own.is_empty() {
                    let name = path.join(" ");
                    out.insert(name.clone(), section(&own, sub, &name, false)?);
                }
                walk(&down, path, cmd, out)?;
            } else {
                let name = path.join(" ");
                out.insert(name.clone(), section(t, sub, &name, false)?);
            }
            path.pop();
            continue;
        }
        let at = if path.is_empty() {
            String::new()
        } else {
            format!("[{}] ", path.join("."))
        };
        let commands: Vec<String> = subcommands_at(cmd, path);
        return Err(format!(
            "{at}`{key}` is not a table of a command; the tables are [global]{}",
            commands
                .iter()
                .map(|c| format!(
                    ", [{}]",
                    if path.is_empty() {
                        c.clone()
                    } else {
                        format!("{}.{c}", path.join("."))
                    }
                ))
                .collect::<String>()
        ));
    }
    Ok(())
}

fn find_subcommand(cmd: &Command, path: &[String], key: &str) -> Option<Command> {
    let mut c = cmd;
    for p in path {
        c = c.find_subcommand(p)?;
    }
    c.find_subcommand(key).cloned()
}

fn subcommands_at(cmd: &Command, path: &[String]) -> Vec<String> {
    let mut c = cmd;
    for p in path {
        match c.find_subcommand(p) {
            Some(s) => c = s,
            None => return Vec::new(),
        }
    }
    c.get_subcommands()
        .map(|s| s.get_name().to_string())
        .filter(|n| n != "help")
        .collect()
}

/// The arguments a table may set: a command's own (and, for `[global]`, the
/// global ones); never `help`/`version`, nor `--config` itself.
fn settable(cmd: &Command, global: bool) -> Vec<&Arg> {
    cmd.get_arguments()
        .filter(|a| global == a.is_global_set())
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version" | "config"))
        .filter(|a| {
            !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::Version | ArgAction::Count
            )
        })
        .collect()
}

fn key_of(a: &Arg) -> String {
    a.get_long()
        .map_or_else(|| a.get_id().as_str().to_string(), str::to_string)
}

fn section(
    t: &toml::Table,
    cmd: &Command,
    name: &str,
    global: bool,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let args = settable(cmd, global);
    let mut out = BTreeMap::new();
    for (key, value) in t {
        let Some(arg) = args.iter().find(|a| {
            key_of(a) == *key || a.get_aliases().is_some_and(|al| al.contains(&key.as_str()))
        }) else {
            let keys: Vec<String> = args.iter().map(|a| key_of(a)).collect();
            let near = keys
                .iter()
                .filter(|k| strsim::levenshtein(k, key) <= 2)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .next()
                .unwrap_or_default();
            return Err(format!(
                "[{}] `{key}` is not an option of {name}{near}; the keys there are {}",
                name.replace(' ', "."),
                keys.join(", ")
            ));
        };
        let values =
            to_strings(value).map_err(|e| format!("[{}] {key}: {e}", name.replace(' ', ".")))?;
        let many =
            matches!(arg.get_action(), ArgAction::Append) || arg.get_value_delimiter().is_some();
        if values.len() > 1 && !many {
            return Err(format!(
                "[{}] {key}: one value, not a list (the option is given once)",
                name.replace(' ', ".")
            ));
        }
        out.insert(arg.get_id().as_str().to_string(), values);
    }
    Ok(out)
}

/// A TOML value as the command-line strings it stands for: a string,
/// number or boolean is one value; an array is several; a table is
/// `KEY=VALUE` pairs (for `--tag K=V`, `--var K=V`).
fn to_strings(v: &toml::Value) -> Result<Vec<String>, String> {
    let one = |v: &toml::Value| -> Result<String, String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            other => Err(format!(
                "a {} cannot stand for a flag value",
                other.type_str()
            )),
        }
    };
    match v {
        toml::Value::Array(a) => a.iter().map(one).collect(),
        toml::Value::Table(t) => t
            .iter()
            .map(|(k, v)| one(v).map(|v| format!("{k}={v}")))
            .collect(),
        other => one(other).map(|s| vec![s]),
    }
}

/// `cmd` with the file's values as the defaults of the options they name.
pub fn apply(mut cmd: Command, cfg: &Config) -> Command {
    for (section, values) in &cfg.sections {
        if section == "global" {
            for (id, v) in values {
                cmd = cmd.mut_arg(id, |a| set_default(a, v));
            }
            continue;
        }
        let path: Vec<&str> = section.split(' ').collect();
        cmd = mut_path(cmd, &path, values);
    }
    cmd
}

fn mut_path(cmd: Command, path: &[&str], values: &BTreeMap<String, Vec<String>>) -> Command {
    match path {
        [] => cmd,
        [last] => cmd.mut_subcommand(*last, |mut sub| {
            for (id, v) in values {
                sub = sub.mut_arg(id, |a| set_default(a, v));
            }
            sub
        }),
        [first, rest @ ..] => cmd.mut_subcommand(*first, |sub| mut_path(sub, rest, values)),
    }
}

fn set_default(a: Arg, values: &[String]) -> Arg {
    // a list in the file is the whole default, as a repeated flag would be
    let v: Vec<clap::builder::OsStr> = values.iter().map(|s| s.clone().into()).collect();
    a.default_values(v)
}

/// Where a value of `config show` came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum Source {
    File { path: PathBuf },
    Env { name: String },
    Default,
}

/// One line of `config show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shown {
    pub command: String,
    pub key: String,
    pub value: Vec<String>,
    #[serde(flatten)]
    pub source: Source,
}

/// Every option that has a value without a flag: from the environment
/// (`env` answers a variable's value), else the file, else the built-in
/// default. `cmd` is the definition before the file was applied.
pub fn show(cmd: &Command, cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Vec<Shown> {
    let mut out = Vec::new();
    visit(cmd, &mut Vec::new(), cfg, env, &mut out);
    out
}

fn visit(
    cmd: &Command,
    path: &mut Vec<String>,
    cfg: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<Shown>,
) {
    let global = path.is_empty();
    let section = if global {
        "global".to_string()
    } else {
        path.join(" ")
    };
    for a in settable(cmd, global) {
        let id = a.get_id().as_str();
        let from_env = a
            .get_env()
            .and_then(|n| n.to_str())
            .and_then(|n| env(n).filter(|v| !v.is_empty()).map(|v| (n.to_string(), v)));
        let from_file = cfg.sections.get(&section).and_then(|s| s.get(id));
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let (value, source) = match (from_env, from_file) {
            (Some((name, v)), _) => (vec![v], Source::Env { name }),
            (None, Some(v)) => (
                v.clone(),
                Source::File {
                    path: cfg.path.clone().unwrap_or_default(),
                },
            ),
            (None, None) if !defaults.is_empty() => (defaults, Source::Default),
            (None, None) => continue,
        };
        out.push(Shown {
            command: section.clone(),
            key: key_of(a),
            value,
            source,
        });
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        path.push(sub.get_name().to_string());
        visit(sub, path, cfg, env, out);
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn cli() -> Command {
        crate::cli::Cli::command()
    }

    #[test]
    fn a_file_sets_defaults_and_flags_still_win() {
        let cfg = Config {
            path: Some("ami-builder.toml".into()),
            sections: parse(
                "[global]\nregion = \"eu-west-1\"\n[prune]\nkeep = 7\nregions = [\"us-east-1\", \"us-west-2\"]\n[build]\ntemplate = \"images/\"\ntag = { team = \"platform\" }\n",
                &cli(),
            )
            .expect("parses"),
        };
        let cmd = apply(cli(), &cfg);
        let m = cmd
            .clone()
            .try_get_matches_from(["ami-builder", "prune"])
            .expect("parses");
        let (_, sub) = m.subcommand().expect("prune");
        assert_eq!(sub.get_one::<usize>("keep"), Some(&7));
        let regions: Vec<String> = sub
            .get_many::<crate::ids::Region>("regions")
            .expect("regions")
            .map(ToString::to_string)
            .collect();
        assert_eq!(regions, ["us-east-1", "us-west-2"]);
        let m = cmd
            .clone()
            .try_get_matches_from(["ami-builder", "prune", "--keep", "2"])
            .expect("parses");
        assert_eq!(
            m.subcommand().expect("prune").1.get_one::<usize>("keep"),
            Some(&2)
        );
        let m = cmd
            .try_get_matches_from(["ami-builder", "build"])
            .expect("parses");
        let (_, b) = m.subcommand().expect("build");
        assert_eq!(
            b.get_one::<PathBuf>("template")
                .map(|p| p.display().to_string())
                .as_deref(),
            Some("images/")
        );
        let tags: Vec<&(String, String)> = b.get_many("tags").expect("tags").collect();
        assert_eq!(tags, [&("team".to_string(), "platform".to_string())]);
    }

    #[test]
    fn a_command_with_a_subcommand_takes_its_own_keys_and_its_subcommands_table() {
        let c = parse(
            "[prune]\nkeep = 2\nevents = true\n[prune.undo]\nevents = true\n",
            &cli(),
        )
        .expect("parses");
        assert_eq!(c["prune"]["keep"], ["2"]);
        assert_eq!(c["prune undo"]["events"], ["true"]);
        let e = parse("[prune.undo]\nkeep = 2\n", &cli()).expect_err("not undo's");
        assert!(
            e.contains("[prune.undo] `keep` is not an option of prune undo"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_and_tables_are_refused_with_what_there_is() {
        let e = parse("[prune]\nkep = 3\n", &cli()).expect_err("unknown key");
        assert!(
            e.contains("[prune] `kep` is not an option of prune (did you mean `keep`?)"),
            "{e}"
        );
        let e = parse("[prnue]\nkeep = 3\n", &cli()).expect_err("unknown table");
        assert!(
            e.contains("`prnue` is not a table of a command") && e.contains("[prune]"),
            "{e}"
        );
        let e = parse("[prune]\nkeep = [1, 2]\n", &cli()).expect_err("a list for one value");
        assert!(e.contains("one value, not a list"), "{e}");
        let e = parse("keep = 3\n", &cli()).expect_err("a key outside a table");
        assert!(e.contains("`keep` is not a table"), "{e}");
        let e = parse("[prune\n", &cli()).expect_err("not TOML");
        assert!(!e.is_empty());
        assert!(parse("[retention.lint]\nregions = [\"us-east-1\"]\n", &cli()).is_ok());
    }

    #[test]
    fn show_names_the_source_of_each_value() {
        let cfg = Config {
            path: Some("/repo/ami-builder.toml".into()),
            sections: parse("[prune]\nkeep = 7\nmax-deletions = 50\n", &cli()).expect("parses"),
        };
        let env = |n: &str| (n == "AMI_BUILDER_MAX_DELETIONS").then(|| "9".to_string());
        let shown = show(&cli(), &cfg, &env);
        let get = |k: &str| {
            shown
                .iter()
                .find(|s| s.command == "prune" && s.key == k)
                .cloned()
                .expect(k)
        };
        assert_eq!(get("keep").value, ["7"]);
        assert_eq!(
            get("keep").source,
            Source::File {
                path: "/repo/ami-builder.toml".into()
            }
        );
        assert_eq!(get("max-deletions").value, ["9"]);
        assert_eq!(
            get("max-deletions").source,
            Source::Env {
                name: "AMI_BUILDER_MAX_DELETIONS".into()
            }
        );
        assert_eq!(get("max-plan-age").source, Source::Default);
    }

    #[test]
    fn a_file_above_the_repository_or_outside_one_is_not_taken() {
        // a file left in a shared directory above a checkout
        let shared = tempfile::tempdir().expect("tmp");
        std::fs::write(shared.path().join(FILE_NAME), "[prune]\nkeep = 0\n").expect("write");
        let repo = shared.path().join("checkout");
        let deep = repo.join("packer");
        std::fs::create_dir_all(&deep).expect("mkdir");
        std::fs::write(repo.join(".git"), "gitdir: elsewhere\n").expect("a worktree's .git file");
        assert_eq!(locate(&[], None, &deep), None, "not the repository's file");
        std::fs::write(repo.join(FILE_NAME), "").expect("write");
        assert_eq!(locate(&[], None, &deep), Some(repo.join(FILE_NAME)));
        // outside any repository, only the working directory counts
        let loose = shared.path().join("loose/dir");
        std::fs::create_dir_all(&loose).expect("mkdir");
        assert_eq!(locate(&[], None, &loose), None);
        std::fs::write(loose.join(FILE_NAME), "").expect("write");
        assert_eq!(locate(&[], None, &loose), Some(loose.join(FILE_NAME)));
    }

    #[test]
    fn the_file_is_found_upward_or_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep).expect("mkdir");
        std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir .git");
        assert_eq!(locate(&[], None, &deep), None);
        std::fs::write(dir.path().join(FILE_NAME), "").expect("write");
        assert_eq!(locate(&[], None, &deep), Some(dir.path().join(FILE_NAME)));
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            locate(
                &args(&["prune", "--config", "x.toml"]),
                Some("y.toml"),
                &deep
            ),
            Some("x.toml".into())
        );
        assert_eq!(
            locate(&args(&["--config=z.toml"]), None, &deep),
            Some("z.toml".into())
        );
        assert_eq!(locate(&[], Some("y.toml"), &deep), Some("y.toml".into()));
        assert_eq!(
            locate(&args(&["build", "--", "--config", "x"]), None, &deep),
            Some(dir.path().join(FILE_NAME)),
            "after -- the words are Packer's"
        );
    }
}
