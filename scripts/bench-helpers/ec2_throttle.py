#!/usr/bin/env python3
"""A loopback proxy in front of moto that throttles EC2 as EC2 does, for
`scripts/bench-prune` (not a test of ami-builder; benchmark infrastructure).

  ec2_throttle.py --port P --upstream http://127.0.0.1:M [--mode throttle|count]

Every request is forwarded to the upstream (moto) unchanged, and counted by
(region, service, action, bucket). EC2 requests (signing name `ec2` in the
SigV4 credential scope; query protocol, `Action=` in the form body) first
take a token from their bucket; when it is empty the proxy answers as EC2
does, HTTP 503 with the error code `RequestLimitExceeded`, and forwards
nothing. Other services pass through, counted but never throttled.

The buckets are EC2's documented request token buckets ("Request throttling
for the Amazon EC2 API", EC2 Developer Guide, section "Request token bucket
sizes and refill rates"): each API has its own bucket in each region, sized
and refilled by the API's category (non-mutating `Describe*`/`List*`/
`Search*`/`Get*` 100 tokens refilled 20 a second; the listed "unfiltered and
unpaginated" actions, when called with neither a filter nor pagination, 50
and 10; mutating 50 and 5), except the "uncategorized actions", which have a
size and rate of their own (`DeregisterImage` and `DeleteSnapshot` 100 and 5,
`CreateTags` 100 and 10, ...; the subset below is the one ami-builder and
cloud-custodian call). A bucket starts full. EC2 adds its tokens once a
second; this proxy adds them continuously at the same rate, so that the
lower bound it reports, (calls - size) / rate for the fullest bucket, is
exact for it.

Control, on the proxy's own port (never forwarded):
  POST /_throttle/reset?mode=throttle|count[&per=key]
                                              zero the counts, refill every bucket
                                              (per=key: a bucket per access key, as
                                              EC2 has one per account)
  GET  /_throttle/stats                       JSON: per bucket sent/throttled, the lower bound
"""
import argparse
import http.client
import http.server
import json
import re
import sys
import threading
import time
import urllib.parse

# Documented per-action sizes and refill rates ("uncategorized actions").
UNCATEGORIZED = {
    "CopyImage": (100, 1),
    "CreateLaunchTemplateVersion": (100, 5),
    "CreateSnapshot": (100, 5),
    "CreateTags": (100, 10),
    "CreateVolume": (100, 5),
    "DeleteSnapshot": (100, 5),
    "DeleteTags": (100, 10),
    "DeleteVolume": (100, 5),
    "DeregisterImage": (100, 5),
    "ModifyImageAttribute": (100, 5),
    "ModifyLaunchTemplate": (100, 5),
    "ModifySnapshotAttribute": (100, 5),
    "RunInstances": (5, 2),
    "StartInstances": (5, 2),
    "TerminateInstances": (100, 5),
}
# Non-mutating actions that take a smaller bucket when called with neither a
# filter nor pagination.
UNFILTERED = {
    "DescribeInstances",
    "DescribeInstanceStatus",
    "DescribeNetworkInterfaces",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeSpotInstanceRequests",
    "DescribeVolumes",
}
NON_MUTATING = (100, 20)
UNFILTERED_SIZE = (50, 10)
MUTATING = (50, 5)

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_KEY = re.compile(r"Credential=([^/]+)/")


def classify(action, params):
    """(bucket name, (size, refill per second)) of an EC2 request."""
    if action in UNCATEGORIZED:
        return action, UNCATEGORIZED[action]
    if action.startswith(("Describe", "List", "Search", "Get")):
        if action in UNFILTERED and not any(
            k.startswith("Filter.") or k in ("MaxResults", "NextToken") for k in params
        ):
            return action + " (unfiltered, unpaginated)", UNFILTERED_SIZE
        return action, NON_MUTATING
    return action, MUTATING


