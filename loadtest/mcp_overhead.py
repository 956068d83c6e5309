#!/usr/bin/env python3
"""What sluice adds to an MCP tools/call: a bounded loop of sequential calls on one keep-alive
connection, directly to sluice-mock-mcp and through sluice's /mcp to the same mock, interleaved
in rounds so both see the same machine load. Prints per-round and overall p50/p90/p99 (µs).

Usage: loadtest/mcp_overhead.py SLUICE_BIN MOCK_BIN [CALLS_PER_ROUND [ROUNDS]]
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

KEY = "sk-bench-mcp"
VERSION = "2025-11-25"


def start(cmd, cwd=None):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=cwd)
    line = proc.stdout.readline().split()
    return proc, line[1]


def post(conn, body, headers):
    conn.request("POST", "/mcp", body=json.dumps(body), headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response, data


def session(addr, headers):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
    response, _ = post(conn, init, headers)
    headers = dict(headers)
    sid = response.getheader("mcp-session-id")
    if sid:
        headers["mcp-session-id"] = sid
    headers["mcp-protocol-version"] = VERSION
    post(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers)
    return conn, headers


def loop(conn, headers, tool, calls):
    samples = []
    for i in range(calls):
        body = {"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                "params": {"name": tool, "arguments": {"text": "hello"}}}
        t0 = time.perf_counter_ns()
        response, data = post(conn, body, headers)
        samples.append((time.perf_counter_ns() - t0) / 1000)
        if response.status != 200 or b'"result"' not in data:
            sys.exit(f"{tool}: {response.status} {data[:200]!r}")
    return samples


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def main():
    sluice_bin, mock_bin = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    mock, mock_addr = start([mock_bin, "--listen", "127.0.0.1:0"])
    work = tempfile.mkdtemp(prefix="sluice-mcp-bench-")
    config = os.path.join(work, "sluice.toml")
    with open(config, "w") as f:
        f.write(f"""[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
cores = 1

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:9"

[governance]
state_dir = "{work}/state"

[[teams]]
id = "bench"

[[virtual_keys]]
id = "bench"
secret = "{KEY}"
team = "bench"
mcp_tools = ["mock__*"]

[[mcp_servers]]
name = "mock"
url = "http://{mock_addr}/mcp"
""")
    sluice, sluice_addr = start([sluice_bin, "serve", "--config", config], cwd=work)
    try:
        base = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        direct = session(mock_addr, base)
        through = session(sluice_addr, dict(base, authorization=f"Bearer {KEY}"))
        loop(*direct, "echo", 200)  # warm-up
        loop(*through, "mock__echo", 200)
        all_direct, all_through = [], []
        for r in range(rounds):
            d = loop(*direct, "echo", calls)
            t = loop(*through, "mock__echo", calls)
            all_direct += d
            all_through += t
            print(f"round {r}: direct p50 {pct(d, .5):.0f} µs, through sluice p50 {pct(t, .5):.0f} µs, "
                  f"added {pct(t, .5) - pct(d, .5):.0f} µs")
        for name, s in (("direct", all_direct), ("through sluice", all_through)):
            print(f"{name}: n={len(s)} p50 {pct(s, .5):.0f} µs p90 {pct(s, .9):.0f} µs "
                  f"p99 {pct(s, .99):.0f} µs mean {statistics.mean(s):.0f} µs")
        print(f"added p50: {pct(all_through, .5) - pct(all_direct, .5):.0f} µs")
    finally:
        sluice.terminate()
        mock.terminate()
        sluice.wait()
        mock.wait()


if __name__ == "__main__":
    main()
