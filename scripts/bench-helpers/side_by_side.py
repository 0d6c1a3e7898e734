#!/usr/bin/env python3
"""`scripts/bench-prune`'s side-by-side part (issue 14): ami-builder's prune
and cloud-custodian's closest policies on the same seeded moto, through the
EC2 throttling proxy (ec2_throttle.py), which counts every call of both and,
in its throttle mode, enforces EC2's documented token buckets.

  side_by_side.py --moto URL --proxy URL --amis N --bin ami-builder --custodian PATH
                  --policies DIR --work DIR [--concurrency C] [--threads T]

Five runs, each on moto reset and seeded anew with the same N AMIs and N
standalone snapshots (seed_moto.py's seed, so the same inventory each time):
  ab        ami-builder prune --keep 3 --apply, the proxy counting only
  c7n       custodian with c7n-prune.yml (the closest equivalent), counting only
  c7n-plain custodian with c7n-prune-plain.yml (reduce + deregister), counting only
  ab-thr    ami-builder again, under EC2's buckets
  c7n-thr   custodian's closest policy again, under EC2's buckets
Each run's wall time, calls (every attempt the proxy saw, by API), throttled
answers, the lower bound its call mix allows under the buckets, what it
deleted (moto counted before and after) and what it failed to delete. Writes
the rows as JSON to WORK/side-by-side-N.json and exits 1 (FAIL: ...) when a
run deleted other than it said or ami-builder failed a deletion.
"""
import argparse
import datetime
import glob
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_moto  # noqa: E402

REGIONS = seed_moto.REGIONS


def post(url):
    urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=30).read()


def stats(proxy):
    return json.load(urllib.request.urlopen(proxy + "/_throttle/stats", timeout=30))


def owned(moto):
    """(images, snapshots) owned by the account in the benchmark's regions, asked of moto directly."""
    images = snaps = 0
    for region in REGIONS:
        ec2 = seed_moto.client(moto, "ec2", region)
        images += len(seed_moto.list_all(ec2.describe_images, "Images", Owners=["self"])[0])
        snaps += len(seed_moto.list_all(ec2.describe_snapshots, "Snapshots", OwnerIds=["self"])[0])
    return images, snaps


def reseed(a, work):
    post(a.moto + "/moto-api/reset")
    seed_moto._clients.clear()
    args = argparse.Namespace(amis=a.amis, extra_snapshots=a.amis, threads=a.threads,
                              endpoint=a.moto, expect=os.path.join(work, "expect.json"))
    with open(os.devnull, "w") as quiet:
        old, sys.stderr = sys.stderr, quiet
        try:
            seed_moto.seed(args)
        finally:
            sys.stderr = old
    return owned(a.moto)


def env(a):
    e = dict(os.environ)
    # Both tools through the proxy; boto3 reads AWS_DEFAULT_REGION, the SDK AWS_REGION.
    e.update(AWS_ENDPOINT_URL=a.proxy, AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
             AWS_EC2_METADATA_DISABLED="true", AMI_BUILDER_CONFIG=os.devnull)
    return e


def run_ab(a, work, name):
    as_of = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    report = os.path.join(work, f"{name}.json")
    cmd = [a.bin, "--output", "json", "--quiet", "prune", "--regions", ",".join(REGIONS),
           "--keep", "3", "--as-of", as_of, "--apply", "--concurrency", str(a.concurrency),
           "--report-file", os.path.join(work, f"{name}-report.json")]
    t0 = time.perf_counter()
    with open(report, "w") as out, open(os.path.join(work, f"{name}.err"), "w") as err:
        rc = subprocess.call(cmd, stdout=out, stderr=err, env=env(a), cwd=work)
    wall = time.perf_counter() - t0
    try:
        d = json.load(open(report))
    except ValueError:
        d = {}
    results = d.get("results", [])
    failed = [r for r in results if r.get("result") == "not-attempted" or
              (r.get("result") == "done" and r.get("outcome") not in ("deleted", "already-gone"))]
    planned = d.get("plan", {}).get("summary", {})
    return rc, wall, {"planned_images": planned.get("images_to_delete"),
                      "planned_snapshots": planned.get("snapshots_to_delete"),
                      "failed": len(failed)}


