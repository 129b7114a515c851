#!/usr/bin/env python3
"""Run goro's benchmarks and their Go twins alternately and compare them.

Usage:
  python3 perf/run.py --goro-dir DIR --go-bin PATH [--runs 5] [--only a,b]
                      [--markdown FILE]

Every benchmark process prints one `<metric> <value> <unit>` line per metric
(lines starting with `#` are comments). For each metric the median over all
runs of each side is reported, as `RESULT ...` lines and as a Markdown table.
Exits 1 if any process failed (after running everything else).
"""

import argparse
import os
import statistics
import subprocess
import sys

# name -> (goro binary in --goro-dir, Go subcommand or None if goro-only).
BENCHMARKS = {
    "spawn_join": ("bench_spawn_join", "spawn_join"),
    "skynet": ("bench_skynet", "skynet"),
    "fib": ("bench_fib", "fib"),
    "idle": ("bench_idle", "idle"),
    "pingpong": ("bench_pingpong", "pingpong"),
    "chan_mpmc": ("bench_chan_mpmc", "chan_mpmc"),
    "select4": ("bench_select4", "select4"),
    "ctx_tree": ("bench_ctx_tree", "ctx_tree"),
    "mutex": ("bench_mutex", "mutex"),
    "timers": ("bench_timers", "timers"),
}

TIMEOUT_S = 120
HIGHER_IS_BETTER = {"req/s"}
TIME_UNITS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}  # in ns


def run_once(cmd):
    """Run one benchmark process; return {metric: (value, unit)} or None."""
    label = " ".join(cmd)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        print(f"FAIL {label}: timeout after {TIMEOUT_S} s\n{err}", file=sys.stderr)
        return None
    except OSError as e:
        print(f"FAIL {label}: {e}", file=sys.stderr)
        return None
    if proc.returncode != 0:
        print(f"FAIL {label}: exit status {proc.returncode}\n{proc.stderr}",
              file=sys.stderr)
        return None
    metrics = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        try:
            if len(fields) != 3:
                raise ValueError
            metrics[fields[0]] = (float(fields[1]), fields[2])
        except ValueError:
            print(f"FAIL {label}: malformed line {line!r}", file=sys.stderr)
            return None
    return metrics


def convert(value, unit, to_unit):
    """Convert a value between time units (ns/us/ms/s); others must match."""
    if unit == to_unit:
        return value
    if unit in TIME_UNITS and to_unit in TIME_UNITS:
        return value * TIME_UNITS[unit] / TIME_UNITS[to_unit]
    raise ValueError(f"incompatible units {unit} and {to_unit}")


def fmt(value):
    """About 3 significant digits, never in exponent notation for big values."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--goro-dir", required=True,
                    help="directory holding goro's bench_* binaries")
    ap.add_argument("--go-bin", required=True, help="the Go benchmark binary")
    ap.add_argument("--runs", type=int, default=5,
                    help="processes per side and benchmark (default 5)")
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument("--markdown", metavar="FILE",
                    help="also write the Markdown table to FILE")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be >= 1")

    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            ap.error(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")

    failed = False
    rows = []  # (metric, goro median, go median, unit); medians may be None
    for name in names:
        goro_bin, go_sub = BENCHMARKS[name]
        sides = {"goro": [os.path.join(args.goro_dir, goro_bin)]}
        if go_sub is not None:
            sides["go"] = [args.go_bin, go_sub]
        samples = {side: {} for side in sides}  # side -> metric -> [(v, unit)]
        units = {}  # metric -> unit of the first sample seen (goro's first)
        print(f"# {name}: {args.runs} runs per side", flush=True)
        for _ in range(args.runs):
            for side, cmd in sides.items():  # alternate goro, Go, goro, ...
                result = run_once(cmd)
                if result is None:
                    failed = True
                    continue
                for metric, (value, unit) in result.items():
                    samples[side].setdefault(metric, []).append((value, unit))
                    units.setdefault(metric, unit)
        for metric, unit in units.items():  # goro's metrics first, then Go's
            medians = []
            for side in ("goro", "go"):
                vals = samples.get(side, {}).get(metric)
                try:
                    medians.append(statistics.median(
                        convert(v, u, unit) for v, u in vals) if vals else None)
                except ValueError as e:
                    print(f"FAIL {metric}: {e}", file=sys.stderr)
                    failed = True
                    medians.append(None)
            rows.append((metric, medians[0], medians[1], unit))

    table = ["| benchmark | goro | Go | speedup (Go/goro) |",
             "|---|---:|---:|---:|"]
    for metric, goro, go, unit in rows:
        speedup = "-"
        if goro is not None and go is not None:
            num, den = (goro, go) if unit in HIGHER_IS_BETTER else (go, goro)
            if den > 0:
                speedup = f"{num / den:.2f}x"
        g = "-" if goro is None else fmt(goro) + unit
        o = "-" if go is None else fmt(go) + unit
        print(f"RESULT name={metric} goro={g} go={o} speedup={speedup}")
        table.append(f"| {metric} | {g} | {o} | {speedup} |")
    table += ["", f"Values are medians of {args.runs} runs per side "
              "(each run reports the median of 3 timed iterations)."]
    markdown = "\n".join(table) + "\n"
    print()
    print(markdown, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
