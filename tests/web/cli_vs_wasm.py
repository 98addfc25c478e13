#!/usr/bin/env python3
"""The web page and the command line give the same answers.

Feeds the same inputs to the CLI (`gemmasim advise ... --json`, `gemmasim report --no-render`) and
to the WebAssembly module (tests/web/run_wasm.js, as the page's worker calls it) and compares the
JSON: identical strings and integers, numbers equal within floating-point rounding (the module's C
library rounds exp/log/pow in the last bits differently from glibc's).

  cli_vs_wasm.py GEMMASIM_BINARY SITE_DIR
Exit 0: equal; 1: a difference (printed); 77: skipped (no module built or no node).
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REL_TOL = 1e-9

# args: the flags without dashes, exactly as the page sends them (strings, as a URL carries them)
ADVISE_CASES = [
    {},
    {"budget": "3000", "use-case": "coding"},
    {"budget": "1500", "ctx": "32768", "min-decode-tok-per-s": "20", "rank": "speed"},
    {"budget": "900", "use-case": "mobile"},
    {"hw": "gtx-1650"},
    {"hw": "desktop-rtx3090-used", "use-case": "documents", "rank": "balanced"},
    {"hw": "kind=gpu,vram=8GiB,bw=448GB/s,ram=32GiB"},
    {"hw": "kind=unified,mem=36GiB,bw=410GB/s,fp16=30TFLOPS", "use-case": "agentic"},
    {"hw": "rtx-4090", "users": "8"},  # a server simulated under load
]
# inputs the CLI refuses with one line and exit code 2: the page shows that same line
ERROR_CASES = [
    {"hw": "no-such-gpu"},
    {"budget": "-5"},
    {"use-case": "gaming"},
    {"hw": "kind=gpu,vram=8GiB"},
]


def close(a, b, where, diffs):
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        if type(a) is not type(b):
            diffs.append(f"{where}: {a!r} vs {b!r}")
        elif isinstance(a, dict):
            for k in sorted(set(a) | set(b)):
                if k not in a or k not in b:
                    diffs.append(f"{where}/{k}: only in {'the CLI' if k in a else 'the module'}")
                else:
                    close(a[k], b[k], f"{where}/{k}", diffs)
        elif isinstance(a, list):
            if len(a) != len(b):
                diffs.append(f"{where}: {len(a)} items vs {len(b)}")
            for i, (x, y) in enumerate(zip(a, b)):
                close(x, y, f"{where}[{i}]", diffs)
        elif a != b:
            diffs.append(f"{where}: {a!r} vs {b!r}")
        return
    if isinstance(a, int) and isinstance(b, int):
        if a != b:
            diffs.append(f"{where}: {a} vs {b}")
    elif math.isnan(a) and math.isnan(b):
        return  # a missing value on both sides (a bar for a variant that does not fit)
    elif not math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12):
        diffs.append(f"{where}: {a!r} vs {b!r}")


def csv_rows(text):
    rows = []
    for line in text.splitlines():
        if line.startswith("#"):
            rows.append([line])
            continue
        cells = []
        for c in line.split(","):
            try:
                cells.append(float(c))
            except ValueError:
                cells.append(c)
        rows.append(cells)
    return rows


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    cli, site = sys.argv[1], sys.argv[2]
    if not os.path.exists(os.path.join(site, "gemmasim.wasm")):
        print(f"SKIP: no WebAssembly module in {site} (bash scripts/web.sh builds it)")
        return 77
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        print("SKIP: node is not installed (Debian's nodejs comes with emscripten)")
        return 77

    requests = [{"command": "advise", "args": a} for a in ADVISE_CASES + ERROR_CASES]
    requests.append({"command": "charts", "args": {"top": "5"}})
    with tempfile.TemporaryDirectory() as tmp:
        rq = os.path.join(tmp, "requests.json")
        with open(rq, "w") as f:
            json.dump(requests, f)
        wasm = json.loads(subprocess.run([node, os.path.join(HERE, "run_wasm.js"), site, rq], check=True,
                                         capture_output=True, text=True).stdout)
        failures = 0
        for args, answer in zip(ADVISE_CASES, wasm):
            argv = [cli, "advise", "--json"] + [x for k, v in args.items() for x in (f"--{k}", v)]
            p = subprocess.run(argv, capture_output=True, text=True)
            if p.returncode != 0 or not answer.get("ok"):
                print(f"FAIL {args}: CLI exit {p.returncode} ({p.stderr.strip()}), module: {answer.get('error')}")
                failures += 1
                continue
            diffs = []
            close(json.loads(p.stdout), answer["result"], "advise", diffs)
            if not answer["result"]["recommendations"] and not args.get("hw", "").startswith("kind="):
                diffs.append("no recommendation: the case tests nothing")
            print(f"{'ok  ' if not diffs else 'FAIL'} advise {args}: {len(answer['result']['recommendations'])} "
                  f"recommendations, {len(diffs)} differences")
            for d in diffs[:20]:
                print("     " + d)
            failures += bool(diffs)
        for args, answer in zip(ERROR_CASES, wasm[len(ADVISE_CASES):]):
            argv = [cli, "advise", "--json"] + [x for k, v in args.items() for x in (f"--{k}", v)]
            p = subprocess.run(argv, capture_output=True, text=True)
            line = p.stderr.strip().removeprefix("gemmasim: ")
            same = p.returncode == 2 and not answer["ok"] and "\n" not in line and line.endswith(answer["error"])
            print(f"{'ok  ' if same else 'FAIL'} error {args}: CLI exit {p.returncode} '{line}', module '{answer.get('error')}'")
            failures += not same

        # the charts: the module's CSV against the files `gemmasim report --no-render` writes
        out = os.path.join(tmp, "report")
        subprocess.run([cli, "report", "--no-render", "--out", out], check=True, capture_output=True)
        charts = wasm[-1]
        if not charts.get("ok"):
            print(f"FAIL charts: {charts.get('error')}")
            return 1
        for c in charts["result"]:
            files = {c["name"] + ".csv": c["csv"], **c["extra_csv"]}
            for name, text in files.items():
                with open(os.path.join(out, name)) as f:
                    want = f.read()
                diffs = []
                close(csv_rows(want), csv_rows(text), name, diffs)
                print(f"{'ok  ' if not diffs else 'FAIL'} chart {name}: {len(want.splitlines())} lines, {len(diffs)} differences")
                for d in diffs[:10]:
                    print("     " + d)
                failures += bool(diffs)
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
