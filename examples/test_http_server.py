#!/usr/bin/env python3
"""Tests examples/http_server: `test_http_server.py path/to/http_server`.

With curl (--noproxy '*', --max-time on every call):
  1. GET / is 200 with "Hello, World!\\n", Content-Length 14, Content-Type text/plain;
     HEAD has the headers and no body; an unknown path is 404.
  2. Keep-alive: curl fetching two URLs reuses its connection ("Re-using existing
     connection" in curl -v).
With raw sockets:
  3. Three requests on one connection one after another; three requests in one send
     (pipelining: the answers in order, one of them a /sleep); 600 requests in one send
     (more than the server's 16 KiB read buffer), answered in order.
  4. A request sent one byte at a time (the URL arrives in pieces).
  5. Malformed requests (bad method, header line without a colon, binary, bad
     Content-Length, a valid request followed by garbage): 400 with "Connection:
     close", then the server closes (EOF), after answering the valid one first.
  6. Headers over 8 KiB: 431 and EOF, for a complete request and for one still
     incomplete.
  7. HTTP/1.0 closes after its answer; HTTP/1.0 with "Connection: keep-alive" stays
     open; HTTP/1.1 with "Connection: close" closes; an Upgrade request is answered,
     then closed. A 200 KiB POST body is skipped and the connection serves the next
     request.
  8. 40 connections of random bytes (then FIN): each gets HTTP responses or is closed;
     the server still answers afterwards (it did not crash).
Shutdown:
  9. Four curl /sleep?ms=1500 in flight (the server logs each start; SIGTERM once all
     four have started) and one idle keep-alive connection: after SIGTERM new
     connections are refused, the idle one is closed while the requests are still
     running, each curl gets its 200 (with "Connection: close"), the server exits 0
     and reports no connection cut.
 10. --grace-ms 300 with two 10 s sleeps in flight: the server exits 0 within
     300 ms + 3 s (x GORO_TEST_SLOWDOWN), well before the sleeps would end, reporting 2
     connections cut; neither curl gets a 200.
 11. A second signal during the grace period cuts at once: exit 0, 1 connection cut.
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_harness import Failures, Server, connect, connection_refused, recv_until_eof, slowdown  # noqa: E402

CURL = ["curl", "-sS", "--noproxy", "*", "--max-time", "20"]


class CurlResult:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout.decode("latin-1")  # bytes as they came: keeps the CRLFs
        self.stderr = stderr.decode("latin-1")


def curl(args, timeout=30):
    r = subprocess.run(CURL + args, capture_output=True, timeout=timeout * slowdown())
    return CurlResult(r.returncode, r.stdout, r.stderr)


def start_curl(url):
    return subprocess.Popen(CURL + ["-i", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish_curl(p):
    out, err = p.communicate(timeout=30 * slowdown())
    return CurlResult(p.returncode, out, err)


class Conn:
    """A raw client connection that reads HTTP responses one by one."""

    def __init__(self, port):
        self.s = connect(port)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buf += chunk

    def response(self, head=False):
        """(status, headers with lower-case names, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        header, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = header.decode("latin-1").split("\r\n")
        version, code = lines[0].split(" ")[:2]
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        n = 0 if head else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(code), headers, body

    def closed(self):
        """True if the server closes the connection with nothing more to read."""
        data, how = recv_until_eof(self.s)
        return self.buf + data == b"" and how == "eof"

    def close(self):
        self.s.close()


def get(path, version="1.1", extra=""):
    return f"GET {path} HTTP/{version}\r\nHost: test\r\n{extra}\r\n".encode()


def basics(port, f):
    url = f"http://127.0.0.1:{port}"
    r = curl(["-i", url + "/"])
    f.check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200 OK") and r.stdout.endswith("\r\n\r\nHello, World!\n"),
            "curl GET / is 200 'Hello, World!'", f"rc {r.returncode} {r.stdout!r} {r.stderr!r}")
    f.check(re.search(r"(?im)^content-length: 14\r$", r.stdout) and re.search(r"(?im)^content-type: text/plain", r.stdout)
            and re.search(r"(?im)^date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r$", r.stdout),
            "it has Content-Length 14, Content-Type text/plain and a Date", r.stdout)
    r = curl(["-I", url + "/"])
    f.check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200 OK") and "Hello" not in r.stdout
            and re.search(r"(?im)^content-length: 14\r$", r.stdout), "curl HEAD / has the headers, no body",
            f"rc {r.returncode} {r.stdout!r}")
    r = curl(["-i", url + "/nope"])
    f.check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 404"), "an unknown path is 404", r.stdout)

    r = curl(["-v", url + "/", url + "/sleep?ms=1"])
    f.check(r.returncode == 0 and r.stdout == "Hello, World!\nslept 1 ms\n" and "Re-using existing connection" in r.stderr,
            "keep-alive: curl fetches two URLs over one connection", f"rc {r.returncode} {r.stdout!r}\n{r.stderr}")


