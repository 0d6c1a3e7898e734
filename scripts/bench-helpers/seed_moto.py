#!/usr/bin/env python3
"""moto side of `scripts/bench-prune`: seed, count, verify, compare calls, time
the deletions. Needs the venv's boto3.

  seed_moto.py seed   --endpoint URL --amis N --extra-snapshots M --expect FILE [--threads T]
  seed_moto.py counts --endpoint URL --out FILE
  seed_moto.py verify --endpoint URL --expect FILE --plan PLAN.json --apply APPLY.json
                      --before COUNTS.json
  seed_moto.py calls  --before COUNTS.json --report PRUNE.json
  seed_moto.py tail-seconds --log MOTO.log --skip LINES --upto LINE --last K

seed: N AMIs across us-east-1 and us-west-2, as Packer builds of two images
(the source in us-east-1 and its copy in us-west-2, joined by the run-UUID and
source-image tags); moto creates one snapshot per image, which gets the image's
tags as Packer's snapshot_tags would. Plus M standalone snapshots of ours
(`ami-builder:family`, their AMI gone: orphans in prune's scope), split across
both regions. Four families; retention tags (`scheduler:ebs-snapshot`) mixed:
`0900;1`, `0900;2;UTC`, untagged (default 15 days), `0900;30`, `none`
(excluded), a malformed `0900;2;Europe/Pariss` (a zone IANA does not have; `utc` in any case is valid, as the scheduler reads it), and a few pinned (`ami-builder:keep`).
In use: instances (running, stopped, terminated), launch template versions
(one non-default), a launch configuration; some images and orphaned snapshots
shared with another account. Calls run on T threads (default 8), sharing one
boto3 client per service and region. Writes what must be kept, and why, to FILE.

counts: what prune will list, per region (images and snapshots owned by the
account, instances, launch templates and their versions, launch
configurations), how many items this server puts in one page when asked
for the largest page (moto does not paginate some listings), and how long
the server takes to answer those listing calls.

verify: the plan-only run and the apply planned the same deletions; the
protected resources were kept with the expected reason; every planned deletion
was done; what is left in moto is exactly what the plan keeps. Exit 1 (with
FAIL: lines) otherwise.

calls: a prune report's api_calls against the fewest listing calls the page
sizes allow (see calls()).
"""
import argparse
import collections
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

REGIONS = ["us-east-1", "us-west-2"]
FAMILIES = ["web", "db", "api", "batch"]
RETENTION_TAG = "scheduler:ebs-snapshot"
OTHER_ACCOUNT = "111122223333"
CONFIG = Config(retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=64)

_clients = {}
_lock = threading.Lock()
_session = None


def client(endpoint, service, region):
    """One client per (service, region), shared by the threads: botocore clients
    are thread-safe, and loading the EC2 model once per thread costs seconds."""
    global _session
    key = (endpoint, service, region)
    with _lock:
        if key not in _clients:
            if _session is None:
                _session = boto3.session.Session(
                    aws_access_key_id="testing", aws_secret_access_key="testing"
                )
            _clients[key] = _session.client(
                service, region_name=region, endpoint_url=endpoint, config=CONFIG
            )
        return _clients[key]


def pmap(threads, fn, items):
    with ThreadPoolExecutor(max_workers=threads) as ex:
        return list(ex.map(fn, items))


def chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def build_tags(b):
    """Tags of build b (both its images and their snapshots), and whether it is pinned."""
    r = b % 20
    tags = {}
    if r <= 9:
        tags[RETENTION_TAG] = "0900;1"
    elif r <= 12:
        tags[RETENTION_TAG] = "0900;2;UTC"
    elif r <= 15:
        pass  # default retention (15 days)
    elif r == 16:
        tags[RETENTION_TAG] = "0900;30"
    elif r == 17:
        tags[RETENTION_TAG] = "none"
    elif r == 18:
        tags[RETENTION_TAG] = "0900;2;Europe/Pariss"  # unknown zone: kept, never deleted
    else:
        tags[RETENTION_TAG] = "0900;1"
    pinned = b % 50 == 19
    if pinned:
        tags["ami-builder:keep"] = "true"
    return tags, pinned


