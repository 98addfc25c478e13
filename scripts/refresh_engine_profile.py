#!/usr/bin/env python3
"""Refresh the bundled `reference` engine profile (hwdb/engines/reference.json) from the
engine file `gemmasim probe --engine-out FILE` wrote on this machine.

Only the measured constants move: throughput.bandwidth_efficiency, moe_prefill_efficiency,
compute_efficiency.int8, the whole cpu_ops table, and compute_buffer.kv_float_bytes_per_element
(set by the probed ISA). Every other field, and the key order, stay as they are. Each source
that said "measured: gemmasim probe ..." gets SOURCE_TAG.

usage: scripts/refresh_engine_profile.py PROBED_ENGINE.json "SOURCE_TAG" [BUNDLED.json]
"""
import json
import os
import sys
import tempfile

MEASURED = ["throughput.bandwidth_efficiency", "throughput.moe_prefill_efficiency",
            "throughput.compute_efficiency.int8", "throughput.cpu_ops",
            "compute_buffer.kv_float_bytes_per_element"]


def get(d, path):
    for k in path.split("."):
        d = d[k]
    return d


def put(d, path, v):
    ks = path.split(".")
    for k in ks[:-1]:
        d = d[k]
    d[ks[-1]] = v


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    probed_path, tag = sys.argv[1], sys.argv[2]
    bundled_path = sys.argv[3] if len(sys.argv) == 4 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "hwdb", "engines", "reference.json")
    with open(probed_path) as f:
        probed = json.load(f)
    with open(bundled_path) as f:
        bundled = json.load(f)
    for path in MEASURED:
        put(bundled, path, get(probed, path))
    src = bundled["sources"]
    for k, v in list(src.items()):
        if isinstance(v, str) and v.startswith("measured: gemmasim probe"):
            src[k] = tag
    for k, v in probed["sources"].items():  # sources of measured leaves the bundled file lacks
        if any(k == p or k.startswith(p + ".") for p in MEASURED) and k not in src:
            src[k] = tag if v.startswith("measured: gemmasim probe") else v
    kv = "compute_buffer.kv_float_bytes_per_element"
    if kv in probed["sources"]:
        src[kv] = probed["sources"][kv]
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(bundled_path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(bundled, f, indent=2)
        f.write("\n")
    os.replace(tmp, bundled_path)
    print(f"refreshed {bundled_path} from {probed_path}")


if __name__ == "__main__":
    main()
