#!/usr/bin/env python3
"""Run goro's benchmarks and their Go twins alternately and compare them.

Usage:
  python3 perf/run.py --goro-dir DIR --go-bin PATH [--examples-dir DIR]
                      [--runs 5] [--only a,b] [--markdown FILE]

Every benchmark process prints one `<metric> <value> <unit>` line per metric
(lines starting with `#` are comments). For each metric the median over all
runs of each side is reported, as `RESULT ...` lines and as a Markdown table.
Exits 1 if any process failed (after running everything else).

A network benchmark (NET_BENCHMARKS) is a server and a load client instead of
one process. One run of a side:
  1. starts the server with `--port 0` and reads `listening on HOST:PORT` from
     the first line of its stdout (within SERVER_START_S);
  2. runs the client against it once per connection count in NET_CONNS, each
     for NET_SECONDS: perf/tcp_load (which prints the metric lines itself) or
     wrk (whose report is parsed into the same metrics);
  3. stops the server with SIGTERM and waits for it (SERVER_STOP_S, then
     SIGKILL). A server that exits early, dies otherwise, or outlives its stop
     fails the run.
The client runs on the same machine as the server and shares its cores.
"""

import argparse
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

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

# Network benchmarks: name -> (goro server, Go server subcommand, client).
# The goro server is a path relative to the build directory (the parent of
# --goro-dir, unless --examples-dir says where examples/ is); the client is
# "tcp_load" (perf/tcp_load.cpp, in --goro-dir) or "wrk".
NET_BENCHMARKS = {
    "tcp_echo": ("perf/bench_tcp_echo_server", "tcp_echo", "tcp_load"),
    "http_hello": ("examples/http_server", "http_hello", "wrk"),
}
NET_CONNS = (64, 1000)   # connections of each client run; metric names end in _<conns>
NET_SECONDS = 5          # load per client run
NET_SIZE = 64            # tcp_echo's request and response bytes
SERVER_START_S = 10      # for the `listening on` line
SERVER_STOP_S = 10       # from SIGTERM to exit

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
    return parse_metrics(label, proc.stdout)


def parse_metrics(label, stdout):
    """`<metric> <value> <unit>` lines -> {metric: (value, unit)}, or None."""
    metrics = {}
    for line in stdout.splitlines():
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


class Server:
    """A benchmark server process: started, asked for its address, stopped."""

    def __init__(self, cmd):
        self.label = " ".join(cmd)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = []  # its output after the first line, for failure reports
        self.err = []
        self.draining = False  # threads read its stdout and stderr

    def _drain(self, stream, into):
        for chunk in iter(lambda: stream.read1(65536), b""):
            into.append(chunk)

    def address(self):
        """Reads the `listening on HOST:PORT` line; returns HOST:PORT or None.

        Then keeps reading its stdout and stderr in threads, so a server that
        logs never blocks on a full pipe."""
        fd = self.proc.stdout.fileno()
        first = b""
        deadline = time.monotonic() + SERVER_START_S
        while b"\n" not in first:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.fail(f"no `listening on` line within {SERVER_START_S} s")
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                self.fail("exited before printing `listening on`")
                return None
            first += chunk
        line, rest = first.split(b"\n", 1)
        self.out.append(rest)
        self.draining = True
        for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._drain, args=(stream, into), daemon=True).start()
        m = re.fullmatch(r"listening on (\S+:\d+)", line.decode(errors="replace").strip())
        if not m:
            self.fail(f"first line is {line!r}, not `listening on HOST:PORT`")
            return None
        return m.group(1)

    def alive(self):
        if self.proc.poll() is None:
            return True
        self.fail(f"exited early with status {self.proc.returncode}")
        return False

    def stop(self):
        """SIGTERM, then wait; returns False if the server misbehaved."""
        if self.proc.poll() is not None:
            self.fail(f"exited early with status {self.proc.returncode}")
            return False
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=SERVER_STOP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.fail(f"still running {SERVER_STOP_S} s after SIGTERM")
            return False
        if status not in (0, -signal.SIGTERM):
            self.fail(f"exit status {status} after SIGTERM")
            return False
        return True

    def fail(self, why):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.draining:
            self.err.append(self.proc.stderr.read())
        err = b"".join(self.err).decode(errors="replace")
        print(f"FAIL {self.label}: {why}\n{err}", file=sys.stderr)


