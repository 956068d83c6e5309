#!/usr/bin/env python3
"""Verify a sluice audit log without sluice: python3 verify_audit_chain.py DIR"""
import hashlib, json, os, re, sys

SEALED = re.compile(rb'(.*),"hash":"([0-9a-f]{64})"\}', re.S)


def verify(d):
    names = [n for n in os.listdir(d) if re.fullmatch(r"audit-\d{6,}\.jsonl", n)]
    names.sort(key=lambda n: int(n[6:-6]))
    head_path = os.path.join(d, "head.json")
    head = json.load(open(head_path)) if os.path.exists(head_path) else None
    seq, prev, anchored = None, None, head is None
    for name in names:
        lines = open(os.path.join(d, name), "rb").read().split(b"\n")
        if lines.pop() and name != names[-1]:
            return f"{name}: ends mid-line"
        for n, line in enumerate(lines, 1):
            m = SEALED.fullmatch(line)
            if not m:
                return f"{name} line {n}: not a sealed record"
            record = json.loads(line)
            canonical = m.group(1) + b"}"  # the line without ,"hash":"..."
            digest = hashlib.sha256(record["prev"].encode() + canonical).hexdigest()
            if digest != m.group(2).decode():
                return f"{name} line {n}: hash mismatch (edited)"
            if seq is None and record["seq"] != 0:
                print(f"note: chain starts at seq {record['seq']} (retention)")
            elif record["seq"] != (seq or 0) or record["prev"] != (prev or "0" * 64):
                return f"{name} line {n}: seq/prev break (deleted or reordered)"
            if head and record["seq"] == head["seq"]:
                if digest != head["hash"]:
                    return f"{name} line {n}: differs from head.json"
                anchored = True
            seq, prev = record["seq"] + 1, digest
    if not anchored:
        return f"records cut: head.json anchors seq {head['seq']}"
    print(f"ok: {seq or 0} records")


if __name__ == "__main__":
    error = verify(sys.argv[1])
    if error:
        print("FAILED:", error)
        sys.exit(1)
