#!/usr/bin/env python3
"""Tests examples/echo_server: `test_echo_server.py path/to/echo_server`.

1. It prints "listening on 127.0.0.1:<port>" for --port 0 and the port answers.
2. 8 clients at once, each 50 round trips of 1..4096 bytes of its own pattern: every
   echo is the bytes sent.
3. 1 MiB sent by one thread while another reads: the echo is identical, and after the
   client's FIN the server closes its side (EOF), having echoed everything.
4. SIGTERM with an idle client connected: the idle client gets EOF, once the server says
   it stopped accepting a new connection is refused, and the server exits 0 within
   10 s (x GORO_TEST_SLOWDOWN), reporting the connection it closed.
5. SIGINT does the same (a second server).
"""
import os
import random
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_harness import Failures, Server, connect, connection_refused, recv_until_eof, slowdown  # noqa: E402


def recv_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def client_round_trips(port, seed, results):
    rng = random.Random(seed)
    try:
        with connect(port) as s:
            for i in range(50):
                size = rng.randint(1, 4096)
                msg = bytes([(seed * 31 + i + k) % 251 for k in range(size)])
                s.sendall(msg)
                back = recv_exactly(s, size)
                if back != msg:
                    results[seed] = f"round trip {i}: sent {size} bytes, got back {len(back)} different ones"
                    return
        results[seed] = "ok"
    except OSError as e:
        results[seed] = f"error {e!r}"


def big_echo(port):
    payload = os.urandom(1 << 20)
    with connect(port, timeout=30) as s:
        send_error = []

        def send():
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)  # FIN: the server's read gets 0 and it closes
            except OSError as e:
                send_error.append(e)

        sender = threading.Thread(target=send)
        sender.start()
        back, how = recv_until_eof(s, limit=(1 << 20) + 1)
        sender.join(timeout=30 * slowdown())
    return payload, back, how, send_error


def stop_with(exe, sig, f):
    name = signal.Signals(sig).name
    server = Server([exe, "--port", "0"])
    try:
        port = server.wait_port()
        idle = connect(port)
        idle.sendall(b"ping")
        f.check(recv_exactly(idle, 4) == b"ping", f"{name}: idle client's first echo")
        start = time.monotonic()
        server.signal(sig)
        stopping = server.wait_for(r"no longer accepting")
        f.check(stopping is not None, f"{name}: the server says it stopped accepting", server.dump)
        if stopping:
            f.check(connection_refused(port), f"{name}: a new connection is refused after that")
        idle.settimeout(10 * slowdown())
        data, how = recv_until_eof(idle)
        f.check(how == "eof" and data == b"", f"{name}: the idle client is closed by the server",
                f"{how}, {data!r}")
        idle.close()
        rc = server.wait_exit(timeout=10 * slowdown())
        took = time.monotonic() - start
        f.check(rc == 0, f"{name}: exit status 0 within {10 * slowdown():.0f} s (took {took:.2f} s)",
                lambda: f"status {rc}\n{server.dump()}")
        stopped = server.wait_for(r"^stopped: (\d+) connection\(s\) served, (\d+) closed by the shutdown", timeout=5)
        f.check(stopped is not None and int(stopped[0].group(1)) == 1 and int(stopped[0].group(2)) == 1,
                f"{name}: it reports 1 connection served, 1 closed by the shutdown", server.dump)
    finally:
        server.kill()


def main():
    exe = sys.argv[1]
    f = Failures("echo_server")
    server = Server([exe, "--port", "0"])
    try:
        port = server.wait_port()
        f.check(port > 0, f"--port 0: listening on ephemeral port {port}")

        results = {}
        clients = [threading.Thread(target=client_round_trips, args=(port, seed, results)) for seed in range(8)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(timeout=60 * slowdown())
        bad = {k: v for k, v in results.items() if v != "ok"}
        f.check(len(results) == 8 and not bad, "8 concurrent clients x 50 round trips echoed exactly",
                f"{len(results)} finished, failures {bad}")

        payload, back, how, send_error = big_echo(port)
        f.check(not send_error and how == "eof" and back == payload,
                "1 MiB echoed while being sent, then EOF after the client's FIN",
                f"sent error {send_error}, got {len(back)} bytes, identical {back == payload}, ended by {how}")

        start = time.monotonic()
        server.signal(signal.SIGTERM)
        rc = server.wait_exit(timeout=10 * slowdown())
        f.check(rc == 0, f"SIGTERM with no client: exit status 0 (took {time.monotonic() - start:.2f} s)",
                lambda: f"status {rc}\n{server.dump()}")
        stopped = server.wait_for(r"^stopped: (\d+) connection\(s\) served, \d+ closed by the shutdown, (\d+) bytes",
                                  timeout=5)
        f.check(stopped is not None and int(stopped[0].group(1)) == 9 and int(stopped[0].group(2)) >= 1 << 20,
                "it reports the 9 connections and at least 1 MiB echoed", server.dump)
    finally:
        server.kill()

    stop_with(exe, signal.SIGTERM, f)
    stop_with(exe, signal.SIGINT, f)
    f.finish()


if __name__ == "__main__":
    main()
