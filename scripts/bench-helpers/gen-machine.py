#!/usr/bin/env python3
"""Write the output of the fake `packer build -machine-readable` for `scripts/bench`.

Usage: gen-machine.py OUT UI_LINES FIXTURE EXPECTED_BUILD_LOG

OUT gets UI_LINES `ui` records (the real `ui,say`/`ui,message` records of
FIXTURE, a recorded `packer build -machine-readable` run such as
ebs1.machine.out, cycled, with provisioner output lines
`    amazon-ebs: provisioning line N: ...` in between, each numbered so a lost or
reordered line shows), then FIXTURE's real ending verbatim: "Build ...
finished", "Builds finished", the `artifact,N,...` records of one AMI and the
`--> amazon-ebs: AMIs were created:` ui records.

EXPECTED_BUILD_LOG gets the human text `ami-builder build` must write to
build.log for it: each ui record's message with `%!(PACKER_COMMA)` -> `,`,
`\\n` -> newline and `\\r` removed; other records (artifact, ...) print nothing.
Prints "UI_RECORDS BUILD_LOG_LINES BYTES" on stdout. Stdlib only.
"""
import sys

TS = "1795802755"


def human(line):
    """Mirror of ami_builder::packer::log::human_text for one record."""
    parts = line.split(",", 3)
    if len(parts) < 3 or not parts[0].isdigit() or len(parts[0]) < 6:
        return line
    if parts[2] != "ui":
        return None
    rest = parts[3] if len(parts) > 3 else ""
    msg = rest.split(",", 1)[1] if "," in rest else ""
    return msg.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    out, n, fixture, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with open(fixture, encoding="utf-8") as f:
        rec = [l.rstrip("\n") for l in f if l.strip()]
    end = next((i for i, l in enumerate(rec) if "finished after" in l), None)
    if end is None:
        sys.exit(f"gen-machine: no 'Build ... finished' record in {fixture}")
    # Body: single-line ui records only (a `\n` inside would make 2 build.log lines).
    body = [l for l in rec[:end] if ",ui," in l and "\\n" not in l]
    if not body:
        sys.exit(f"gen-machine: no ui records in {fixture}")
    tail = rec[end:]

    lines = []
    for i in range(n):
        if i % 2 == 0:
            lines.append(body[(i // 2) % len(body)])
        else:
            lines.append(f"{TS},,ui,message,    amazon-ebs: provisioning line {i}: "
                         f"Setting up libexample{i % 97} (1.2.{i % 13}-1ubuntu1) ...")
    lines.extend(tail)
    data = "\n".join(lines) + "\n"
    ui = sum(1 for l in lines if ",ui," in l)
    with open(out, "w", encoding="utf-8") as f:
        f.write(data)
    texts = [h for h in (human(l) for l in lines) if h is not None]
    log = "".join(t + "\n" for t in texts)
    with open(expected, "w", encoding="utf-8") as f:
        f.write(log)
    print(ui, log.count("\n"), len(data.encode()))


if __name__ == "__main__":
    main()
