//! Snapshots (insta) of every command's `--help` and of the main error
//! messages, so that a change to what users read is a reviewed change:
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test`) after an
//! intended one. Help is rendered at 100 columns so the snapshot does not
//! depend on the terminal the tests run in.

use clap::CommandFactory;

use crate::harness::offline;

fn every_command(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
    // the environment's values are not the help's: hide them
    let mut c = cmd
        .clone()
        .term_width(100)
        .mut_args(|a| a.hide_env_values(true));
    let name = if path.is_empty() {
        "ami-builder".to_string()
    } else {
        format!("ami-builder {}", path.join(" "))
    };
    out.push((name, c.render_long_help().to_string()));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        path.push(sub.get_name().to_string());
        every_command(sub, path, out);
        path.pop();
    }
}

#[test]
fn every_help_text() {
    let mut cmd = ami_builder::cli::Cli::command();
    cmd.build();
    let mut all = Vec::new();
    every_command(&cmd, &mut Vec::new(), &mut all);
    assert!(all.len() >= 15, "{} commands", all.len());
    for (name, help) in all {
        insta::assert_snapshot!(name.replace(' ', "_"), help);
    }
}

#[test]
fn build_help_is_grouped_and_globals_have_their_heading() {
    let mut cmd = ami_builder::cli::Cli::command();
    cmd.build();
    let build = cmd.find_subcommand_mut("build").expect("build");
    let help = build.render_long_help().to_string();
    for heading in [
        "Packer:",
        "Provenance:",
        "Tags:",
        "Events:",
        "Uploads:",
        "Global options:",
    ] {
        assert!(
            help.contains(heading),
            "build --help lacks {heading}\n{help}"
        );
    }
}

/// The stderr of `ami-builder ARGS` offline, with the temporary paths that
/// vary from run to run left out.
fn error_of(args: &[&str]) -> (Option<i32>, String) {
    let out = offline().args(args).output().expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn main_error_messages() {
    for (name, args) in [
        ("unknown_region", &["prune", "--regions", "us-east-9"][..]),
        (
            "endpoint_without_scheme",
            &["--endpoint-url", "localhost:5000", "retention", "lint"][..],
        ),
        ("bad_age", &["prune", "--max-plan-age", "soon"][..]),
        ("bad_time", &["prune", "--as-of", "tomorrow"][..]),
        (
            "not_an_ami",
            &["event", "render", "--ami", "us-east-1:ami-123"][..],
        ),
        (
            "status_near_miss",
            &[
                "event",
                "render",
                "--ami",
                "us-east-1:ami-0123456789abcdef0",
                "--status",
                "created",
            ][..],
        ),
        ("dry_run_with_apply", &["prune", "--dry-run", "--apply"][..]),
        (
            "missing_plan",
            &["prune", "--plan", "/nonexistent/plan.json"][..],
        ),
        (
            "missing_template",
            &[
                "build",
                "/nonexistent/template.pkr.hcl",
                "--packer",
                "/bin/true",
            ][..],
        ),
    ] {
        let (code, err) = error_of(args);
        insta::assert_snapshot!(format!("error_{name}"), format!("exit {code:?}\n{err}"));
    }
}
