#!/usr/bin/env python3
"""Arithmetic for loadtest/compare.sh: judges probe runs, reads Prometheus histograms, and turns
the measurements it collected (one JSON object per line) into the comparison tables.

Subcommands:
  judge RESULT.json P99_LIMIT_US         prints pass or fail (no errors, >= 97 % of the rate, p99)
  overhead BEFORE.txt AFTER.txt NAME     prints {"count","p50_us","p99_us","mean_us"} of the
                                         histogram NAME between two /metrics scrapes
  report MEASUREMENTS.jsonl              prints the tables (markdown)
"""

import json
import math
import re
import statistics
import sys
from collections import defaultdict


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def judge(path, p99_limit_us):
    result = load(path)
    target = result.get("target_rps", 0.0)
    p99 = result.get("latency_us", {}).get("p99", math.inf)
    ok = (
        result["errors"]["total"] == 0
        and result["achieved_rps"] >= 0.97 * target
        and result["ok"] == result["sent"]
        and p99 < p99_limit_us
    )
    print("pass" if ok else "fail")


BUCKET = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)')
SCALAR = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)_(?P<kind>sum|count)(\{[^}]*\})?\s+(?P<value>\S+)')


def parse_histogram(path, name):
    """Sums every series of histogram `name` by bucket bound: ({le: count}, sum, count)."""
    buckets = defaultdict(float)
    total_sum = 0.0
    total_count = 0.0
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}, 0.0, 0.0
    for line in lines:
        match = BUCKET.match(line)
        if match and match.group("name") == name:
            le = re.search(r'le="([^"]*)"', match.group("labels"))
            if le:
                bound = math.inf if le.group(1) in ("+Inf", "Inf") else float(le.group(1))
                buckets[bound] += float(match.group("value"))
            continue
        match = SCALAR.match(line)
        if match and match.group("name") == name:
            if match.group("kind") == "sum":
                total_sum += float(match.group("value"))
            else:
                total_count += float(match.group("value"))
    return buckets, total_sum, total_count


def quantile(q, buckets):
    """histogram_quantile as Prometheus computes it (linear within a bucket)."""
    bounds = sorted(buckets)
    if not bounds:
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            width = count - previous_count
            if width <= 0:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / width
        previous_bound, previous_count = bound, count
    return bounds[-1]


def overhead(before_path, after_path, name):
    before, before_sum, before_count = parse_histogram(before_path, name)
    after, after_sum, after_count = parse_histogram(after_path, name)
    delta = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    count = after_count - before_count
    result = {"count": int(count)}
    if count > 0 and delta:
        p50, p99 = quantile(0.50, delta), quantile(0.99, delta)
        result["p50_us"] = None if p50 is None else round(p50 * 1e6, 2)
        result["p99_us"] = None if p99 is None else round(p99 * 1e6, 2)
        result["mean_us"] = round((after_sum - before_sum) / count * 1e6, 2)
    print(json.dumps(result))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}"


def report(path):
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    by_kind = defaultdict(list)
    for row in rows:
        by_kind[row["kind"]].append(row)
    if by_kind.get("rate"):
        print_rate_tables(by_kind["rate"])
    if by_kind.get("max"):
        print_max_table(by_kind["max"])
    if by_kind.get("streams"):
        print_streams_table(by_kind["streams"])


def result_of(row):
    return load(row["result"])


