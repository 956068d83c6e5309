#!/usr/bin/env python3
"""loadtest/floor_compare.py: CPU per request of sluice beside the floor proxies and nginx,
interleaved run by run, to tell what glommio's socket path costs from what sluice's work costs.

Every proxy runs at once, each alone on the proxy CPU while it is measured (the others idle),
in front of one sluice-mock; each repetition measures every target once at each rate, in turn,
so a noisy neighbour hits all of them alike. Reported: the median over repetitions of CPU
seconds per 1,000 requests (utime + stime of the proxy process and its children) and of the
generator's added p50 over direct, and each target's ratio to nginx within the same repetition.

    loadtest/floor_compare.py --sluice-bin target/release/sluice \\
        --floor floor-epoll=epoll:target/release/sluice-floor-proxy \\
        --floor floor-uring=uring:target/release/sluice-floor-proxy \\
        [--rates 5000,10000] [--profiles small,claude-code] [--reps 5] [--seconds 5]

Targets: direct (the mock), nginx, each --floor NAME=REACTOR:BIN (a sluice-floor-proxy run
with SLUICE_FLOOR_REACTOR=REACTOR), sluice. Needs root for SCHED_FIFO (as compare.sh);
loopback only; every process started here is stopped on exit and every run is bounded.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CPU_LOAD, CPU_PROXY = 0, 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_line(path, prefix="listening ", seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            for line in open(path):
                if line.startswith(prefix):
                    return line.split()
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    sys.exit(f"floor_compare: no '{prefix}' line in {path}: {open(path).read()[-2000:]}")


def wait_port(port, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"floor_compare: nothing listens on {port}")


def cpu_ticks(pid):
    """utime + stime of a process and its direct children (nginx's worker)."""
    pids = [pid]
    try:
        pids += [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice-bin", required=True)
    ap.add_argument("--floor", action="append", default=[], metavar="NAME=REACTOR:BIN")
    ap.add_argument("--bin-dir", default=os.path.join(HERE, "..", "target", "release"))
    ap.add_argument("--rates", default="5000,10000")
    ap.add_argument("--profiles", default="small,claude-code")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--out")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="sluice-floor.")
    os.makedirs(out, exist_ok=True)
    root = os.geteuid() == 0
    rt = ["chrt", "-f", "20"] if root else []
    rt_mock = ["chrt", "-f", "30"] if root else []
    procs = []

    def start(name, cmd, env=None):
        log = open(os.path.join(out, f"{name}.out"), "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=out)
        procs.append(proc)
        return proc

    try:
        results = []
        for profile in args.profiles.split(","):
            mock_args = (["--text-events", "4", "--thinking", "false", "--tool-uses", "0"]
                         if profile == "small" else
                         ["--text-events", "12", "--thinking", "true", "--tool-uses", "1"])
            mock = start(f"mock-{profile}", rt_mock + ["taskset", "-c", str(CPU_LOAD),
                         os.path.join(args.bin_dir, "sluice-mock"), "--cpus", str(CPU_LOAD),
                         "--exit-after", "3600"] + mock_args)
            mock_port = int(wait_line(os.path.join(out, f"mock-{profile}.out"))[1].rsplit(":", 1)[1])
            targets = {"direct": (f"http://127.0.0.1:{mock_port}", None)}

            def gateway(name, binary, reactor=None):
                conf = os.path.join(out, f"{name}-{profile}.toml")
                with open(conf, "w") as f:
                    f.write(f'[server]\nlisten = "127.0.0.1:{free_port()}"\n'
                            f'admin_listen = "127.0.0.1:{free_port()}"\ncores = 1\n'
                            f'access_log = "off"\n\n[[providers]]\nname = "anthropic"\n'
                            f'kind = "anthropic"\nbase_url = "http://127.0.0.1:{mock_port}"\n')
                env = dict(os.environ, SLUICE_FLOOR_REACTOR=reactor or "uring")
                proc = start(f"{name}-{profile}", rt + ["taskset", "-c", str(CPU_PROXY), binary,
                             "serve", "--config", conf], env)
                line = wait_line(os.path.join(out, f"{name}-{profile}.out"))
                subprocess.run(["taskset", "-a", "-cp", str(CPU_PROXY), str(proc.pid)],
                               stdout=subprocess.DEVNULL, check=False)
                targets[name] = (f"http://{line[1]}", proc.pid)

            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            ndir = os.path.join(out, f"nginx-{profile}")
            os.makedirs(ndir, exist_ok=True)
            nport = free_port()
            template = open(os.path.join(HERE, "nginx.conf.template")).read()
            conf = (template.replace("@DIR@", ndir).replace("@LISTEN@", f"127.0.0.1:{nport}")
                    .replace("@UPSTREAM@", f"127.0.0.1:{mock_port}")
                    .replace("@CPU_MASK@", "1" + "0" * CPU_PROXY))
            open(os.path.join(ndir, "nginx.conf"), "w").write(conf)
            priv = []
            if root:
                subprocess.run(["chown", "-R", "65534:65534", ndir], check=True)
                priv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            nproc = start(f"nginx-{profile}", rt + ["taskset", "-c", str(CPU_PROXY)] + priv +
                          [nginx, "-p", ndir, "-c", os.path.join(ndir, "nginx.conf"),
                           "-e", os.path.join(ndir, "error.log")])
            wait_port(nport)
            targets["nginx"] = (f"http://127.0.0.1:{nport}", nproc.pid)
            for floor in args.floor:
                name, spec = floor.split("=", 1)
                reactor, binary = spec.split(":", 1)
                gateway(name, binary, reactor)
            gateway("sluice", args.sluice_bin)

            def load(url, rate, seconds, json_path):
                cmd = rt + ["taskset", "-c", str(CPU_LOAD), os.path.join(args.bin_dir, "sluice-loadtest"),
                            "--url", url, "--profile", profile, "--rate", str(rate),
                            "--duration", str(seconds + 1), "--warmup", "1", "--timeout-ms", "5000",
                            "--connections", "64", "--cpus", str(CPU_LOAD), "--quiet",
                            "-H", "x-api-key: sk-loadtest", "--json", json_path]
                subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False, timeout=seconds + 60)

            for name, (url, _) in targets.items():  # warm every path
                load(url, 500, 1, os.path.join(out, "warm.json"))
            for rate in [int(r) for r in args.rates.split(",")]:
                for rep in range(args.reps):
                    for name, (url, pid) in targets.items():
                        path = os.path.join(out, f"{profile}-{rate}-{name}-{rep}.json")
                        before = cpu_ticks(pid) if pid else 0
                        load(url, rate, args.seconds, path)
                        after = cpu_ticks(pid) if pid else 0
                        r = json.load(open(path))
                        done = r["sent"] + r.get("warmup_requests", 0)
                        results.append({
                            "profile": profile, "rate": rate, "rep": rep, "target": name,
                            "achieved": r["achieved_rps"], "errors": r["errors"]["total"],
                            "p50": r["latency_us"].get("p50"), "p99": r["latency_us"].get("p99"),
                            "cpu_per_1k": (after - before) / os.sysconf("SC_CLK_TCK") / done * 1000
                            if pid and done else None,
                        })
                        print(json.dumps(results[-1]), file=sys.stderr)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait()
            procs.clear()
        json.dump(results, open(os.path.join(out, "results.json"), "w"), indent=1)
        report(results)
        print(f"\nraw results in {out}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def report(results):
    print("| profile @ rate | target | CPU s / 1k (median) | ratio to nginx, per rep (median) "
          "| added p50 us (median) | achieved/s (min) | errors |")
    print("|---|---|---|---|---|---|---|")
    cells = sorted({(r["profile"], r["rate"]) for r in results}, key=lambda c: (c[0] != "small", c))
    for profile, rate in cells:
        rows = [r for r in results if r["profile"] == profile and r["rate"] == rate]
        reps = sorted({r["rep"] for r in rows})
        get = {(r["target"], r["rep"]): r for r in rows}
        for target in dict.fromkeys(r["target"] for r in rows):
            if target == "direct":
                continue
            mine = [get[(target, k)] for k in reps if (target, k) in get]
            cpu = [r["cpu_per_1k"] for r in mine if r["cpu_per_1k"] is not None]
            ratios = [get[(target, k)]["cpu_per_1k"] / get[("nginx", k)]["cpu_per_1k"]
                      for k in reps if (target, k) in get and ("nginx", k) in get
                      and get[(target, k)]["cpu_per_1k"] and get[("nginx", k)]["cpu_per_1k"]]
            added = [get[(target, k)]["p50"] - get[("direct", k)]["p50"] for k in reps
                     if (target, k) in get and ("direct", k) in get
                     and get[(target, k)]["p50"] is not None and get[("direct", k)]["p50"] is not None]
            print(f"| {profile} @ {rate:,}/s | {target} | {statistics.median(cpu):.4f} | "
                  f"{statistics.median(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)}) | "
                  f"{statistics.median(added):.1f} | {min(r['achieved'] for r in mine):,.0f} | "
                  f"{sum(r['errors'] for r in mine)} |")


if __name__ == "__main__":
    main()
