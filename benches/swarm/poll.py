#!/usr/bin/env python3
"""Pollers and clock helpers for benches/swarm_convergence.sh (stdlib only).

  poll.py first200 HOST DEADLINE_S NAME=PORT...
      One thread per proxy: a fresh HTTP/1.1 connection to 127.0.0.1:PORT with `Host: HOST`
      every INTERVAL (20 ms) until a 200. Prints one line per proxy:
      `NAME EPOCH_OF_FIRST_200|- BODY|- ATTEMPTS CODES` where CODES counts every answer
      before the 200 (`404:31,503:2,conn:1`).

  poll.py count WANT DEADLINE_S berth=ADMIN_PORT:SERVICE traefik=API_PORT:SERVICE
      Every 100 ms reads berth's /api/services (routable endpoints of SERVICE) and Traefik's
      /api/http/services/SERVICE (its loadBalancer.servers; 404 = 0) until each has reported
      exactly WANT. Prints `NAME EPOCH_FIRST_AT_WANT|- LAST_COUNT`.

  poll.py spread HOST N NAME=PORT...
      N requests through each proxy; prints `NAME DISTINCT_BODIES NON_200`.

  poll.py epoch TIMESTAMP...
      RFC 3339 timestamps (nanoseconds allowed, as `docker inspect` prints them with
      `{{json ...}}`) to epoch seconds, one a line.
"""

import json
import re
import socket
import sys
import threading
import time
from datetime import datetime, timezone

INTERVAL = 0.02
COUNT_INTERVAL = 0.1


def get(port, path, host, timeout=1.0):
    """(status, body) of `GET path` on 127.0.0.1:port, or (None, reason) when it fails."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                "User-Agent: berth-swarm-bench\r\n\r\n".encode()
            )
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return None, type(e).__name__
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not m:
        return None, "garbage"
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        body = dechunk(body)
    return int(m.group(1)), body


def dechunk(body):
    out = b""
    while body:
        line, _, rest = body.partition(b"\r\n")
        try:
            size = int(line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def first200(host, deadline, targets):
    end = time.time() + deadline
    results = {}

    def run(name, port):
        codes = {}
        attempts = 0
        while time.time() < end:
            attempts += 1
            status, body = get(port, "/", host)
            if status == 200:
                text = body.decode(errors="replace").strip().replace(" ", "_") or "-"
                results[name] = (time.time(), text, attempts, codes)
                return
            key = str(status) if status else "conn"
            codes[key] = codes.get(key, 0) + 1
            time.sleep(INTERVAL)
        results[name] = (None, "-", attempts, codes)

    threads = [
        threading.Thread(target=run, args=(name, int(port)))
        for name, port in (t.split("=", 1) for t in targets)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, _ in (t.split("=", 1) for t in targets):
        when, body, attempts, codes = results[name]
        codes = ",".join(f"{k}:{v}" for k, v in sorted(codes.items())) or "-"
        print(name, f"{when:.6f}" if when else "-", body, attempts, codes)


def berth_count(port, service):
    status, body = get(port, "/api/services", "localhost", timeout=2.0)
    if status != 200:
        return None
    for s in json.loads(body)["services"]:
        if s["name"] == service:
            return sum(1 for e in s["endpoints"] if e["state"] == "routable")
    return 0


def traefik_count(port, service):
    status, body = get(port, f"/api/http/services/{service}", "localhost", timeout=2.0)
    if status == 404:
        return 0
    if status != 200:
        return None
    return len(json.loads(body).get("loadBalancer", {}).get("servers", []))


def count(want, deadline, targets):
    readers = {"berth": berth_count, "traefik": traefik_count}
    watch = {}
    for t in targets:
        name, spec = t.split("=", 1)
        port, service = spec.split(":", 1)
        watch[name] = (readers[name], int(port), service)
    end = time.time() + deadline
    reached = {}
    last = {}
    while time.time() < end and len(reached) < len(watch):
        for name, (read, port, service) in watch.items():
            if name in reached:
                continue
            try:
                n = read(port, service)
            except (ValueError, KeyError):
                n = None
            last[name] = n
            if n == want:
                reached[name] = time.time()
        time.sleep(COUNT_INTERVAL)
    for name in watch:
        when = reached.get(name)
        print(name, f"{when:.6f}" if when else "-", last.get(name))


def spread(host, n, targets):
    for t in targets:
        name, port = t.split("=", 1)
        bodies, bad = set(), 0
        for _ in range(n):
            status, body = get(int(port), "/", host)
            if status == 200:
                bodies.add(body)
            else:
                bad += 1
        print(name, len(bodies), bad)


def epoch(stamp):
    stamp = stamp.strip().strip('"')
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", stamp)
    if not m:
        raise SystemExit(f"poll.py: not an RFC 3339 timestamp: {stamp!r}")
    base, frac, zone = m.groups()
    zone = "+00:00" if zone == "Z" else zone
    t = datetime.fromisoformat(base + zone).astimezone(timezone.utc).timestamp()
    return t + (int(frac) / 10 ** len(frac) if frac else 0.0)


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "first200":
        first200(args[0], float(args[1]), args[2:])
    elif cmd == "count":
        count(int(args[0]), float(args[1]), args[2:])
    elif cmd == "spread":
        spread(args[0], int(args[1]), args[2:])
    elif cmd == "epoch":
        for stamp in args:
            print(f"{epoch(stamp):.6f}")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