def wrk_metrics(name, stdout):
    """wrk --latency's report -> {name: req/s, name_p50: us, name_p99: us}."""
    def latency_us(text):
        m = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
        if not m:
            raise ValueError(f"latency {text!r}")
        return convert(float(m.group(1)), m.group(2), "us")

    errors = re.search(r"Socket errors: (.*)", stdout)
    if errors:
        raise ValueError(f"socket errors: {errors.group(1)}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    if non2xx:
        raise ValueError(f"{non2xx.group(1)} non-2xx or 3xx responses")
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", stdout, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", stdout, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", stdout, re.M)
    if not (rps and p50 and p99):
        raise ValueError("no Requests/sec, 50% or 99% line")
    return {name: (float(rps.group(1)), "req/s"),
            name + "_p50": (latency_us(p50.group(1)), "us"),
            name + "_p99": (latency_us(p99.group(1)), "us")}


def run_client(client, name, addr, conns, goro_dir):
    """One load run of NET_SECONDS against addr; {metric: (value, unit)} or None."""
    metric = f"{name}_{conns}"
    if client == "tcp_load":
        cmd = [os.path.join(goro_dir, "tcp_load"), "--addr", addr,
               "--conns", str(conns), "--seconds", str(NET_SECONDS),
               "--size", str(NET_SIZE), "--name", metric]
        return run_once(cmd)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("FAIL wrk: not installed (apt-get install wrk)", file=sys.stderr)
        return None
    cmd = [wrk, "-t1", f"-c{conns}", f"-d{NET_SECONDS}s", "--latency",
           f"http://{addr}/"]
    label = " ".join(cmd)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=NET_SECONDS + 30)
    except subprocess.TimeoutExpired:
        print(f"FAIL {label}: timeout", file=sys.stderr)
        return None
    if proc.returncode != 0:
        print(f"FAIL {label}: exit status {proc.returncode}\n{proc.stderr}",
              file=sys.stderr)
        return None
    try:
        return wrk_metrics(metric, proc.stdout)
    except ValueError as e:
        print(f"FAIL {label}: {e}\n{proc.stdout}", file=sys.stderr)
        return None


def run_net_once(server_cmd, client, name, goro_dir):
    """One run of a network benchmark's side (see the module's docstring)."""
    try:
        server = Server(server_cmd + ["--port", "0"])
    except OSError as e:
        print(f"FAIL {' '.join(server_cmd)}: {e}", file=sys.stderr)
        return None
    metrics = {}
    ok = True
    addr = server.address()
    if addr is None:
        return None
    for conns in NET_CONNS:
        result = run_client(client, name, addr, conns, goro_dir)
        if result is None:
            ok = False
            break
        metrics.update(result)
        if not server.alive():
            return None
    if not server.stop():
        return None
    return metrics if ok else None


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
    ap.add_argument("--examples-dir",
                    help="directory holding goro's examples (default: "
                         "examples/ beside --goro-dir)")
    ap.add_argument("--runs", type=int, default=5,
                    help="processes per side and benchmark (default 5)")
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument("--markdown", metavar="FILE",
                    help="also write the Markdown table to FILE")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be >= 1")

    known = list(BENCHMARKS) + list(NET_BENCHMARKS)
    names = known
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown:
            ap.error(f"unknown benchmark(s) {unknown}; known: {known}")
    build_dir = os.path.dirname(os.path.normpath(args.goro_dir))
    examples_dir = args.examples_dir or os.path.join(build_dir, "examples")

    failed = False
    rows = []  # (metric, goro median, go median, unit); medians may be None
    for name in names:
        if name in NET_BENCHMARKS:
            goro_server, go_sub, client = NET_BENCHMARKS[name]
            kind, binary = goro_server.split("/")
            goro_path = os.path.join(
                examples_dir if kind == "examples" else args.goro_dir, binary)
            sides = {"goro": [goro_path], "go": [args.go_bin, go_sub]}
            run = (lambda cmd, client=client, name=name:
                   run_net_once(cmd, client, name, args.goro_dir))
        else:
            goro_bin, go_sub = BENCHMARKS[name]
            sides = {"goro": [os.path.join(args.goro_dir, goro_bin)]}
            if go_sub is not None:
                sides["go"] = [args.go_bin, go_sub]
            run = run_once
        samples = {side: {} for side in sides}  # side -> metric -> [(v, unit)]
        units = {}  # metric -> unit of the first sample seen (goro's first)
        print(f"# {name}: {args.runs} runs per side", flush=True)
        for _ in range(args.runs):
            for side, cmd in sides.items():  # alternate goro, Go, goro, ...
                result = run(cmd)
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
    table += ["", f"Values are medians of {args.runs} runs per side"
              + (" (each run reports the median of 3 timed iterations)."
                 if any(n in BENCHMARKS for n in names) else ".")]
    if any(n in NET_BENCHMARKS for n in names):
        table += ["", f"Network rows: each run starts one server process and "
                  f"loads it for {NET_SECONDS} s with each connection count in "
                  f"turn ({', '.join(map(str, NET_CONNS))}); for req/s the "
                  "speedup is goro/Go. The client and the server share the "
                  "machine's cores."]
    markdown = "\n".join(table) + "\n"
    print()
    print(markdown, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
