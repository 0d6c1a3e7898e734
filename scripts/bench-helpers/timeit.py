#!/usr/bin/env python3
"""Time a command for `scripts/bench`.

Usage: timeit.py [--runs N] [--warmup W] [--stdout FILE] [--stderr FILE]
                 [--expect-rc RC] [--end-file FILE] [--clean DIR] -- COMMAND [ARGS...]

Runs COMMAND W times untimed (warm-up: page cache, binary), then N times timed
by wall clock (perf_counter around spawn and wait), with stdin from /dev/null,
stdout to FILE (default /dev/null; give a real file for tools such as GNU grep
that notice /dev/null and stop at the first match) and stderr to FILE
(default: inherited). Every run must exit RC (default 0), else timeit exits 1.

With --clean, DIR is removed (untimed) before every run, so that each run
starts as on a fresh CI machine (no truncation of the previous run's logs).

With --end-file, something inside COMMAND (fake-packer, via BENCH_FAKE_END)
writes an epoch timestamp to FILE when it is done; the time from the start of
the run to that timestamp is reported too ("phase": e.g. until Packer ended,
leaving out what `ami-builder build` does afterwards).

Prints one line: "BEST MEDIAN PHASE_BEST PHASE_MEDIAN" in seconds (the phase
fields are "-" without --end-file). Peak RSS is not measured here: a forked
Python's own RSS would leak into the child's ru_maxrss; scripts/bench uses
/usr/bin/time -v for that. Stdlib only.
"""
import argparse
import os
import shutil
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
    p.add_argument("--clean", default=None)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd or a.runs < 1 or a.warmup < 0:
        sys.exit("timeit: need a command, --runs >= 1 and --warmup >= 0")

    walls, phases = [], []
    for i in range(a.warmup + a.runs):
        if a.end_file and os.path.exists(a.end_file):
            os.unlink(a.end_file)
        if a.clean:
            shutil.rmtree(a.clean, ignore_errors=True)
        with open(os.devnull, "rb") as stdin, open(a.stdout, "wb") as out, \
                open(a.stderr if a.stderr else os.devnull, "ab") as err:
            t_epoch = time.time()
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=out,
                                    stderr=err if a.stderr else None)
            rc = proc.wait()
            wall = time.perf_counter() - t0
        if rc != a.expect_rc:
            sys.stderr.write(f"timeit: `{' '.join(cmd)}` exited {rc}, expected {a.expect_rc}\n")
            sys.exit(1)
        if a.end_file:
            try:
                with open(a.end_file) as f:
                    end = float(f.read().strip())
            except (OSError, ValueError) as e:
                sys.stderr.write(f"timeit: no end timestamp in {a.end_file} ({e}): "
                                 "the fake packer did not run to its end\n")
                sys.exit(1)
        if i < a.warmup:
            continue
        walls.append(wall)
        if a.end_file:
            phases.append(end - t_epoch)

    def two(xs):
        return f"{min(xs):.4f} {statistics.median(xs):.4f}" if xs else "- -"

    print(two(walls), two(phases))


if __name__ == "__main__":
    main()
