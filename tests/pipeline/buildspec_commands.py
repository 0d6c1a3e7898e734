#!/usr/bin/env python3
"""List the ami-builder invocations in the buildspecs, and check their flags.

usage: buildspec_commands.py [--check AMI_BUILDER_BIN] [BUILDSPEC ...]

Without --check: print one JSON object per invocation:
  {"file": ..., "phase": ..., "globals": ["--region", ...],
   "subcommand": ["build"], "flags": ["--only", ...]}
With --check: run `BIN --help` and `BIN <subcommand> --help` and fail (exit 1)
when an invocation uses a subcommand or flag the binary does not list, so that
a renamed flag breaks CI. It also checks what the buildspecs leave to the
stack and to the repository's ami-builder.toml: every AMI_BUILDER_* variable
that a CodeBuild project of cloudformation/pipeline.yaml sets must be one the
subcommands of its buildspec read (listed as `env: NAME` in their help), and
`BIN config show`, run in the repository root with those variables set, must
load ami-builder.toml and report each of them as the value's source. Exit 2
when a buildspec cannot be parsed or holds no ami-builder invocation at all.

Default files: buildspec.yml, buildspec-prune.yml and buildspec-promote.yml at the
repository root.
Needs PyYAML.
"""

import json
import os
import re
import shlex
import subprocess
import sys

import yaml

SEPARATORS = {"||", "&&", ";", "|", "&"}
# Subcommands with a second level (`event send`).
NESTED = {"event"}


