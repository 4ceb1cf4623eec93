"""Shows that `make iam` catches every missing permission: removes each action the template
allows, one at a time, runs the suite, and expects it to fail with that AccessDenied.

    .venv/bin/python scripts/iam/mutate.py [--only IDENTITY/STATEMENT/ACTION ...] [--binaries DIR]

Without --only: every action of every identity's own statements (AWS managed policies cannot be
edited), except the CloudWatch Logs actions, which Lambda uses on the function's behalf and no
local process does. Prints a table (also written to target/iam/mutations.md) and exits non-zero
if any removal went unnoticed or was noticed as something else than its own AccessDenied.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import render
import stack

# Lambda writes the function's logs with these; the code never calls them.
SERVICE_SIDE = re.compile(r"^logs:")
DENIAL = re.compile(r"AccessDenied: (\S+)(?: \(function [^)]*\))? may not (\S+) on (\S+)")


def candidates(template: str) -> list[str]:
    sam = render.load(template)
    cfn = render.translate(sam, "mutations")
    identities = render.identities(cfn, render.functions(cfn, sam))
    return [spec for spec in render.template_actions(cfn, identities) if not SERVICE_SIDE.match(spec.split("/")[-1])]


def attempt(spec: str, template: str, binaries: str) -> tuple[str, str, float]:
    """(verdict, what was seen, seconds) for one removal."""
    identity, _, action = spec.split("/", 2)
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("run.py")), "--template", template, "--binaries", binaries,
         "--remove", spec],
        capture_output=True,
        text=True,
        timeout=900,
    )
    elapsed = time.monotonic() - began
    output = result.stdout + result.stderr
    denial = DENIAL.search(output)
    if result.returncode == 0:
        return "MISSED", "the suite passed without it", elapsed
    if denial and denial.group(1) == identity and denial.group(2) == action:
        return "caught", f"AccessDenied {denial.group(2)} on {denial.group(3)}", elapsed
    failed = next((line for line in output.splitlines() if "FAILED" in line), output.strip().splitlines()[-1:])
    return "OTHER", f"failed without its AccessDenied: {str(failed)[:300]}", elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default=str(stack.ROOT / "template.yaml"))
    parser.add_argument("--binaries", default=str(stack.ROOT / "target/debug"))
    parser.add_argument("--only", action="append", default=[], metavar="IDENTITY/STATEMENT/ACTION")
    args = parser.parse_args(argv)
    specs = args.only or candidates(args.template)
    rows = ["| identity | statement | removed action | result | seen | s |", "| --- | --- | --- | --- | --- | --- |"]
    bad = 0
    for spec in specs:
        verdict, seen, elapsed = attempt(spec, args.template, args.binaries)
        bad += verdict != "caught"
        identity, statement, action = spec.split("/", 2)
        rows.append(f"| {identity} | {statement} | {action} | {verdict} | {seen} | {elapsed:.0f} |")
        print(f"mutate: {verdict:6} {spec}: {seen} ({elapsed:.0f} s)", flush=True)
    table = "\n".join(rows) + "\n"
    out = stack.ROOT / "target/iam/mutations.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table, encoding="utf-8")
    print(table)
    print(f"mutate: {len(specs) - bad} of {len(specs)} removals caught by their own AccessDenied; table in {out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