def raw_requests(port, f):
    c = Conn(port)
    statuses = []
    for path in ("/", "/nope", "/"):
        c.send(get(path))
        statuses.append(c.response()[0])
    f.check(statuses == [200, 404, 200], "three requests one after another on one connection", statuses)

    c.send(get("/") + get("/sleep?ms=20") + get("/nope"))
    got = [c.response() for _ in range(3)]
    f.check([(s, b) for s, _, b in got] == [(200, b"Hello, World!\n"), (200, b"slept 20 ms\n"),
                                            (404, b"404 page not found\n")],
            "pipelining: three requests in one send, three answers in order", got)

    many = 600
    batch = b"".join(get("/" if i % 2 == 0 else "/nope") for i in range(many))
    c.send(batch)
    got = [c.response()[0] for _ in range(many)]
    f.check(got == [200 if i % 2 == 0 else 404 for i in range(many)],
            f"pipelining: {many} requests ({len(batch)} bytes) in one send, answered in order")
    c.close()

    c = Conn(port)
    for byte in get("/sleep?ms=1", extra="X-Trickle: yes\r\n"):
        c.send(bytes([byte]))
        time.sleep(0.001)  # not a race fix: splits the request into many reads on purpose
    status, _, body = c.response()
    f.check(status == 200 and body == b"slept 1 ms\n", "a request sent one byte at a time", (status, body))
    c.close()


def malformed(port, f):
    cases = {
        "bad method": b"GARBAGE / HTTP/1.1\r\n\r\n",
        "header without colon": b"GET / HTTP/1.1\r\nHost: test\r\nNoColonHere\r\n\r\n",
        "binary": bytes(range(1, 64)),
        "bad Content-Length": b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: abc\r\n\r\n",
        "bad version": b"GET / HTTP/x.y\r\n\r\n",
    }
    for name, data in cases.items():
        c = Conn(port)
        c.send(data)
        try:
            status, headers, _ = c.response()
            ok = status == 400 and headers.get("connection") == "close" and c.closed()
        except (EOFError, OSError) as e:
            ok, status, headers = False, repr(e), {}
        f.check(ok, f"malformed ({name}): 400, Connection: close, then EOF", (status, headers))
        c.close()

    c = Conn(port)
    c.send(get("/") + b"BLAH BLAH\r\n\r\n")
    first, second = c.response(), c.response()
    f.check(first[0] == 200 and second[0] == 400 and c.closed(),
            "a valid request then garbage in one send: 200, then 400, then EOF", (first, second))
    c.close()

    c = Conn(port)
    c.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")
    status, headers, _ = c.response()
    f.check(status == 431 and headers.get("connection") == "close" and c.closed(),
            "10 KB of headers: 431, then EOF", status)
    c.close()
    c = Conn(port)
    c.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 9000)  # never completed
    status, _, _ = c.response()
    f.check(status == 431 and c.closed(), "9 KB of headers, request unfinished: 431, then EOF", status)
    c.close()


