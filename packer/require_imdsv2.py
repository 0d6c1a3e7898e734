#!/usr/bin/env python3
"""Make the AMIs of the last Packer run require IMDSv2 (ImdsSupport=v2.0).

Packer 1.6.6, which this repository's template must keep validating with, has
no `imds_support` option, so buildspec.yml calls this after a successful
`ami-builder build`. Instances launched from an AMI with ImdsSupport=v2.0
default to HttpTokens=required. The attribute cannot be unset again, which is
the point.

Reads the manifest written by the template's manifest post-processor and acts
only on the builds whose packer_run_uuid equals last_run_uuid (the manifest
accumulates runs). Each AMI is changed in its own region with the AWS CLI.

usage: require_imdsv2.py MANIFEST [--dry-run]
"""

import json
import subprocess
import sys


def last_run_amis(manifest):
    """Return [(region, ami_id)] for the builds of the manifest's last run."""
    last = manifest.get("last_run_uuid")
    amis = []
    for build in manifest.get("builds", []):
        if build.get("packer_run_uuid") != last:
            continue
        for pair in build.get("artifact_id", "").split(","):
            region, _, ami = pair.strip().partition(":")
            if region and ami.startswith("ami-"):
                amis.append((region, ami))
    return amis


def main(argv):
    args = [a for a in argv[1:] if a != "--dry-run"]
    dry_run = "--dry-run" in argv[1:]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as err:
        print(f"error: cannot read manifest {args[0]}: {err}", file=sys.stderr)
        return 2
    amis = last_run_amis(manifest)
    if not amis:
        print(f"error: no AMI of the last run in {args[0]}", file=sys.stderr)
        return 1
    failed = 0
    for region, ami in amis:
        cmd = [
            "aws", "ec2", "modify-image-attribute",
            "--region", region, "--image-id", ami, "--imds-support", "Value=v2.0",
        ]
        print(("would run: " if dry_run else "") + " ".join(cmd))
        if dry_run:
            continue
        if subprocess.run(cmd, check=False).returncode != 0:
            print(f"error: could not set ImdsSupport=v2.0 on {region}:{ami}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
