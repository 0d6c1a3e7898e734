"""The benchmark's throttling proxy (ec2_throttle.py) against the documented
buckets. usage: python -m unittest scripts/bench-helpers/test_ec2_throttle.py
(scripts/test runs it)."""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ec2_throttle  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Buckets(unittest.TestCase):
    def test_categories_are_the_documented_ones(self):
        c = ec2_throttle.classify
        self.assertEqual(c("DeregisterImage", {}), ("DeregisterImage", (100, 5)))
        self.assertEqual(c("DeleteSnapshot", {}), ("DeleteSnapshot", (100, 5)))
        self.assertEqual(c("CreateTags", {}), ("CreateTags", (100, 10)))
        self.assertEqual(c("DescribeImages", {}), ("DescribeImages", (100, 20)))
        self.assertEqual(c("EnableImageDeprecation", {}), ("EnableImageDeprecation", (50, 5)))
        # The smaller bucket only without both a filter and pagination.
        self.assertEqual(c("DescribeSnapshots", {"OwnerId.1": "self"})[1], (50, 10))
        self.assertEqual(c("DescribeSnapshots", {"MaxResults": "1000"})[1], (100, 20))
        self.assertEqual(c("DescribeSnapshots", {"Filter.1.Name": "tag-key"})[1], (100, 20))
        self.assertEqual(c("DescribeImageAttribute", {})[1], (100, 20))

    def test_a_bucket_refills_at_its_rate_up_to_its_size(self):
        b = ec2_throttle.Bucket(2, 5, now=0.0)
        self.assertEqual([b.take(0.0), b.take(0.0), b.take(0.0)], [True, True, False])
        self.assertFalse(b.take(0.1))  # half a token
        self.assertTrue(b.take(0.2))  # one token after 0.2 s at 5 a second
        self.assertTrue(b.take(100.0) and b.take(100.0))
        self.assertFalse(b.take(100.0))  # never more than its size


class Proxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        class Upstream(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        cls.upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
        threading.Thread(target=cls.upstream.serve_forever, daemon=True).start()
        port = free_port()
        cls.url = f"http://127.0.0.1:{port}"
        cls.proxy = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "ec2_throttle.py"), "--port", str(port),
             "--upstream", f"http://127.0.0.1:{cls.upstream.server_address[1]}", "--mode", "throttle"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(cls.url + "/_throttle/stats", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the proxy did not start")

    @classmethod
    def tearDownClass(cls):
        cls.proxy.terminate()
        cls.proxy.wait()
        cls.upstream.shutdown()

    def call(self, action, service="ec2", region="us-east-1", key="testing"):
        req = urllib.request.Request(
            self.url + "/", data=f"Action={action}&Version=2016-11-15".encode(), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                     "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/20261202/{region}/"
                                      f"{service}/aws4_request, SignedHeaders=host, Signature=0"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def reset(self, mode, per="region"):
        urllib.request.urlopen(urllib.request.Request(
            self.url + f"/_throttle/reset?mode={mode}&per={per}", data=b"", method="POST"),
            timeout=5)

    def stats(self):
        return json.load(urllib.request.urlopen(self.url + "/_throttle/stats", timeout=5))

    def test_an_empty_bucket_answers_request_limit_exceeded_and_forwards_nothing(self):
        self.reset("throttle")
        t0 = time.monotonic()
        ok, status, body = 0, None, b""
        while ok < 1000:
            status, body = self.call("DeregisterImage")
            if status != 200:
                break
            ok += 1
        elapsed = time.monotonic() - t0
        self.assertEqual(status, 503)
        self.assertIn(b"<Code>RequestLimitExceeded</Code>", body)
        # The bucket's 100 tokens, and what 5 a second refilled meanwhile.
        self.assertGreaterEqual(ok, 100)
        self.assertLessEqual(ok, 100 + 5 * elapsed + 1)
        # Each API has its own bucket, and so has each region.
        self.assertEqual(self.call("DeleteSnapshot")[0], 200)
        self.assertEqual(self.call("DeregisterImage", region="us-west-2")[0], 200)
        # Other services are never throttled.
        self.assertEqual(self.call("DescribeAutoScalingGroups", service="autoscaling")[0], 200)
        s = self.stats()
        row = next(r for r in s["calls"] if r["action"] == "DeregisterImage" and r["region"] == "us-east-1")
        self.assertEqual((row["sent"], row["throttled"]), (ok, 1))
        self.assertAlmostEqual(s["lower_bound_seconds"], (ok - 100) / 5)

    def test_per_key_each_account_has_buckets_of_its_own(self):
        self.reset("throttle", per="key")
        while self.call("DeregisterImage", key="ASIAONE")[0] == 200:
            pass
        # another account's key: a full bucket of its own
        self.assertEqual(self.call("DeregisterImage", key="ASIATWO")[0], 200)
        self.assertEqual(self.call("DeregisterImage", key="ASIAONE")[0], 503)
        regions = {r["region"] for r in self.stats()["calls"]}
        self.assertEqual(regions, {"us-east-1@ASIAONE", "us-east-1@ASIATWO"})
        self.reset("throttle")

    def test_count_mode_forwards_everything_and_reports_the_bound_of_the_mix(self):
        self.reset("count")
        got = [self.call("DeleteSnapshot")[0] for _ in range(110)]
        self.assertEqual(got, [200] * 110)
        s = self.stats()
        self.assertEqual(s["throttled"], 0)
        self.assertAlmostEqual(s["lower_bound_seconds"], (110 - 100) / 5)
        self.assertIn("DeleteSnapshot in us-east-1", s["slowest_bucket"])
        # when the bucket's first and last call came, from the run's first
        first, last = s["bucket_spans"]["DeleteSnapshot in us-east-1"]
        self.assertEqual(first, 0.0)
        self.assertGreaterEqual(last, first)
        self.assertLessEqual(last, s["span_seconds"])


if __name__ == "__main__":
    unittest.main()
