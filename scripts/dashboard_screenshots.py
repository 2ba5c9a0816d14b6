#!/usr/bin/env python3
"""The dashboard while feira-bench runs at 1, 50 and 500 connections: docs/dashboard-N.png.

Run by `make dashboard-screenshots` (after a release build). Starts feira-server with
its web door on a scratch copy of the demo data (free ports), and for each load starts
`feira-bench -c N -t order`, waits until its orders are flowing, then has headless
Chromium load the dashboard and take a screenshot. Chromium runs the page's once-a-second
polls on its virtual clock (--virtual-time-budget), so the chart spans the seconds the
screenshot took, not a whole minute; every figure is real, and rates are per second of
the server's clock.

Only 127.0.0.1 is used. Bounded: each step has a deadline, and everything started is
stopped at the end.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
LOADS = [int(c) for c in os.environ.get("SCREENSHOT_CONNECTIONS", "1 50 500").split()]
OUT = os.environ.get("SCREENSHOT_OUT", os.path.join(ROOT, "docs"))


def wait_for(what, check, seconds):
    """Polls `check` until it returns something true, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    pause = 0.05
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    sys.exit(f"dashboard-screenshots: gave up waiting for {what}")


def stats(http, token):
    request = urllib.request.Request(
        f"http://{http}/api/stats", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)


def orders(figures):
    return next(v["requests"] for v in figures["verbs"] if v["verb"] == "ORDER")


def main():
    data = tempfile.mkdtemp(prefix="feira-screens-")
    shutil.copytree(os.path.join(ROOT, "data"), data, dirs_exist_ok=True)
    journal = os.path.join(data, "journal.csv")
    if os.path.exists(journal):
        os.remove(journal)
    server = subprocess.Popen(
        [os.path.join(BIN, "feira-server"), "--addr", "127.0.0.1:0", "--data", data,
         "--http-addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, RUST_LOG="info"))
    try:
        # The store's address is in the log; the dashboard's, with its token, on stdout.
        addr = None
        while addr is None:
            line = server.stderr.readline()
            if not line:
                sys.exit("dashboard-screenshots: the server stopped")
            if "listening on " in line:
                addr = line.rsplit("listening on ", 1)[1].strip()
        # Keep reading the log, so that the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        url = next(w for w in server.stdout.readline().split() if w.startswith("http://"))
        http, token = url[len("http://"):].split("/?token=")
        for connections in LOADS:
            shoot(addr, http, token, url, connections)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def shoot(addr, http, token, url, connections):
    bench = subprocess.Popen(
        [os.path.join(BIN, "feira-bench"), "--addr", addr, "-c", str(connections),
         "-t", "order", "-d", "20s"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Logging in 500 connections takes seconds (a password hash each): wait until
        # every connection is in and the orders flow.
        start = orders(stats(http, token))
        wait_for(f"{connections} connections ordering", lambda: (
            (f := stats(http, token))["server"]["connections_live"] >= connections
            and orders(f) > start + 100), 120)
        path = os.path.join(OUT, f"dashboard-{connections}.png")
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--hide-scrollbars", "--window-size=1280,1150", "--virtual-time-budget=20000",
             f"--screenshot={path}", url],
            check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"dashboard-screenshots: {path} ({connections} connections)")
    finally:
        bench.terminate()
        bench.wait(timeout=30)


if __name__ == "__main__":
    main()