def connection_management(port, f):
    c = Conn(port)
    c.send(get("/", version="1.0"))
    status, headers, body = c.response()
    f.check(status == 200 and body == b"Hello, World!\n" and headers.get("connection") == "close" and c.closed(),
            "HTTP/1.0: answered with Connection: close, then EOF", headers)
    c.close()

    c = Conn(port)
    c.send(get("/", version="1.0", extra="Connection: keep-alive\r\n"))
    status, headers, _ = c.response()
    c.send(get("/nope", version="1.0", extra="Connection: keep-alive\r\n"))
    status2, headers2, _ = c.response()
    f.check(status == 200 and headers.get("connection") == "keep-alive" and status2 == 404
            and headers2.get("connection") == "keep-alive",
            "HTTP/1.0 with Connection: keep-alive: two requests on one connection", (headers, headers2))
    c.close()

    c = Conn(port)
    c.send(get("/", extra="Connection: close\r\n"))
    status, headers, _ = c.response()
    f.check(status == 200 and headers.get("connection") == "close" and c.closed(),
            "HTTP/1.1 with Connection: close: answered, then EOF", headers)
    c.close()

    c = Conn(port)
    c.send(get("/", extra="Connection: Upgrade\r\nUpgrade: websocket\r\n") + b"\x81\x05hello")
    status, headers, _ = c.response()
    f.check(status == 200 and headers.get("connection") == "close" and c.closed(),
            "an Upgrade request: answered without switching, Connection: close, then EOF", headers)
    c.close()

    c = Conn(port)
    body = b"x" * (200 * 1024)
    c.send(f"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body + get("/nope"))
    status, _, _ = c.response()
    status2, _, _ = c.response()
    f.check(status == 200 and status2 == 404, "a 200 KiB POST body is skipped; the next request is answered",
            (status, status2))
    c.close()


def fuzz(port, f):
    rng = random.Random(20260101)
    bad = []
    for i in range(40):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000)))
        if i % 4 == 0:
            data = get("/")[: rng.randint(1, 30)] + data  # a plausible start, then noise
        c = Conn(port)
        try:
            c.send(data)
            c.s.shutdown(socket.SHUT_WR)
            reply, how = recv_until_eof(c.s)
            # Noise after a plausible start may complete a request (then 200, then 400).
            if reply and not re.match(rb"HTTP/1\.1 [24]\d\d ", reply):
                bad.append((i, reply[:40]))
            if how not in ("eof", "reset"):
                bad.append((i, how))
        except OSError as e:
            bad.append((i, repr(e)))
        c.close()
    r = curl(["-i", f"http://127.0.0.1:{port}/"])
    f.check(not bad and r.stdout.startswith("HTTP/1.1 200"),
            "40 connections of random bytes: each answered or closed; the server still answers", bad)


def shutdown_in_flight(exe, f):
    server = Server([exe, "--port", "0", "--verbose"])
    try:
        port = server.wait_port()
        idle = Conn(port)
        idle.send(get("/"))
        f.check(idle.response()[0] == 200, "shutdown: an idle keep-alive connection, answered once")
        curls = [start_curl(f"http://127.0.0.1:{port}/sleep?ms=1500") for _ in range(4)]
        try:
            started = server.wait_for(r"^sleep: 1500 ms, started$", stream="stderr", count=4)
            f.check(started is not None, "shutdown: four /sleep?ms=1500 requests in flight", server.dump)
            t0 = time.monotonic()
            server.signal(signal.SIGTERM)
            f.check(server.wait_for(r"no longer accepting") is not None, "shutdown: the server stops accepting",
                    server.dump)
            f.check(connection_refused(port), "shutdown: a new connection is refused")
            idle_closed = idle.closed()
            still_running = server.proc.poll() is None
            f.check(idle_closed and still_running,
                    f"shutdown: the idle connection is closed while requests run ({time.monotonic() - t0:.2f} s)",
                    f"closed {idle_closed}, server running {still_running}")
            for i, p in enumerate(curls):
                r = finish_curl(p)
                f.check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200 OK")
                        and r.stdout.endswith("slept 1500 ms\n") and re.search(r"(?im)^connection: close\r$", r.stdout),
                        f"shutdown: in-flight request {i} got its 200 (Connection: close)",
                        f"rc {r.returncode} {r.stdout!r} {r.stderr!r}")
        finally:
            for p in curls:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
        rc = server.wait_exit(timeout=10 * slowdown())
        f.check(rc == 0, f"shutdown: exit status 0 ({time.monotonic() - t0:.2f} s after SIGTERM)",
                lambda: f"status {rc}\n{server.dump()}")
        m = server.wait_for(r"^stopped after .*, (\d+) connection\(s\) cut at the grace deadline", timeout=5)
        f.check(m is not None and m[0].group(1) == "0", "shutdown: no connection was cut", server.dump)
        idle.close()
    finally:
        server.kill()


