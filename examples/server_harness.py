"""Runs an example server for a test script: start it, read the port it prints, wait
for lines on its stdout/stderr, signal it, collect its exit status. Every wait is
bounded. Used by test_echo_server.py and test_http_server.py.

GORO_TEST_SLOWDOWN (a factor, default 1; examples/meson.build sets 4 in sanitizer
builds) stretches the waits for the server to do something. Those are time-outs that
only fail a test when the server never does it; bounds that a test asserts on purpose
(a shutdown that must end within its grace period) say so where they are checked.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time


def slowdown():
    return float(os.environ.get("GORO_TEST_SLOWDOWN", "1"))


class Failures:
    """Collects failed checks; the script exits 1 if there is any."""

    def __init__(self, name):
        self.name = name
        self.failed = []
        self.start = time.monotonic()

    def check(self, cond, what, detail=""):
        """detail: shown on failure; a callable is called only then."""
        at = f"[{time.monotonic() - self.start:6.2f} s]"
        if not cond and callable(detail):
            detail = detail()
        if cond:
            print(f"ok   {at} {what}", flush=True)
        else:
            print(f"FAIL {at} {what}" + (f": {detail}" if detail else ""), flush=True)
            self.failed.append(what)
        return cond

    def finish(self):
        # A sanitizer report fails the test even when the process exited 0 (UBSan
        # continues unless UBSAN_OPTIONS has halt_on_error=1).
        for server in Server.started:
            report = server.sanitizer_lines()
            self.check(not report, f"no sanitizer report from {' '.join(server.argv)}",
                       lambda: "\n".join(report[:20]))
        if self.failed:
            print(f"{self.name}: {len(self.failed)} check(s) failed: {self.failed}", flush=True)
            sys.exit(1)
        print(f"{self.name}: all checks passed", flush=True)
        sys.exit(0)


class Server:
    """A server process whose stdout and stderr lines are collected by two threads."""

    started = []  # every server of the script, checked for sanitizer reports at the end
    SANITIZER = re.compile(r"(ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:)")

    def __init__(self, argv):
        Server.started.append(self)
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines = {"stdout": [], "stderr": []}
        self.cv = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(name, stream), daemon=True)
                        for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))]
        for t in self.readers:
            t.start()
        self.port = None

    def _read(self, name, stream):
        for line in stream:
            with self.cv:
                self.lines[name].append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.lines[name].append(None)  # end of stream
            self.cv.notify_all()

    def wait_for(self, pattern, stream="stdout", count=1, timeout=10.0):
        """Waits until `count` lines of `stream` match `pattern`; returns the matches, or
        None when the time is up or the stream ended first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout * slowdown()
        with self.cv:
            while True:
                matches = [m for m in (rx.search(l) for l in self.lines[stream] if l is not None) if m]
                if len(matches) >= count:
                    return matches
                if None in self.lines[stream]:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)

    def wait_port(self, timeout=10.0):
        m = self.wait_for(r"^listening on (\S+):(\d+)$", timeout=timeout)
        if not m:
            raise RuntimeError(f"{self.argv[0]} printed no 'listening on' line:\n{self.dump()}")
        self.port = int(m[0].group(2))
        return self.port

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """The exit status, or None if it did not exit in time (then it is killed)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def sanitizer_lines(self):
        if self.proc.poll() is not None:
            for t in self.readers:
                t.join(timeout=5)
        return [l for l in self.output("stderr") if Server.SANITIZER.search(l)]

    def output(self, stream="stdout"):
        with self.cv:
            return [l for l in self.lines[stream] if l is not None]

    def dump(self):
        if self.proc.poll() is not None:  # let the readers take the last lines
            for t in self.readers:
                t.join(timeout=2)
        return ("--- stdout\n" + "\n".join(self.output("stdout")) +
                "\n--- stderr\n" + "\n".join(self.output("stderr")) + "\n---")


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * slowdown())
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def connection_refused(port):
    """True if a connection to the port is refused (nothing listens there)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    s.close()
    return False


def recv_until_eof(sock, limit=1 << 20):
    """Reads until the peer closes (b'' from recv). Returns (data, how): how is 'eof',
    'reset', 'timeout' or 'limit'."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        except socket.timeout:
            return data, "timeout"
        if not chunk:
            return data, "eof"
        data += chunk
    return data, "limit"
