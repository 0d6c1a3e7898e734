#!/usr/bin/env python3
"""`prune --accounts` across N accounts, one after another and all at once,
under EC2's request buckets kept per account (for `scripts/bench-accounts`;
a benchmark, not a test: it reports, it never judges a time).

usage: accounts_bench.py --bin AMI_BUILDER --moto URL --proxy URL --work DIR
                         [--accounts N] [--amis M]

Each run starts from the same seeded moto: N accounts (reached through STS
AssumeRole, as ami-builder reaches them), each with M expired AMIs of one
family. `ami-builder prune --accounts FILE --apply` goes through the
throttling proxy (ec2_throttle.py, reset with per=key: each account's
session has buckets of its own, as EC2 gives each account its own), first
with --account-concurrency 1, then N. Printed as ratios against the same
invocation's figures: concurrent / one-at-a-time, and each run against its
bound (the one-at-a-time run against the sum of the accounts' bucket bounds,
the concurrent run against the slowest account's bound). The same two runs
unthrottled show what the one emulator process, which answers every account
here where real accounts share nothing, allows by itself. Stdlib and boto3.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3


def post(url, path, body=b""):
    urllib.request.urlopen(urllib.request.Request(url + path, data=body, method="POST"),
                           timeout=30).read()


def session(moto, account):
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=moto,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/seed",
                        RoleSessionName="seed")["Credentials"]
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=moto,
                        aws_access_key_id=c["AccessKeyId"],
                        aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"])


def seed(moto, accounts, amis):
    post(moto, "/moto-api/reset")
    for a in accounts:
        ec2 = session(moto, a)
        for i in range(amis):
            img = ec2.register_image(Name=f"bench-{a}-{i}", RootDeviceName="/dev/xvda")["ImageId"]
            ec2.create_tags(Resources=[img], Tags=[
                {"Key": "ami-builder:family", "Value": "bench"},
                {"Key": "scheduler:ebs-snapshot", "Value": "0900;1"}])


def run(args, accounts_file, width, out_dir, mode="throttle"):
    post(args.proxy, f"/_throttle/reset?mode={mode}&per=key")
    env = dict(os.environ, AWS_ENDPOINT_URL=args.proxy, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true", AMI_BUILDER_CONFIG="/dev/null",
               AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    cmd = [args.bin, "--quiet", "--output", "json", "prune", "--accounts", accounts_file,
           "--regions", "us-east-1", "--keep", "0", "--as-of", "+40d", "--apply",
           "--role-name", "ami-builder-prune", "--account-concurrency", str(width),
           "--out-dir", out_dir]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"accounts_bench: prune exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    result = json.loads(done.stdout)
    with open(os.path.join(out_dir, "result.json"), "wb") as f:
        f.write(done.stdout)
    # deregistered now, or found gone by a retried call whose first attempt
    # had done it
    deleted = sum(1 for a in result["accounts"] for r in a["report"]["results"]
                  if r.get("kind") == "image" and r.get("outcome") in ("deleted", "already-gone"))
    stats = json.load(urllib.request.urlopen(args.proxy + "/_throttle/stats", timeout=30))
    # each account's bound: its fullest bucket, (calls - size) / rate
    per_account = {}
    for r in stats["calls"]:
        if r.get("size") is None or r["bucket"] == "-":
            continue
        key = (r["region"], r["bucket"])
        per_account.setdefault(key, [0, r["size"], r["rate"]])[0] += r["sent"]
    bounds = {}
    for (region, _bucket), (sent, size, rate) in per_account.items():
        account = region.split("@", 1)[-1]
        bounds[account] = max(bounds.get(account, 0.0), max(0, sent - size) / rate)
    return wall, deleted, stats["throttled"], bounds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--moto", required=True)
    p.add_argument("--proxy", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--accounts", type=int, default=4)
    p.add_argument("--amis", type=int, default=150)
    args = p.parse_args()
    accounts = [f"2000000000{i:02d}" for i in range(1, args.accounts + 1)]
    accounts_file = os.path.join(args.work, "accounts.yml")
    with open(accounts_file, "w") as f:
        f.write("accounts:\n" + "".join(f"- account_id: '{a}'\n" for a in accounts))
    rows = {}
    for mode in ("count", "throttle"):
        for width in (1, args.accounts):
            seed(args.moto, accounts, args.amis)
            out = os.path.join(args.work, f"out-{mode}-{width}")
            os.makedirs(out, exist_ok=True)
            wall, deleted, throttled, bounds = run(args, accounts_file, width, out, mode)
            expected = args.accounts * args.amis
            left = sum(len(session(args.moto, a).describe_images(Owners=["self"])["Images"])
                       for a in accounts)
            if deleted != expected or left:
                sys.exit(f"accounts_bench: {deleted} images deregistered, not {expected}, {left} left; "
                         f"see {os.path.join(out, 'result.json')}")
            rows[(mode, width)] = (wall, bounds)
            what = "unthrottled" if mode == "count" else "EC2's buckets"
            print(f"{what}, --account-concurrency {width}: {wall:.1f} s, {deleted} images "
                  f"deregistered, {throttled} throttled answers, bound per account "
                  f"{max(bounds.values(), default=0):.1f} s (sum {sum(bounds.values()):.1f} s)")
    n = args.accounts
    seq, seq_b = rows[("throttle", 1)]
    par, par_b = rows[("throttle", n)]
    free_seq, free_par = rows[("count", 1)][0], rows[("count", n)][0]
    print(f"unthrottled, all at once / one at a time: {free_par / free_seq:.2f}x "
          "(what the one emulator process answering every account allows)")
    print(f"under the buckets, all at once / one at a time: {par / seq:.2f}x")
    print(f"one at a time / sum of the accounts' bounds: {seq / max(sum(seq_b.values()), 1e-9):.2f}x")
    print(f"all at once / slowest account's bound: {par / max(max(par_b.values()), 1e-9):.2f}x")
    floor = max(max(par_b.values()), free_par)
    print(f"all at once / the larger of that bound and the emulator's own time unthrottled: "
          f"{par / max(floor, 1e-9):.2f}x")


if __name__ == "__main__":
    main()