def shutdown_grace(exe, f):
    server = Server([exe, "--port", "0", "--verbose", "--grace-ms", "300"])
    try:
        port = server.wait_port()
        curls = [start_curl(f"http://127.0.0.1:{port}/sleep?ms=10000") for _ in range(2)]
        try:
            f.check(server.wait_for(r"^sleep: 10000 ms, started$", stream="stderr", count=2) is not None,
                    "grace: two 10 s requests in flight", server.dump)
            t0 = time.monotonic()
            server.signal(signal.SIGTERM)
            rc = server.wait_exit(timeout=10 * slowdown())
            took = time.monotonic() - t0
            bound = 0.3 + 3 * slowdown()  # the assertion: the grace period plus slack, far below 10 s
            f.check(rc == 0 and took < bound, f"grace: exit status 0 after {took:.2f} s (bound {bound:.1f} s)",
                    lambda: f"status {rc}\n{server.dump()}")
            m = server.wait_for(r"^stopped after .*, (\d+) connection\(s\) cut at the grace deadline", timeout=5)
            f.check(m is not None and m[0].group(1) == "2" and server.wait_for(r"^grace deadline passed", timeout=1),
                    "grace: it reports the deadline and 2 connections cut", server.dump)
            for i, p in enumerate(curls):
                r = finish_curl(p)
                f.check(r.returncode != 0 and "200 OK" not in r.stdout, f"grace: cut request {i} got no 200",
                        f"rc {r.returncode} {r.stdout!r}")
        finally:
            for p in curls:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
    finally:
        server.kill()


def second_signal(exe, f):
    server = Server([exe, "--port", "0", "--verbose", "--grace-ms", "30000"])
    try:
        port = server.wait_port()
        p = start_curl(f"http://127.0.0.1:{port}/sleep?ms=10000")
        try:
            f.check(server.wait_for(r"^sleep: 10000 ms, started$", stream="stderr") is not None,
                    "second signal: a 10 s request in flight", server.dump)
            server.signal(signal.SIGTERM)
            f.check(server.wait_for(r"no longer accepting") is not None, "second signal: the first one is seen")
            t0 = time.monotonic()
            server.signal(signal.SIGINT)
            rc = server.wait_exit(timeout=10 * slowdown())
            took = time.monotonic() - t0
            m = server.wait_for(r"^stopped after .*, (\d+) connection\(s\) cut at the grace deadline", timeout=5)
            f.check(rc == 0 and took < 3 * slowdown() and m is not None and m[0].group(1) == "1"
                    and server.wait_for(r"^second signal", timeout=1),
                    f"second signal: cuts at once, exit 0 after {took:.2f} s, 1 connection cut",
                    lambda: f"status {rc}\n{server.dump()}")
            p.communicate(timeout=30 * slowdown())
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
    finally:
        server.kill()


def main():
    exe = sys.argv[1]
    f = Failures("http_server")
    server = Server([exe, "--port", "0"])
    try:
        port = server.wait_port()
        f.check(port > 0, f"--port 0: listening on ephemeral port {port}")
        for part in (basics, raw_requests, malformed, connection_management, fuzz):
            try:
                part(port, f)
            except (OSError, EOFError, AssertionError, ValueError, subprocess.TimeoutExpired) as e:
                f.check(False, f"{part.__name__} ran to the end", repr(e))
        server.signal(signal.SIGTERM)
        rc = server.wait_exit(timeout=10 * slowdown())
        f.check(rc == 0, "the first server exits 0 on SIGTERM", lambda: f"status {rc}\n{server.dump()}")
    finally:
        server.kill()
    for part in (shutdown_in_flight, shutdown_grace, second_signal):
        try:
            part(exe, f)
        except (OSError, EOFError, AssertionError, ValueError, subprocess.TimeoutExpired) as e:
            f.check(False, f"{part.__name__} ran to the end", repr(e))
    f.finish()


if __name__ == "__main__":
    main()