class Bucket:
    def __init__(self, size, rate, now):
        self.size, self.rate = size, rate
        self.tokens, self.at = float(size), now

    def take(self, now):
        self.tokens = min(self.size, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class State:
    def __init__(self, mode):
        self.lock = threading.Lock()
        self.reset(mode)

    def reset(self, mode, per="region"):
        with self.lock:
            self.mode = mode
            # EC2's buckets are each account's own; `per=key` keys them by
            # the access key too (one key per account here: each assumed
            # role's session), for runs across several accounts
            self.per_key = per == "key"
            self.buckets = {}  # (region, bucket) -> Bucket
            self.counts = {}  # (region, service, action, bucket) -> [sent, throttled]
            self.spans = {}  # (region, bucket) -> [first, last] call forwarded
            self.first = self.last = None

    def admit(self, region, service, action, bucket, limits):
        """True when the request may be forwarded; counts it either way."""
        now = time.monotonic()
        with self.lock:
            self.first = now if self.first is None else self.first
            self.last = now
            c = self.counts.setdefault((region, service, action, bucket), [0, 0, limits])
            ok = True
            if self.mode == "throttle" and limits is not None:
                b = self.buckets.get((region, bucket))
                if b is None:
                    b = self.buckets[(region, bucket)] = Bucket(limits[0], limits[1], now)
                ok = b.take(now)
            c[0 if ok else 1] += 1
            if ok:
                span = self.spans.setdefault((region, bucket), [now, now])
                span[1] = now
            return ok

    def stats(self):
        with self.lock:
            rows, bound, slowest = [], 0.0, None
            for (region, service, action, bucket), (sent, throttled, limits) in sorted(
                self.counts.items()
            ):
                row = {"region": region, "service": service, "action": action, "bucket": bucket,
                       "sent": sent, "throttled": throttled}
                if limits is not None:
                    row["size"], row["rate"] = limits
                rows.append(row)
            # Calls of one bucket can only be spread over time by its refill:
            # the whole run cannot be shorter than its fullest bucket allows.
            per_bucket = {}
            for r in rows:
                if "size" in r:
                    k = (r["region"], r["bucket"])
                    per_bucket.setdefault(k, [0, r["size"], r["rate"]])[0] += r["sent"]
            for (region, bucket), (sent, size, rate) in per_bucket.items():
                s = max(0.0, (sent - size) / rate)
                if s > bound:
                    bound, slowest = s, f"{bucket} in {region} ({sent} calls, {size} + {rate}/s)"
            span = (self.last - self.first) if self.first is not None else 0.0
            # when each bucket's first and last forwarded call came, from
            # the run's first call: whether the fullest bucket was drained
            # from the start, or waited for the calls before it
            spans = {f"{b} in {r}": [round(a - self.first, 3), round(z - self.first, 3)]
                     for (r, b), (a, z) in sorted(self.spans.items())}
            return {"mode": self.mode, "calls": rows, "lower_bound_seconds": round(bound, 3),
                    "bucket_spans": spans,
                    "slowest_bucket": slowest, "span_seconds": round(span, 3),
                    "sent": sum(r["sent"] for r in rows),
                    "throttled": sum(r["throttled"] for r in rows)}


THROTTLED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded'
    "</Code><Message>Request limit exceeded.</Message></Error></Errors>"
    "<RequestID>00000000-0000-4000-8000-000000000000</RequestID></Response>"
).encode()
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


def handler(state, upstream):
    up = urllib.parse.urlsplit(upstream)
    local = threading.local()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body, ctype):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/_throttle/stats"):
                return self.reply(200, json.dumps(state.stats()).encode(), "application/json")
            self.forward()

        def do_POST(self):
            if self.path.startswith("/_throttle/reset"):
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                mode = q.get("mode", [state.mode])[0]
                per = q.get("per", ["region"])[0]
                if mode not in ("throttle", "count") or per not in ("region", "key"):
                    return self.reply(400, b"mode is throttle or count, per region or key\n",
                                      "text/plain")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                state.reset(mode, per)
                return self.reply(200, b"{}", "application/json")
            self.forward()

        do_PUT = do_DELETE = do_HEAD = do_PATCH = do_POST

        def forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            m = _SCOPE.search(self.headers.get("Authorization", ""))
            region, service = (m.group(1), m.group(2)) if m else ("-", "-")
            if state.per_key:
                k = _KEY.search(self.headers.get("Authorization", ""))
                region = f"{region}@{k.group(1) if k else '-'}"
            action, bucket, limits = "-", "-", None
            ctype = self.headers.get("Content-Type", "")
            if "x-www-form-urlencoded" in ctype:
                params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
                action = params.get("Action", "-")
                if service == "ec2":
                    bucket, limits = classify(action, params)
            elif "X-Amz-Target" in self.headers:
                action = self.headers["X-Amz-Target"].rsplit(".", 1)[-1]
            if not state.admit(region, service, action, bucket, limits):
                return self.reply(503, THROTTLED, "text/xml;charset=UTF-8")
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(up.hostname, up.port, timeout=600)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                local.conn = None
                conn.close()
                return self.reply(502, b"upstream failed\n", "text/plain")
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--mode", choices=["throttle", "count"], default="count")
    a = p.parse_args()
    state = State(a.mode)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), handler(state, a.upstream))
    server.daemon_threads = True
    print(f"ec2_throttle: 127.0.0.1:{a.port} -> {a.upstream} ({a.mode})", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
