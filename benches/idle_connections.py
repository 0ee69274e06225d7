"""Idle TCP connections for benches/tcp.sh (Python 3 standard library only).

backend STATEFILE PORT...   Listens on 127.0.0.1:PORT for each PORT, accepts every connection
                            and holds it without sending; writes how many are open (all ports
                            together) to STATEFILE whenever that changes (at most every 50 ms).
client PORT N STATEFILE PID WARM
                            Through the proxy on 127.0.0.1:PORT (process PID): opens and closes
                            WARM connections (warm-up), reads the proxy's RSS, opens N connections
                            and holds them idle until the backend holds N too, reads the RSS
                            again, closes them all and waits until the backend saw every one
                            close. Prints `held=N before=KIB after=KIB`. The proxy's RSS is the
                            sum of VmRSS over PID and its children (nginx's worker).

Both raise their soft fd limit to the hard limit.
"""

import asyncio
import os
import resource
import socket
import sys
import time


def raise_fd_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def backend(state, ports):
    open_now = 0

    async def hold(reader, writer):
        nonlocal open_now
        open_now += 1
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        open_now -= 1
        writer.close()

    async def report():
        written = None
        while True:
            if open_now != written:
                with open(state + ".tmp", "w") as f:
                    f.write(f"{open_now}\n")
                os.replace(state + ".tmp", state)
                written = open_now
            await asyncio.sleep(0.05)

    async def main():
        servers = [
            await asyncio.start_server(hold, "127.0.0.1", int(p), backlog=4096) for p in ports
        ]
        await asyncio.gather(report(), *(s.serve_forever() for s in servers))

    asyncio.run(main())


def held(state):
    try:
        with open(state) as f:
            return int(f.read())
    except (OSError, ValueError):
        return -1


def wait_held(state, want, what, limit=120.0):
    deadline = time.monotonic() + limit
    while (n := held(state)) != want:
        if time.monotonic() > deadline:
            sys.exit(f"idle_connections.py: {what}: the backend holds {n} connections, not {want}")
        time.sleep(0.05)


def rss_kib(pid):
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            if entry != pid and ppid != pid:
                continue
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, IndexError):
            continue
    return total


def connect(port, n):
    socks = []
    for i in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        except OSError as e:
            sys.exit(f"idle_connections.py: connection {i + 1} of {n} failed: {e}")
    return socks


def close(socks):
    for s in socks:
        s.close()


def client(port, n, state, pid, warm):
    wait_held(state, 0, "before warm-up")
    socks = connect(port, warm)
    wait_held(state, warm, "warm-up")
    close(socks)
    wait_held(state, 0, "after warm-up")
    time.sleep(1)
    before = rss_kib(pid)
    socks = connect(port, n)
    wait_held(state, n, "holding")
    time.sleep(1)
    after = rss_kib(pid)
    close(socks)
    wait_held(state, 0, "after closing")
    print(f"held={n} before={before} after={after}")


if __name__ == "__main__":
    raise_fd_limit()
    if len(sys.argv) >= 4 and sys.argv[1] == "backend":
        backend(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 7 and sys.argv[1] == "client":
        client(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
    else:
        sys.exit(__doc__)