def commands(path):
    """Yield (phase, command text) for every command of a buildspec."""
    with open(path, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    if not isinstance(spec, dict) or "phases" not in spec:
        raise ValueError(f"{path}: not a buildspec (no phases)")
    for phase, body in spec["phases"].items():
        for command in (body or {}).get("commands", []) or []:
            if not isinstance(command, str):
                raise ValueError(f"{path}: phase {phase}: a command is not a string")
            yield phase, command


def invocations(path):
    for phase, command in commands(path):
        text = re.sub(r"\\\n", " ", command)
        for line in text.splitlines():
            if "ami-builder" not in line:
                continue
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            tokens = list(lexer)
            for start, token in enumerate(tokens):
                if token != "ami-builder":
                    continue
                if start > 0 and tokens[start - 1] not in SEPARATORS | {"then", "do", "else", "!"}:
                    continue  # a mention, e.g. an argument or a path, not a command
                words = []
                for word in tokens[start + 1:]:
                    if word in SEPARATORS:
                        break
                    words.append(word)
                yield split_invocation(path, phase, words)


def split_invocation(path, phase, words):
    """Separate global flags, the subcommand path and the subcommand's flags.

    Values are skipped: a flag's value is the next word unless it starts
    with '-' (all ami-builder flags used here take at most one value).
    """
    globals_, sub, flags = [], [], []
    i = 0
    while i < len(words) and words[i].startswith("-"):
        flag = words[i].split("=", 1)[0]
        globals_.append(flag)
        takes_value = flag not in ("-v", "--verbose") and "=" not in words[i]
        i += 2 if takes_value else 1
    if i < len(words):
        sub.append(words[i])
        i += 1
        if sub[0] in NESTED and i < len(words) and not words[i].startswith("-"):
            sub.append(words[i])
            i += 1
    for word in words[i:]:
        if word.startswith("-") and word != "-":
            flags.append(word.split("=", 1)[0])
    return {"file": os.path.basename(path), "phase": phase, "globals": globals_, "subcommand": sub, "flags": flags}


def help_text(binary, sub):
    out = subprocess.run([binary, *sub, "--help"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None
    return out.stdout


def listed(flag, text):
    if flag.startswith("--"):
        return re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text) is not None
    return re.search(r"(?<![\w-])" + re.escape(flag) + r"[ ,=]", text) is not None


def walk_strings(node):
    """Every string inside a CloudFormation value (both arms of an !If)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from walk_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_strings(value)


def env_names(node):
    """The Name of every environment variable of a project, in !If arms too."""
    if isinstance(node, dict):
        if "Name" in node and isinstance(node["Name"], str):
            yield node["Name"]
        else:
            for value in node.values():
                yield from env_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from env_names(value)


def stack_projects(repo):
    """{buildspec file name: set of AMI_BUILDER_* names its project sets}."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cfn_yaml  # noqa: PLC0415 - a sibling module, found by path

    template = cfn_yaml.load_file(os.path.join(repo, "cloudformation", "pipeline.yaml"))
    out = {}
    for logical, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::CodeBuild::Project":
            continue
        props = resource.get("Properties", {})
        specs = {v for v in walk_strings(props.get("Source", {})) if v.startswith("buildspec")}
        if len(specs) != 1:
            raise ValueError(f"project {logical}: no single BuildSpec file ({sorted(specs)})")
        names = {n for n in env_names(props.get("Environment", {}).get("EnvironmentVariables", []))
                 if n.startswith("AMI_BUILDER_")}
        out[specs.pop()] = names
    return out


def check_stack_env(binary, repo, found):
    """Problems with the AMI_BUILDER_* variables the stack hands the buildspecs."""
    problems = []
    try:
        projects = stack_projects(repo)
    except (OSError, ValueError, yaml.YAMLError) as err:
        return [f"cloudformation/pipeline.yaml: {err}"]
    every = set()
    for spec, names in sorted(projects.items()):
        subs = [inv["subcommand"] for inv in found if inv["file"] == spec and inv["subcommand"]]
        helps = " ".join(" ".join((help_text(binary, sub) or "").split()) for sub in subs)
        for name in sorted(names):
            if not re.search(r"\benv: " + re.escape(name) + r"[=\]]", helps):
                problems.append(f"the stack sets {name} for {spec}, but no ami-builder command of {spec} reads it")
        every |= names
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMI_BUILDER_")}
    env.update({name: "1" if name != "AMI_BUILDER_REGIONS" else "us-east-1" for name in every})
    env.update({"AMI_BUILDER_FAMILY": "family-check", "NO_COLOR": "1"})
    out = subprocess.run([binary, "--output", "json", "config", "show"], cwd=repo, env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return problems + [f"`ami-builder config show` in the repository failed: {out.stderr.strip()}"]
    report = json.loads(out.stdout)
    if not (report.get("file") or "").endswith("ami-builder.toml"):
        problems.append(f"`ami-builder config show` in the repository found no ami-builder.toml (file: {report.get('file')})")
    from_env = {v.get("name") for v in report["values"] if v["from"] == "env"}
    for name in sorted(every - from_env):
        problems.append(f"`ami-builder config show` does not report {name} as a value's source")
    from_file = [v for v in report["values"] if v["from"] == "file"]
    if not from_file:
        problems.append("`ami-builder config show` reports no value from ami-builder.toml")
    return problems


def main(argv):
    args = argv[1:]
    binary = None
    if args[:1] == ["--check"]:
        if len(args) < 2:
            print(__doc__.strip().splitlines()[2], file=sys.stderr)
            return 2
        binary, args = args[1], args[2:]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    files = args or [os.path.join(repo, name) for name in ("buildspec.yml", "buildspec-prune.yml", "buildspec-promote.yml")]
    found = []
    try:
        for path in files:
            these = list(invocations(path))
            if not these:
                print(f"error: {path}: no ami-builder invocation found", file=sys.stderr)
                return 2
            found.extend(these)
    except (OSError, ValueError, yaml.YAMLError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if binary is None:
        for inv in found:
            print(json.dumps(inv))
        return 0
    problems = []
    top = help_text(binary, [])
    if top is None:
        print(f"error: `{binary} --help` failed", file=sys.stderr)
        return 2
    for inv in found:
        where = f"{inv['file']} ({inv['phase']}): ami-builder {' '.join(inv['subcommand'])}"
        sub_help = help_text(binary, inv["subcommand"]) if inv["subcommand"] else None
        if not inv["subcommand"] or sub_help is None:
            problems.append(f"{where}: unknown subcommand")
            continue
        for flag in inv["globals"]:
            if not listed(flag, top):
                problems.append(f"{where}: global flag {flag} not in `ami-builder --help`")
        for flag in inv["flags"]:
            if not listed(flag, sub_help):
                problems.append(f"{where}: flag {flag} not in `ami-builder {' '.join(inv['subcommand'])} --help`")
    problems.extend(check_stack_env(binary, repo, found))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"{len(found)} ami-builder invocations and the stack's AMI_BUILDER_* variables checked, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
