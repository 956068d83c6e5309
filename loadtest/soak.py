#!/usr/bin/env python3
"""Fault soak: sluice with governance on, in front of sluice-mock injecting 429, 500, 529,
resets, clean truncations, stalls and slow drips, driven by Claude-Code-shaped traffic
(streaming and not) from worker threads, some of which disconnect mid-stream.

It asserts at the end, exiting 1 on any failure:
  - sluice is still running and logged no panic;
  - RSS and open descriptors, once traffic stops, are back to the level measured after the
    warm-up (RSS within +25 % or +16 MiB, whichever is larger; descriptors within +4);
  - reserved budget and in-flight requests are zero on every level (admin API);
  - every request the mock answered is settled in the ledger exactly once (each entity's
    request count in the ledger equals the mock's count);
  - /metrics request counts by status equal the generator's counts by status.

Usage: loadtest/soak.py [--seconds 60] [--workers 8] [--bin-dir target/debug] [--json out]
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

ADMIN_TOKEN = "soak-admin-token"
KEY = "sk-sluice-soak-0123456789abcdef0123456789abcdef"
MODEL = "claude-soak-1"
# Margins for "back to the warm-up level".
RSS_MARGIN_RATIO = 0.25
RSS_MARGIN_BYTES = 16 * 1024 * 1024
FD_MARGIN = 4
# Quiet time before each resource sample (upstream pool idle time is 1 s in the config).
SETTLE_SECONDS = 4.0


def config_toml(mock_port, state_dir):
    return f"""
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
cores = 2
upstream_idle_pool_ms = 1000
upstream_read_timeout_ms = 5000
access_log = "off"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:{mock_port}"
keys = [{{ secret = "sk-provider-soak" }}]

[routing]
max_attempts = 1
breaker_failures = 1000000
rate_limit_cooldown_ms = 1

[governance]
require_virtual_key = true
state_dir = "{state_dir}"
admin_token = "{ADMIN_TOKEN}"

[[pricing]]
model = "anthropic/claude-soak-*"
input = 3.0
output = 15.0
cache_write = 3.75
cache_read = 0.3

[[customers]]
id = "acme"
budgets = [{{ max_usd = 100000.0, reset = "1d" }}]

[[teams]]
id = "platform"
customer = "acme"
budgets = [{{ max_usd = 100000.0, reset = "1d" }}]

[[virtual_keys]]
id = "soak"
secret = "{KEY}"
team = "platform"
budgets = [{{ max_usd = 100000.0, reset = "1d" }}]
"""


def claude_code_body(rng, stream):
    """A Claude-Code-shaped request: system blocks, tools with schemas, a few turns."""
    tools = [
        {
            "name": name,
            "description": f"{name} tool. " + "Use it carefully. " * rng.randint(5, 40),
            "input_schema": {
                "type": "object",
                "properties": {"command": {"type": "string"}, "path": {"type": "string"}},
                "required": ["command"],
            },
        }
        for name in ["Bash", "Read", "Write", "Edit", "Glob", "Grep", "WebFetch", "TodoWrite"]
    ]
    turns = []
    for i in range(rng.randint(1, 6)):
        turns.append({"role": "user", "content": [{"type": "text", "text": "Fix the build. " * rng.randint(5, 200)}]})
        turns.append({"role": "assistant", "content": [{"type": "text", "text": f"Step {i}: looking."}]})
    turns.append({"role": "user", "content": "Go on."})
    return json.dumps(
        {
            "model": MODEL,
            "max_tokens": rng.choice([1024, 4096, 32000]),
            "stream": stream,
            "system": [{"type": "text", "text": "You are Claude Code. " * 50, "cache_control": {"type": "ephemeral"}}],
            "tools": tools,
            "messages": turns,
        }
    ).encode()


def headers(body):
    return {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219",
        "x-api-key": KEY,
        "content-length": str(len(body)),
    }


class Generator:
    def __init__(self, port, seed):
        self.port = port
        self.rng = random.Random(seed)
        self.status = Counter()
        self.disconnects = 0
        self.errors = Counter()

    def one(self):
        stream = self.rng.random() < 0.7
        body = claude_code_body(self.rng, stream)
        if stream and self.rng.random() < 0.15:
            return self.disconnect(body)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/v1/messages", body=body, headers=headers(body))
            response = conn.getresponse()
            self.status[response.status] += 1
            try:
                response.read()
            except (http.client.IncompleteRead, ConnectionError, socket.timeout) as e:
                self.errors[type(e).__name__] += 1
        except (ConnectionError, socket.timeout, http.client.HTTPException) as e:
            self.errors[type(e).__name__] += 1
        finally:
            conn.close()

    def disconnect(self, body):
        """A streaming request whose client goes away after the head and a few bytes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            head = "POST /v1/messages HTTP/1.1\r\nhost: sluice\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers(body).items()
            )
            s.sendall(head.encode() + b"\r\n" + body)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            match = re.match(rb"HTTP/1\.1 (\d{3})", got)
            if match:
                self.status[int(match.group(1))] += 1
                self.disconnects += 1
            else:
                self.errors["no_head"] += 1


