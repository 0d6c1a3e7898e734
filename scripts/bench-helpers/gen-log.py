#!/usr/bin/env python3
"""Write a big human-format Packer log for `scripts/bench`.

Usage: gen-log.py OUT SIZE_MIB FIXTURE_DIR EXPECTED_EXTRACT

The body is real Packer progress and provisioner lines (from ebs1.out and
ebs-prov.out: `==> amazon-ebs: ...`, `AMI: ami-...`, `Found Image ID`, the
provisioner's output, `-timestamp-ui` prefixes) repeated until the file is
SIZE_MIB MiB, written as one ~4 MiB block at a time. The real artifact summary
of ebs1.out ("==> Builds finished ..." then "--> amazon-ebs: AMIs were
created:" and its region lines, printed twice as with a manifest
post-processor) closes the file. EXPECTED_EXTRACT receives what
`ami-builder extract` must print for it (one `REGION AMI_ID` per line).
Stdlib only.
"""
import os
import re
import sys

# Lines containing one of these belong to the summary, not to the repeated body.
SUMMARY_MARKERS = (
    "AMIs were created",
    "Builds finished",
    "finished after",
    "Wait completed",
    "errored",
    "Some builds didn't",
    "Cancelling build",
)
REGION_LINE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}): (ami-[0-9a-f]+)$")


def body_lines(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if any(m in line for m in SUMMARY_MARKERS):
                break  # the summary starts: the body is over
            out.append(line)
    return out


def summary(path):
    """From the 'Build ... finished' line to the end of the file, verbatim."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("Build '") and "finished" in line:
            return "\n".join(lines[i:]).rstrip("\n") + "\n"
    sys.exit(f"gen-log: no 'Build ... finished' line in {path}")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    out, size_mib, fixtures, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if size_mib < 1:
        sys.exit("gen-log: SIZE_MIB must be >= 1")
    ebs1 = os.path.join(fixtures, "ebs1.out")
    prov = os.path.join(fixtures, "ebs-prov.out")
    unit = body_lines(ebs1) + body_lines(prov)
    if not unit:
        sys.exit("gen-log: no body lines found in the fixtures")
    unit_text = "\n".join(unit) + "\n"
    tail = summary(ebs1)

    # Guard: the body must not itself look like an artifact block.
    for m in SUMMARY_MARKERS:
        if m in unit_text:
            sys.exit(f"gen-log: body contains summary marker {m!r}")

    block = (unit_text * (4 * 1024 * 1024 // len(unit_text) + 1)).encode()
    target = size_mib * 1024 * 1024 - len(tail.encode())
    written = 0
    with open(out, "wb", buffering=0) as f:
        while written + len(block) <= target:
            f.write(block)
            written += len(block)
        # Fill up to the target with whole unit lines (never a cut line).
        rest = target - written
        partial = block[:rest]
        cut = partial.rfind(b"\n") + 1
        f.write(partial[:cut])
        written += cut
        f.write(tail.encode())
        written += len(tail.encode())

    # What extract must print: the summary's region lines, deduplicated, sorted.
    pairs = sorted({(m.group(1), m.group(2))
                    for m in (REGION_LINE.match(l) for l in tail.split("\n")) if m})
    if not pairs:
        sys.exit("gen-log: the summary has no region lines")
    with open(expected, "w", encoding="utf-8") as f:
        for region, ami in pairs:
            f.write(f"{region} {ami}\n")
    print(f"{written} bytes, {len(unit)} distinct body lines, {len(pairs)} artifact(s)")


if __name__ == "__main__":
    main()
