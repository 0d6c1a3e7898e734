#!/usr/bin/env python3
"""Time a command for `scripts/bench`.

Usage: timeit.py [--runs N] [--warmup W] [--stdout FILE] [--stderr FILE]
                 [--expect-rc RC] [--end-file FILE] -- COMMAND [ARGS...]

Runs COMMAND W times untimed, then N times timed (wall clock, perf_counter),
with stdin from /dev/null, stdout to FILE (default /dev/null; a real file by
choice, so that no tool can notice /dev/null and stop early) and stderr to
FILE (default: inherited). Every run must exit RC (default 0), else it exits 1.

With --end-file, COMMAND's helper writes an epoch timestamp to that file
(fake-packer's BENCH_FAKE_END); the time from the start of the run to that
timestamp is reported as well ("phase"), e.g. the time until Packer finished.

Prints one line: "best median max_rss_kib phase_best phase_median" (seconds,
KiB; phase fields are "-" without --end-file). Stdlib only.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--stdout", default=os.devnull)
    p.add_argument("--stderr", default=None)
    p.add_argument("--expect-rc", type=int, default=0)
    p.add_argument("--end-file", default=None)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        sys.exit("timeit: no command")

    walls, phases, rss = [], [], 0
    for i in range(a.warmup + a.runs):
        if a.end_file and os.path.exists(a.end_file):
            os.unlink(a.end_file)
        with open(os.devnull, "rb") as stdin, open(a.stdout, "wb") as out:
            err = open(a.stderr, "wb") if a.stderr else None
            try:
                t_epoch = time.time()
                t0 = time.perf_counter()
                proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err)
                _, status, usage = os.wait4(proc.pid, 0)
                wall = time.perf_counter() - t0
            finally:
                if err:
                    err.close()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != a.expect_rc:
            sys.stderr.write(f"timeit: {' '.join(cmd)} exited {proc.returncode}, expected {a.expect_rc}\n")
            sys.exit(1)
        if i < a.warmup:
            continue
        walls.append(wall)
        rss = max(rss, usage.ru_maxrss)  # KiB on Linux
        if a.end_file:
            with open(a.end_file) as f:
                phases.append(float(f.read().strip()) - t_epoch)

    def fmt(xs):
        return ("%.4f %.4f" % (min(xs), statistics.median(xs))) if xs else "- -"

    print(f"{fmt(walls).split()[0]} {fmt(walls).split()[1]} {rss} {fmt(phases)}")


if __name__ == "__main__":
    main()