def run_c7n(a, work, name, policy):
    out = os.path.join(work, name)
    cmd = [a.custodian, "run", "-s", out, "--cache-period", "0"]
    for r in REGIONS:
        cmd += ["--region", r]
    cmd.append(os.path.join(a.policies, policy))
    t0 = time.perf_counter()
    with open(os.path.join(work, f"{name}.log"), "w") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env(a), cwd=work)
    wall = time.perf_counter() - t0
    matched = 0
    for f in glob.glob(os.path.join(out, "*", "*", "resources.json")):
        matched += len(json.load(open(f)))
    errors = sum(1 for line in open(os.path.join(work, f"{name}.log")) if "ERROR" in line)
    return rc, wall, {"planned_images": matched, "planned_snapshots": matched, "errors": errors}


def main():
    p = argparse.ArgumentParser()
    for k in ("moto", "proxy", "bin", "custodian", "policies", "work"):
        p.add_argument("--" + k, required=True)
    p.add_argument("--amis", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--threads", type=int, default=8)
    a = p.parse_args()
    work = os.path.join(a.work, f"side-by-side-{a.amis}")
    os.makedirs(work, exist_ok=True)
    runs = [("ab", "count", None), ("c7n", "count", "c7n-prune.yml"),
            ("c7n-plain", "count", "c7n-prune-plain.yml"), ("ab-thr", "throttle", None),
            ("c7n-thr", "throttle", "c7n-prune.yml")]
    rows, fails = [], []
    for name, mode, policy in runs:
        before = reseed(a, work)
        post(a.proxy + f"/_throttle/reset?mode={mode}")
        if policy is None:
            rc, wall, what = run_ab(a, work, name)
        else:
            rc, wall, what = run_c7n(a, work, name, policy)
        s = stats(a.proxy)
        after = owned(a.moto)
        row = {"run": name, "mode": mode, "rc": rc, "wall": round(wall, 2),
               "calls": s["sent"] + s["throttled"], "throttled": s["throttled"],
               "bound": s["lower_bound_seconds"], "slowest_bucket": s["slowest_bucket"],
               "images_deleted": before[0] - after[0], "snapshots_deleted": before[1] - after[1],
               "by_api": {f"{c['service']}:{c['action']}": 0 for c in s["calls"]},
               # when each bucket's first and last call came (from the run's first call)
               "bucket_spans": s.get("bucket_spans", {}), **what}
        for c in s["calls"]:
            row["by_api"][f"{c['service']}:{c['action']}"] += c["sent"] + c["throttled"]
        if policy is None:
            if rc != 0 or what["failed"]:
                fails.append(f"{name}: ami-builder exited {rc} with {what['failed']} failed or "
                             f"unattempted deletion(s) (see {work}/{name}.err)")
            if row["images_deleted"] != what["planned_images"]:
                fails.append(f"{name}: {row['images_deleted']} images gone, the plan deletes "
                             f"{what['planned_images']}")
        else:
            # custodian reports errors in its log and goes on: its failed
            # deletions are the matched images that are still there.
            row["failed"] = what["planned_images"] - row["images_deleted"]
        rows.append(row)
        print(f"  {name:9} {mode:8} {wall:8.1f} s  calls {row['calls']:6}  throttled "
              f"{row['throttled']:5}  bound {row['bound']:6.1f} s  deleted {row['images_deleted']} "
              f"images, {row['snapshots_deleted']} snapshots, failed {row.get('failed', 0)}",
              file=sys.stderr, flush=True)
    json.dump({"amis": a.amis, "rows": rows}, open(os.path.join(a.work, f"side-by-side-{a.amis}.json"), "w"),
              indent=1)
    for f in fails:
        print("FAIL: " + f, file=sys.stderr)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