def run_workers(port, seconds, workers, seed):
    gens = [Generator(port, seed + i) for i in range(workers)]
    stop_at = time.monotonic() + seconds

    def loop(gen):
        while time.monotonic() < stop_at:
            gen.one()

    threads = [threading.Thread(target=loop, args=(g,)) for g in gens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = Counter()
    errors = Counter()
    for g in gens:
        total.update(g.status)
        errors.update(g.errors)
    return total, errors, sum(g.disconnects for g in gens)


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def http_get(port, path, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"authorization": f"Bearer {token}"} if token else {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def metrics_by_status(admin_port):
    _, body = http_get(admin_port, "/metrics")
    counts = Counter()
    for line in body.decode().splitlines():
        m = re.match(r'sluice_requests_total\{path="/v1/messages",status="(\d+)"\} (\d+)', line)
        if m:
            counts[int(m.group(1))] += int(m.group(2))
    return counts


def start(cmd, **kw):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kw)
    line = proc.stdout.readline()
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--bin-dir", default="target/debug")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json")
    args = ap.parse_args()
    failures = []
    tmp = tempfile.mkdtemp(prefix="sluice-soak-")
    mock, line = start(
        [
            f"{args.bin_dir}/sluice-mock",
            "--fault-429", "3", "--fault-500", "2", "--fault-529", "3",
            "--fault-reset", "3", "--fault-truncate", "3", "--fault-stall", "2",
            "--stall-ms", "1500", "--retry-after", "0", "--pace-us", "2000",
            "--text-events", "20",
        ]
    )
    mock_port = int(line.split()[-1].rsplit(":", 1)[1])
    config = os.path.join(tmp, "sluice.toml")
    with open(config, "w") as f:
        f.write(config_toml(mock_port, os.path.join(tmp, "state")))
    stderr = open(os.path.join(tmp, "stderr.log"), "w+")
    sluice, line = start([f"{args.bin_dir}/sluice", "serve", "--config", config], stderr=stderr)
    m = re.search(r"127\.0\.0\.1:(\d+).*127\.0\.0\.1:(\d+)", line)
    if not m:
        sys.exit(f"unexpected first line from sluice: {line!r}")
    port, admin_port = int(m.group(1)), int(m.group(2))
    pid = sluice.pid
    try:
        warm = max(5.0, args.seconds * 0.2)
        status, errors, disconnects = run_workers(port, warm, args.workers, args.seed)
        time.sleep(SETTLE_SECONDS)
        rss_warm, fds_warm = rss_bytes(pid), fd_count(pid)
        more, more_errors, more_disconnects = run_workers(port, args.seconds - warm, args.workers, args.seed + 1000)
        status.update(more)
        errors.update(more_errors)
        disconnects += more_disconnects
        time.sleep(SETTLE_SECONDS)
        rss_end, fds_end = rss_bytes(pid), fd_count(pid)

        if sluice.poll() is not None:
            failures.append(f"sluice exited with {sluice.returncode}")
        rss_limit = rss_warm + max(RSS_MARGIN_BYTES, int(rss_warm * RSS_MARGIN_RATIO))
        if rss_end > rss_limit:
            failures.append(f"RSS {rss_end} is over the warm-up level {rss_warm} + margin")
        if fds_end > fds_warm + FD_MARGIN:
            failures.append(f"{fds_end} descriptors open, {fds_warm} after warm-up")

        levels = {}
        for level, ident in [("key", "soak"), ("team", "platform"), ("customer", "acme")]:
            code, body = http_get(admin_port, f"/admin/usage/{level}/{ident}", ADMIN_TOKEN)
            usage = json.loads(body)
            reserved = [b.get("reserved_usd") for b in usage.get("budgets", [])]
            levels[level] = {"in_flight": usage.get("in_flight"), "reserved_usd": reserved}
            if code != 200 or usage.get("in_flight") != 0 or any(float(r) != 0 for r in reserved):
                failures.append(f"{level} {ident}: in_flight/reserved not zero: {usage}")

        metrics = metrics_by_status(admin_port)
        if metrics != status:
            failures.append(f"/metrics by status {dict(metrics)} != generator {dict(status)}")
        _, stats = http_get(mock_port, "/mock/stats")
        served = json.loads(stats)["served"]
    finally:
        sluice.send_signal(signal.SIGTERM)
        try:
            code = sluice.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sluice.kill()
            code = "killed"
        mock.kill()
    if code != 0:
        failures.append(f"sluice exit status after SIGTERM: {code}")
    stderr.seek(0)
    log = stderr.read()
    if "panicked" in log:
        failures.append("sluice logged a panic:\n" + log[-4000:])

    db = sqlite3.connect(os.path.join(tmp, "state", "ledger.sqlite3"))
    per_entity = [r[0] for r in db.execute("SELECT SUM(requests) FROM spend GROUP BY entity")]
    if not per_entity or any(n != served for n in per_entity):
        failures.append(f"ledger requests per entity {per_entity} != mock served {served}")

    result = {
        "seconds": args.seconds,
        "workers": args.workers,
        "requests_by_status": {str(k): v for k, v in sorted(status.items())},
        "client_disconnects": disconnects,
        "client_side_errors": dict(errors),
        "mock_served": served,
        "ledger_requests_per_entity": per_entity,
        "rss_warm_bytes": rss_warm,
        "rss_end_bytes": rss_end,
        "fds_warm": fds_warm,
        "fds_end": fds_end,
        "reservations": levels,
        "failures": failures,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    if failures:
        print("SOAK FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("soak passed", file=sys.stderr)


if __name__ == "__main__":
    main()
