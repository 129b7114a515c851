#!/usr/bin/env python3
"""Tests examples/race under ThreadSanitizer: `test_race.py path/to/race` (TSan builds only).

1. `race racy` is reported: its stderr has "WARNING: ThreadSanitizer: data race" whose two
   accesses (the first two stacks of the report) both have their top frame in race.cpp,
   and it exits with TSan's status 66. Run twice: with halt_on_error=1 (TSan stops the
   program at the report; tools/dev exports it) and with halt_on_error=0 (it runs to the
   end, prints its count, then fails).
2. `race mutex` and `race channel` exit 0, count 1,000,000 and TSan prints nothing.

GOMAXPROCS=2: TSan can only see the race between tasks on two worker threads (the
scheduler orders tasks that run one after another, see race.cpp), so there must be two,
whatever the machine. TSAN_OPTIONS is the caller's plus our settings, which win (TSan
reads its options left to right). Each run is bounded by a timeout.
"""
import os
import re
import subprocess
import sys

TIMEOUT_S = 60  # a run takes a few seconds under TSan; meson allows the 4 runs 300 s
EXPECTED = 1_000_000  # 1,000 tasks x 1,000 increments
TSAN_EXITCODE = 66
RACE_WARNING = "WARNING: ThreadSanitizer: data race"
# "  Write of size 4 at 0x... by thread T2:" (or "Previous read ...", "by main thread")
# followed by the access's stack; group 1 is its top frame.
ACCESS_TOP_FRAME = re.compile(r"^  (?:Previous )?(?:read|write|Read|Write) of size \d+ at .*:\n\s+#0 (.*)$", re.MULTILINE)


def run(race, mode, halt_on_error):
    env = dict(os.environ)
    env["GOMAXPROCS"] = "2"
    env["TSAN_OPTIONS"] = f"{env.get('TSAN_OPTIONS', '')} halt_on_error={halt_on_error} exitcode={TSAN_EXITCODE}"
    p = subprocess.run([race, mode], env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    return p.returncode, p.stdout, p.stderr


def check_racy(race, halt_on_error):
    """Problems with `race racy`'s report; empty if TSan reported the race as it should."""
    what = f"race racy (halt_on_error={halt_on_error})"
    status, out, err = run(race, "racy", halt_on_error)
    problems = []
    if status != TSAN_EXITCODE:
        problems.append(f"{what}: exit status {status}, expected TSan's {TSAN_EXITCODE}")
    if RACE_WARNING not in err:
        problems.append(f"{what}: no data race reported")
    else:
        report = err[err.index(RACE_WARNING):]
        tops = ACCESS_TOP_FRAME.findall(report[:report.find("SUMMARY:")])
        if len(tops) != 2 or not all("race.cpp" in frame for frame in tops):
            problems.append(f"{what}: the two accesses' top frames are not both in race.cpp: {tops}")
    if halt_on_error == 0 and not re.search(rf"^racy +counter = \d+ after {EXPECTED} increments", out, re.MULTILINE):
        problems.append(f"{what}: it did not run to the end and print its count: {out!r}")
    if problems:
        problems.append(f"{what}: its stderr:\n{err}")
    return problems


def check_fixed(race, mode):
    """Problems with a fixed version's run; empty if it counted right and TSan said nothing."""
    what = f"race {mode}"
    status, out, err = run(race, mode, 1)
    problems = []
    if status != 0:
        problems.append(f"{what}: exit status {status}")
    if "ThreadSanitizer" in err:
        problems.append(f"{what}: TSan reported:\n{err}")
    if f"counter = {EXPECTED} after {EXPECTED} increments" not in out:
        problems.append(f"{what}: wrong count: {out!r}")
    return problems


def main():
    race = sys.argv[1]
    problems = check_racy(race, 1) + check_racy(race, 0) + check_fixed(race, "mutex") + check_fixed(race, "channel")
    for p in problems:
        print("FAIL:", p)
    if problems:
        return 1
    print(f"racy: the data race reported at race.cpp; mutex and channel: {EXPECTED}, no report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