def orphan_tags(j):
    r = j % 10
    tags = {"ami-builder:family": FAMILIES[j % len(FAMILIES)]}
    if r <= 5:
        tags[RETENTION_TAG] = "0900;1"
    elif r == 8:
        tags[RETENTION_TAG] = "0900;30"
    elif r == 9:
        tags[RETENTION_TAG] = "none"
    return tags


def tag_in_batches(endpoint, threads, region, groups):
    """groups: {frozenset(tags.items()): [resource ids]} -> CreateTags, 500 ids a call."""
    jobs = []
    for tagset, ids in groups.items():
        tags = [{"Key": k, "Value": v} for k, v in sorted(tagset)]
        for part in chunks(ids, 500):
            jobs.append((tags, part))

    def one(job):
        tags, part = job
        client(endpoint, "ec2", region).create_tags(Resources=part, Tags=tags)

    pmap(threads, one, jobs)
    return len(jobs)


def seed(a):
    t0 = time.perf_counter()
    n, m, threads, ep = a.amis, a.extra_snapshots, a.threads, a.endpoint
    builds = (n + 1) // 2
    run_id = int(time.time())
    # (region, build, index in build)
    specs = []
    for b in range(builds):
        specs.append(("us-east-1", b, 0))
        if len(specs) < n:
            specs.append(("us-west-2", b, 1))

    def register(spec):
        region, b, copy = spec
        fam = FAMILIES[b % len(FAMILIES)]
        name = f"bench-{fam}-{run_id}-{b:06d}"
        r = client(ep, "ec2", region).register_image(
            Name=name,
            Description=f"ami-builder bench {fam} build {b}",
            Architecture="x86_64",
            RootDeviceName="/dev/xvda",
            VirtualizationType="hvm",
        )
        return r["ImageId"]

    # Sources first (copies need their ids), then copies.
    sources = [s for s in specs if s[2] == 0]
    copies = [s for s in specs if s[2] == 1]
    src_ids = pmap(threads, register, sources)
    copy_ids = pmap(threads, register, copies)
    t_reg = time.perf_counter()
    image_of = {}  # (region, build) -> ami
    for s, i in zip(sources, src_ids):
        image_of[(s[0], s[1])] = i
    for s, i in zip(copies, copy_ids):
        image_of[(s[0], s[1])] = i

    # Snapshot ids of the images (one listing per region).
    snap_of = {}
    for region in REGIONS:
        for img in client(ep, "ec2", region).describe_images(Owners=["self"])["Images"]:
            for bdm in img.get("BlockDeviceMappings", []):
                sid = bdm.get("Ebs", {}).get("SnapshotId")
                if sid:
                    snap_of[img["ImageId"]] = sid

    # Tags: family, run UUID, source image (copies), retention, pin.
    groups = {r: collections.defaultdict(list) for r in REGIONS}
    expect = {"keep_images": {}, "keep_snapshots": {}, "amis": n, "builds": builds}
    for (region, b), ami in image_of.items():
        fam = FAMILIES[b % len(FAMILIES)]
        tags, pinned = build_tags(b)
        tags = dict(tags)
        tags["ami-builder:family"] = fam
        snap_tags = frozenset(tags.items())
        tags["ami-builder:packer-run-uuid"] = f"{run_id:08x}-0000-4000-8000-{b:012x}"
        if region == "us-west-2" and ("us-east-1", b) in image_of:
            tags["ami-builder:source-image"] = f"us-east-1:{image_of[('us-east-1', b)]}"
        groups[region][frozenset(tags.items())].append(ami)
        if ami in snap_of:
            groups[region][snap_tags].append(snap_of[ami])
        if pinned:
            expect["keep_images"][ami] = "pinned"
        elif tags.get(RETENTION_TAG) == "none":
            expect["keep_images"][ami] = "retention-excluded"
        elif tags.get(RETENTION_TAG) == "0900;2;Europe/Pariss":
            expect["keep_images"][ami] = "retention-invalid"
    tag_calls = sum(tag_in_batches(ep, threads, r, groups[r]) for r in REGIONS)
    t_tags = time.perf_counter()

    # Standalone snapshots of ours (orphans): one volume per region, M snapshots.
    vols = {}
    for region in REGIONS:
        vols[region] = client(ep, "ec2", region).create_volume(
            Size=8, AvailabilityZone=f"{region}a"
        )["VolumeId"]

    def snapshot(j):
        region = REGIONS[j % 2]
        tags = orphan_tags(j)
        r = client(ep, "ec2", region).create_snapshot(
            VolumeId=vols[region],
            Description=f"ami-builder bench orphan {j}",
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
        return region, r["SnapshotId"], tags

    orphans = pmap(threads, snapshot, range(m))
    t_snaps = time.perf_counter()

    # Uses: pick images that would otherwise expire (retention 0900;1, not pinned,
    # not among the newest builds: the oldest builds).
    def expiring(region, count, skip=0):
        out = []
        for b in range(builds):
            if b % 20 <= 9 and not build_tags(b)[1] and (region, b) in image_of:
                if skip:
                    skip -= 1
                    continue
                out.append(image_of[(region, b)])
                if len(out) == count:
                    break
        return out

    for region in REGIONS:
        ec2 = client(ep, "ec2", region)
        asg = client(ep, "autoscaling", region)
        picks = expiring(region, 12)
        if len(picks) < 12:
            continue  # too few AMIs for uses; protections are checked only when seeded
        states = ["running", "running", "stopped", "stopped", "terminated", "terminated"]
        for ami, state in zip(picks[:6], states):
            iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro")[
                "Instances"
            ][0]["InstanceId"]
            if state == "stopped":
                ec2.stop_instances(InstanceIds=[iid])
            elif state == "terminated":
                ec2.terminate_instances(InstanceIds=[iid])
            if state != "terminated":
                expect["keep_images"][ami] = "in-use"
        lt = ec2.create_launch_template(
            LaunchTemplateName=f"bench-a-{region}",
            LaunchTemplateData={"ImageId": picks[6], "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]
        # Version 2 is not the default: it still protects its image.
        ec2.create_launch_template_version(
            LaunchTemplateId=lt, LaunchTemplateData={"ImageId": picks[7], "InstanceType": "t3.micro"}
        )
        ec2.create_launch_template(
            LaunchTemplateName=f"bench-b-{region}",
            LaunchTemplateData={"ImageId": picks[8], "InstanceType": "t3.micro"},
        )
        for ami in picks[6:9]:
            expect["keep_images"][ami] = "in-use"
        asg.create_launch_configuration(
            LaunchConfigurationName=f"bench-lc-{region}", ImageId=picks[9], InstanceType="t3.micro"
        )
        expect["keep_images"][picks[9]] = "in-use"
        for ami in picks[10:12]:
            ec2.modify_image_attribute(
                ImageId=ami, LaunchPermission={"Add": [{"UserId": OTHER_ACCOUNT}]}
            )
            expect["keep_images"][ami] = "shared"
        shared_snaps = [s for (r, s, t) in orphans if r == region and t.get(RETENTION_TAG) == "0900;1"][:2]
        for sid in shared_snaps:
            ec2.modify_snapshot_attribute(
                SnapshotId=sid,
                Attribute="createVolumePermission",
                OperationType="add",
                UserIds=[OTHER_ACCOUNT],
            )
            expect["keep_snapshots"][sid] = "shared"
    t_uses = time.perf_counter()
    for region, sid, tags in orphans:
        if tags.get(RETENTION_TAG) == "none":
            expect["keep_snapshots"].setdefault(sid, "retention-excluded")

    with open(a.expect, "w") as f:
        json.dump(expect, f)
    print(
        f"seeded {len(image_of)} AMIs (+{len(snap_of)} snapshots by moto) and {m} standalone "
        f"snapshots on {threads} threads in {time.perf_counter() - t0:.1f} s: "
        f"register {t_reg - t0:.1f} s, tags {t_tags - t_reg:.1f} s ({tag_calls} CreateTags), "
        f"snapshots {t_snaps - t_tags:.1f} s, uses {t_uses - t_snaps:.1f} s",
        file=sys.stderr,
    )


def list_all(fn, key, **kw):
    """All items of a paginated listing, and the largest page the server returned."""
    items, biggest, token = [], 0, None
    while True:
        args = dict(kw)
        if token:
            args["NextToken"] = token
        page = fn(**args)
        got = page.get(key, [])
        items.extend(got)
        biggest = max(biggest, len(got))
        token = page.get("NextToken")
        if not token:
            return items, biggest


def counts(a):
    out = {}
    for region in REGIONS:
        ec2 = client(a.endpoint, "ec2", region)
        asg = client(a.endpoint, "autoscaling", region)
        secs = {}
        sent = {}

        def on_send(event_name, **_):
            sent["t"] = time.perf_counter()

        def on_parse(event_name, **_):
            # Request sent -> whole response read, before boto3 parses it.
            op = event_name.split(".")[-1]
            secs[op] = secs.get(op, 0.0) + time.perf_counter() - sent.get("t", time.perf_counter())

        for c in (ec2, asg):
            c.meta.events.register("before-send", on_send)
            c.meta.events.register("before-parse", on_parse)

        images, ipage = list_all(ec2.describe_images, "Images", Owners=["self"], MaxResults=1000)
        snaps, spage = list_all(
            ec2.describe_snapshots, "Snapshots", OwnerIds=["self"], MaxResults=1000
        )
        res, _ = list_all(ec2.describe_instances, "Reservations", MaxResults=1000)
        instances = sum(len(r["Instances"]) for r in res)
        lts, _ = list_all(ec2.describe_launch_templates, "LaunchTemplates", MaxResults=200)
        versions = []
        for t in lts:
            v, _ = list_all(
                ec2.describe_launch_template_versions,
                "LaunchTemplateVersions",
                LaunchTemplateId=t["LaunchTemplateId"],
                MaxResults=200,
            )
            versions.append(len(v))
        lcs = asg.describe_launch_configurations(MaxRecords=100)[
            "LaunchConfigurations"
        ]
        groups = asg.describe_auto_scaling_groups(MaxRecords=100)["AutoScalingGroups"]
        for c in (ec2, asg):
            c.meta.events.unregister("before-send", on_send)
            c.meta.events.unregister("before-parse", on_parse)
        out[region] = {
            "images": len(images),
            "snapshots": len(snaps),
            "instances": instances,
            "launch_templates": len(lts),
            "launch_template_versions": versions,
            "launch_configurations": len(lcs),
            "auto_scaling_groups": len(groups),
            # Largest page this server returned for MaxResults=1000.
            "images_page": ipage,
            "snapshots_page": spage,
            # Seconds from sending each of these listing calls to having read
            # the whole response (boto3's parsing left out): the server's share
            # of a prune run's listing.
            "seconds": secs,
            "image_ids": sorted(i["ImageId"] for i in images),
            "snapshot_ids": sorted(s["SnapshotId"] for s in snaps),
        }
    with open(a.out, "w") as f:
        json.dump(out, f)


def verify(a):
    fails = []
    expect = json.load(open(a.expect))
    plan_only = json.load(open(a.plan))
    applied = json.load(open(a.apply))
    before = json.load(open(a.before))

    def deletions(report):
        return {(i["kind"], i["region"], i["id"]) for i in report["plan"]["items"] if i["action"] == "delete"}

    planned = deletions(applied)
    if deletions(plan_only) != planned:
        d1, d2 = deletions(plan_only), planned
        fails.append(
            f"the plan-only run and the apply planned different deletions "
            f"({len(d1 - d2)} only in the plan, {len(d2 - d1)} only in the apply)"
        )
    items = {(i["kind"], i["id"]): i for i in applied["plan"]["items"]}
    for kind, table in (("image", expect["keep_images"]), ("snapshot", expect["keep_snapshots"])):
        for rid, code in table.items():
            it = items.get((kind, rid))
            if it is None:
                fails.append(f"{kind} {rid} ({code}) is missing from the plan")
            elif it["action"] != "keep" or it["reason"]["code"] != code:
                fails.append(f"{kind} {rid}: expected keep ({code}), plan says {it['action']} ({it['reason']['code']})")
    if not applied.get("applied"):
        fails.append("the apply report says applied=false")
    done = {}
    for r in applied.get("results", []):
        done[(r["kind"], r["region"], r["id"])] = r
        if r.get("result") != "done" or r.get("outcome") not in ("deleted", "already-gone"):
            fails.append(f"{r['kind']} {r['region']} {r['id']}: {r.get('result')} {r.get('outcome')} {r.get('error', r.get('why', ''))}")
    missing = planned - set(done)
    if missing:
        fails.append(f"{len(missing)} planned deletion(s) have no result")

    summary = applied["plan"]["summary"]
    kept_images = {(i["region"], i["id"]) for i in applied["plan"]["items"] if i["kind"] == "image" and i["action"] == "keep"}
    del_snaps = {(r, i) for (k, r, i) in planned if k == "snapshot"}
    left_images, left_snaps = set(), set()
    for region in REGIONS:
        ec2 = client(a.endpoint, "ec2", region)
        imgs, _ = list_all(ec2.describe_images, "Images", Owners=["self"], MaxResults=1000)
        snaps, _ = list_all(ec2.describe_snapshots, "Snapshots", OwnerIds=["self"], MaxResults=1000)
        left_images |= {(region, i["ImageId"]) for i in imgs}
        left_snaps |= {(region, s["SnapshotId"]) for s in snaps}
    before_snaps = {(r, s) for r in REGIONS for s in before[r]["snapshot_ids"]}
    before_images = {(r, i) for r in REGIONS for i in before[r]["image_ids"]}
    if len(left_images) != summary["images_to_keep"]:
        fails.append(f"{len(left_images)} image(s) left, the plan keeps {summary['images_to_keep']}")
    if left_images != kept_images:
        fails.append(
            f"images left differ from the plan's: {len(left_images - kept_images)} not planned to stay, "
            f"{len(kept_images - left_images)} planned to stay but gone"
        )
    if left_snaps != before_snaps - del_snaps:
        fails.append(
            f"snapshots left ({len(left_snaps)}) are not those before ({len(before_snaps)}) minus the "
            f"{len(del_snaps)} planned deletions: {len(left_snaps & del_snaps)} planned but still there, "
            f"{len((before_snaps - del_snaps) - left_snaps)} gone without being planned"
        )
    print(
        json.dumps(
            {
                "images_before": len(before_images),
                "images_left": len(left_images),
                "images_to_keep": summary["images_to_keep"],
                "snapshots_before": len(before_snaps),
                "snapshots_left": len(left_snaps),
                "snapshots_deleted": len(del_snaps),
                "protected_checked": len(expect["keep_images"]) + len(expect["keep_snapshots"]),
            }
        )
    )
    for f in fails[:20]:
        print(f"FAIL: {f}", file=sys.stderr)
    if len(fails) > 20:
        print(f"FAIL: ... and {len(fails) - 20} more", file=sys.stderr)
    sys.exit(1 if fails else 0)


def ceil_pages(count, page):
    """Calls a paginated listing needs for count items at page items a call (at least 1)."""
    return max(1, -(-count // max(page, 1)))


def calls(a):
    """Actual listing calls of a prune run against the minimum the page sizes allow.

    Prints one tab-separated line per operation: op, actual, minimum at AWS's
    largest page sizes, actual/that, minimum with this server's pages (moto
    answers some listings in one page whatever MaxResults says), actual/that.
    Then the per-candidate attribute calls: op, actual, final deletions of
    that kind (a lower bound: the first pass also checks what turns out shared).
    """
    before = json.load(open(a.before))
    report = json.load(open(a.report))
    actual = report.get("api_calls", {})
    aws, server = collections.Counter(), collections.Counter()
    for r in REGIONS:
        c = before[r]
        aws["ec2:DescribeImages"] += ceil_pages(c["images"], 1000)
        server["ec2:DescribeImages"] += ceil_pages(c["images"], max(c["images_page"], 1))
        aws["ec2:DescribeSnapshots"] += ceil_pages(c["snapshots"], 1000)
        server["ec2:DescribeSnapshots"] += ceil_pages(c["snapshots"], max(c["snapshots_page"], 1))
        aws["ec2:DescribeInstances"] += ceil_pages(c["instances"], 1000)
        aws["ec2:DescribeLaunchTemplates"] += ceil_pages(c["launch_templates"], 200)
        aws["ec2:DescribeLaunchTemplateVersions"] += sum(ceil_pages(v, 200) for v in c["launch_template_versions"])
        aws["autoscaling:DescribeLaunchConfigurations"] += ceil_pages(c["launch_configurations"], 100)
        aws["autoscaling:DescribeAutoScalingGroups"] += ceil_pages(c.get("auto_scaling_groups", 0), 100)
    for op in aws:
        server.setdefault(op, aws[op])
    rows = []
    ops = list(aws) + [op for op in actual if op not in aws and "Attribute" not in op]
    for op in ops:
        n = actual.get(op, 0)
        lo, slo = aws.get(op, 0), server.get(op, 0)
        rows.append([op, n, lo, f"{n / lo:.2f}" if lo else "-", slo, f"{n / slo:.2f}" if slo else "-"])
    tot = sum(r[1] for r in rows)
    tlo = sum(r[2] for r in rows)
    tslo = sum(r[4] for r in rows)
    rows.append(["listing total", tot, tlo, f"{tot / tlo:.2f}" if tlo else "-", tslo, f"{tot / tslo:.2f}" if tslo else "-"])
    for r in rows:
        print("LIST\t" + "\t".join(str(x) for x in r))
    summary = report["plan"]["summary"]
    for op, kind in (("ec2:DescribeImageAttribute", "images_to_delete"), ("ec2:DescribeSnapshotAttribute", "snapshots_to_delete")):
        print(f"ATTR\t{op}\t{actual.get(op, 0)}\t{summary[kind]}")


def tail_seconds(a):
    """Seconds spanned by the last K requests in lines SKIP+1..UPTO of moto's request log
    (werkzeug logs each request when it is answered, to the second): the
    deletion phase of an apply, whose deletions are its last requests."""
    import datetime
    import re

    stamps = []
    with open(a.log) as f:
        for n, line in enumerate(f, 1):
            if n <= a.skip:
                continue
            if a.upto and n > a.upto:
                break
            m = re.search(r"\[(\d+/\w+/\d+ \d+:\d+:\d+)\] \"", line)
            if m:
                stamps.append(datetime.datetime.strptime(m.group(1), "%d/%b/%Y %H:%M:%S"))
    if len(stamps) < a.last or a.last < 1:
        print("-")
        return
    # The first of the K answered in second s started at most 1 s earlier.
    print(f"{(stamps[-1] - stamps[-a.last]).total_seconds() + 1:.0f}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--amis", type=int, required=True)
    s.add_argument("--extra-snapshots", type=int, required=True)
    s.add_argument("--expect", required=True)
    s.add_argument("--threads", type=int, default=8)
    c = sub.add_parser("counts")
    c.add_argument("--endpoint", required=True)
    c.add_argument("--out", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--endpoint", required=True)
    v.add_argument("--expect", required=True)
    v.add_argument("--plan", required=True)
    v.add_argument("--apply", required=True)
    v.add_argument("--before", required=True)
    k = sub.add_parser("calls")
    k.add_argument("--before", required=True)
    k.add_argument("--report", required=True)
    t = sub.add_parser("tail-seconds")
    t.add_argument("--log", required=True)
    t.add_argument("--skip", type=int, default=0)
    t.add_argument("--upto", type=int, default=0)
    t.add_argument("--last", type=int, required=True)
    a = p.parse_args()
    {"seed": seed, "counts": counts, "verify": verify, "calls": calls, "tail-seconds": tail_seconds}[a.cmd](a)


if __name__ == "__main__":
    main()
