#!/usr/bin/env python3
"""Computes sluice's top-level module import graph from `crate::` paths in src/ and reports
import cycles between modules and arrows that point from a lower layer to an upper one.

Usage: python3 tools/modgraph.py [src-dir]   (exit status 1 when a cycle or upward arrow exists)

Layers (docs/ARCHITECTURE.md): a module may import only modules of a lower or equal rank,
and modules of equal rank may not import each other except where listed as beside.
"""
import os
import re
import sys

# Rank of each top-level module: lower rank = lower layer.
LAYERS = {
    "runtime::io": -1,  # the runtime's small types (spawn, TCP, timer, channel, notify): a leaf
    "config": 0,
    "http": 0,
    "sse": 0,
    "json": 0,
    "date": 0,
    "governance": 1,
    "error": 1.5,
    "observe": 2,
    "providers": 3,
    "routing": 3,
    "upstream": 3,
    "proxy": 4,
    "runtime": 5,
    "cli": 6,
}
# Same-rank imports that are allowed (pieces of one layer side by side, never both ways).
ALLOWED_SAME_RANK = {
    ("config", "http"),
    ("config", "date"),
    ("http", "json"),
    ("routing", "providers"),
}
# Modules that may not import these, whatever the ranks say (the hard rule).
FORBIDDEN = {
    low: {"proxy", "runtime", "runtime::io", "observe"}
    for low in ("http", "sse", "governance", "config")
}

PATH = re.compile(r"\bcrate::([a-z_]+(?:::io\b)?)")
USE_GROUP = re.compile(r"use crate::\{([^;]*)\}", re.S)


def module_of(src, path):
    rel = os.path.relpath(path, src)
    parts = rel.split(os.sep)
    if len(parts) == 1:
        stem = parts[0][:-3]
        return None if stem in ("lib", "main") else stem
    if parts[0] == "runtime" and len(parts) > 2 and parts[1] == "io":
        return "runtime::io"
    return parts[0]


def normalise(name):
    return name if name == "runtime::io" else name.split("::")[0]


def imports(text):
    found = {normalise(m) for m in PATH.findall(text)}
    for group in USE_GROUP.findall(text):
        for item in re.findall(r"(?:^|[,{\s])([a-z_]+(?:::io\b)?)::", group):
            found.add(normalise(item))
    return found


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    edges = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            here = module_of(src, path)
            if here is None:
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for there in imports(text):
                if there != here and there in LAYERS:
                    edges.setdefault(here, {}).setdefault(there, set()).add(
                        os.path.relpath(path, src))
    bad = 0
    print("module import graph (importer -> imported):")
    for here in sorted(edges, key=lambda m: (LAYERS.get(m, 99), m)):
        print(f"  {here} -> {', '.join(sorted(edges[here]))}")
    print("upward or sideways arrows:")
    for here, targets in sorted(edges.items()):
        for there, files in sorted(targets.items()):
            lo, hi = LAYERS.get(here, 99), LAYERS.get(there, 99)
            forbidden = there in FORBIDDEN.get(here, ())
            if forbidden or hi > lo or (hi == lo and (here, there) not in ALLOWED_SAME_RANK):
                bad += 1
                print(f"  {here} (rank {lo}) -> {there} (rank {hi}) in {', '.join(sorted(files))}")
    if not bad:
        print("  none")
    # Cycles: depth-first search over module edges.
    print("cycles:")
    cycles = []
    state = {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif state.get(nxt) is None:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if state.get(node) is None:
            visit(node, [])
    for c in cycles:
        print("  " + " -> ".join(c))
    if not cycles:
        print("  none")
    sys.exit(1 if bad or cycles else 0)


if __name__ == "__main__":
    main()