def print_rate_tables(rows):
    groups = defaultdict(list)
    for row in rows:
        groups[(row["profile"], row["rate"], row["target"])].append(row)
    profiles = list(dict.fromkeys(row["profile"] for row in rows))
    for profile in profiles:
        rates = sorted({row["rate"] for row in rows if row["profile"] == profile})
        runs = max(len(v) for k, v in groups.items() if k[0] == profile)
        print(f"\n### {profile}: medians of {runs} run(s) per cell\n")
        print("| target | rate | achieved | errors | p50 us | p99 us | p99.9 us | ttft p99 us "
              "| added p50 | added p99 | added p99.9 | CPU s / 1k req | peak RSS MB "
              "| own overhead p50/p99 us |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for rate in rates:
            base = summarize(groups.get((profile, rate, "direct"), []))
            for target in ("direct", "sluice", "nginx"):
                cell = summarize(groups.get((profile, rate, target), []))
                if cell is None:
                    continue
                added = [None, None, None]
                if base is not None and target != "direct":
                    added = [cell[k] - base[k] if None not in (cell[k], base[k]) else None
                             for k in ("p50", "p99", "p999")]
                own = "n/a"
                if cell["own_p50"] is not None:
                    own = f"{fmt(cell['own_p50'], 2)} / {fmt(cell['own_p99'], 2)}"
                cpu = "n/a" if target == "direct" else fmt(cell["cpu_per_k"], 3)
                rss = "n/a" if target == "direct" else fmt(cell["rss_mb"], 1)
                print(f"| {target} | {rate} | {fmt(cell['achieved'], 0)} | {cell['errors']} "
                      f"| {fmt(cell['p50'])} | {fmt(cell['p99'])} | {fmt(cell['p999'])} "
                      f"| {fmt(cell['ttft_p99'])} | {fmt(added[0])} | {fmt(added[1])} "
                      f"| {fmt(added[2])} | {cpu} | {rss} | {own} |")


def summarize(rows):
    if not rows:
        return None
    results = [result_of(row) for row in rows]
    latency = [r.get("latency_us", {}) for r in results]
    cpu = []
    for row, result in zip(rows, results):
        if row.get("cpu_s") is not None and result["sent"] > 0:
            cpu.append(row["cpu_s"] / (result["sent"] + result.get("warmup_requests", 0)) * 1000)
    return {
        "achieved": median([r["achieved_rps"] for r in results]),
        "errors": sum(r["errors"]["total"] for r in results),
        "p50": median([l.get("p50") for l in latency]),
        "p99": median([l.get("p99") for l in latency]),
        "p999": median([l.get("p99_9") for l in latency]),
        "ttft_p99": median([r.get("ttft_us", {}).get("p99") for r in results]),
        "cpu_per_k": median(cpu),
        "rss_mb": max((row.get("hwm_kb") or 0) for row in rows) / 1024 or None,
        "own_p50": median([(row.get("overhead") or {}).get("p50_us") for row in rows]),
        "own_p99": median([(row.get("overhead") or {}).get("p99_us") for row in rows]),
    }


def print_max_table(rows):
    print("\n### highest sustained rate (p99 < limit, no errors, >= 97 % of target)\n")
    print("| target | profile | highest passing rate | p99 at that rate us "
          "| server CPU s / 1k req at that rate | probes |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        per_k = None
        if row.get("cpu_s") is not None and row["max_rate"] > 0:
            result = result_of(row)
            requests = result["sent"] + result.get("warmup_requests", 0)
            per_k = row["cpu_s"] / requests * 1000 if requests else None
        row["per_k"] = per_k
        print(f"| {row['target']} | {row['profile']} | {row['max_rate']} "
              f"| {fmt(row.get('p99_us'))} | {fmt(per_k, 4)} | {row['probes']} |")
    print("\n(server = the proxy; for direct, the mock itself)")
    direct = [row for row in rows if row["target"] == "direct"]
    driven = [row["max_rate"] for row in rows if row["target"] != "direct"]
    if direct and driven and max(driven) > 0:
        most = max(driven)
        served = direct[0]["max_rate"]
        print(f"\nmock capacity: served {served}/s direct while sharing one CPU with the generator "
              f"({served / most:.1f}x the most any proxy drove it at, {most}/s)", end="")
        if direct[0].get("per_k"):
            capacity = 1000 / direct[0]["per_k"]
            verdict = "at least 3x" if capacity >= 3 * most else "UNDER 3x"
            print(f"; its CPU cost per request gives {capacity:.0f}/s on one whole CPU: "
                  f"{capacity / most:.1f}x ({verdict})")
        else:
            print()


def print_streams_table(rows):
    print("\n### concurrent streams (claude-code, held open at once)\n")
    print("| target | streams | peak open | completed | errors | ttft p50 us | ttft p99 us "
          "| added ttft p99 us | peak RSS MB | server CPU use |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = None
    for row in rows:
        if row["target"] == "direct":
            base = result_of(row).get("ttft_us", {}).get("p99")
    for row in rows:
        result = result_of(row)
        ttft = result.get("ttft_us", {})
        added = None
        if row["target"] != "direct" and base is not None and ttft.get("p99") is not None:
            added = ttft["p99"] - base
        rss = "n/a" if row["target"] == "direct" else fmt((row.get("hwm_kb") or 0) / 1024)
        use = "n/a"
        if row.get("cpu_s") is not None and row.get("hold_s"):
            use = f"{row['cpu_s'] / row['hold_s'] * 100:.0f} %"
        print(f"| {row['target']} | {result.get('streams')} | {result.get('peak_open_streams')} "
              f"| {result['ok']} | {result['errors']['total']} | {fmt(ttft.get('p50'))} "
              f"| {fmt(ttft.get('p99'))} | {fmt(added)} | {rss} | {use} |")
    print("\n(server CPU use: CPU seconds of the proxy, or of the mock when direct, over the hold time)")


def main(argv):
    if len(argv) >= 3 and argv[1] == "judge":
        judge(argv[2], float(argv[3]))
    elif len(argv) == 5 and argv[1] == "overhead":
        overhead(argv[2], argv[3], argv[4])
    elif len(argv) == 3 and argv[1] == "report":
        report(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
