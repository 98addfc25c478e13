#!/usr/bin/env python3
"""The web page in a real browser: headless Chromium, driven through chromedriver (WebDriver's
HTTP protocol, Python's standard library only).

Serves SITE_DIR on a free local port, loads the page, drives the inputs as a person would (types a
budget, picks a device, describes a GPU of their own, opens a shared link, gives a bad value),
checks what the page shows after each, that hovering and legend clicks work on the charts, and
that nothing reached the browser's console as an error. Writes a screenshot for review and prints
the timings (first answer after load, re-rank after an input change): figures, not assertions.

  browser_test.py SITE_DIR [SCREENSHOT.png]
Exit 0: passed; 1: failed; 77: skipped (no Chromium, chromedriver or built page).
"""
import base64
import functools
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".js": "text/javascript"}

    def log_message(self, *args):
        pass


class Driver:
    """The few WebDriver commands this test needs."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.sid = None

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=120) as f:
            v = json.loads(f.read())["value"]
        if isinstance(v, dict) and "error" in v:
            raise RuntimeError(f"{method} {path}: {v['error']}: {v.get('message', '')[:300]}")
        return v

    def s(self, method, path, body=None):
        return self.req(method, f"/session/{self.sid}{path}", body)

    def start(self, chromium):
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,2600"]},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        self.sid = self.req("POST", "/session", caps)["sessionId"]

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        v = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def click(self, css):
        self.s("POST", f"/element/{self.find(css)}/click", {})

    def type(self, css, text):
        e = self.find(css)
        self.s("POST", f"/element/{e}/clear", {})
        # ending with Tab commits the value: the input's change event, as for a person
        self.s("POST", f"/element/{e}/value", {"text": text + "\ue004"})

    def logs(self):
        return self.s("POST", "/se/log", {"type": "browser"})


class Check:
    def __init__(self):
        self.failures = 0

    def __call__(self, ok, what):
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        self.failures += not ok


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    site = os.path.abspath(sys.argv[1])
    shot = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(site), "screenshot.png")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not os.path.exists(os.path.join(site, "index.html")) or not os.path.exists(os.path.join(site, "gemmasim.wasm")):
        print(f"SKIP: no built page in {site} (bash scripts/web.sh)")
        return 77
    if not chromium or not chromedriver:
        print("SKIP: Chromium or chromedriver is not installed (bash scripts/setup.sh installs chromium and chromium-driver)")
        return 77

    http_port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", http_port), functools.partial(Quiet, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    drv_port = free_port()
    drv_proc = subprocess.Popen([chromedriver, f"--port={drv_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = Driver(drv_port)
    check = Check()
    try:
        for _ in range(100):
            try:
                if d.req("GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        d.start(chromium)
        url = f"http://127.0.0.1:{http_port}/index.html"

        def answers():
            return int(d.js("return document.getElementById('status').dataset.answers || '0'"))

        def wait_state(states, after=None, timeout=60):
            end = time.time() + timeout
            while time.time() < end:
                st = d.js("const s = document.getElementById('status'); return [s.dataset.state, s.dataset.answers || '0'];")
                if st[0] in states and (after is None or int(st[1]) > after or st[0] == "error"):
                    return st[0]
                time.sleep(0.05)
            return "timeout"

        def ranked():
            return d.js("return [...document.querySelectorAll('#ranked tbody tr')].map(r => [...r.cells].map(c => c.textContent));")

        # 1. the page loads and answers on the defaults
        d.s("POST", "/url", {"url": url})
        check(wait_state({"done", "error"}) == "done", "the page answers on the defaults")
        rows = ranked()
        check(len(rows) == 10, f"ten ranked answers ({len(rows)})")
        check(d.js("return document.getElementById('winner').textContent").startswith("Gemma 4"), "a recommendation in words")
        cmds = d.js("return document.getElementById('commands').textContent")
        check("llama-server" in cmds or "vllm serve" in cmds, f"a run command to copy: {cmds.splitlines()[0] if cmds else ''}")
        check("budget=2000" in d.js("return location.search"), "the URL holds the inputs")
        fit = d.js("return [...document.querySelectorAll('#fit tbody tr')].map(r => r.cells[0].textContent)")
        check(len(fit) >= 2 and fit[-1] == "all", f"the fit table, device by device ({fit})")
        grid = d.js("return [...document.querySelectorAll('#grid tbody tr')].map(r => r.cells[0].textContent)")
        check(len(grid) == 4, f"speed for each variant ({grid})")

        # 2. the charts: drawn, hover shows a value, a legend click hides a series
        end = time.time() + 60
        while time.time() < end and not d.js("return document.getElementById('charts').dataset.drawn"):
            time.sleep(0.1)
        n_charts = int(d.js("return document.getElementById('charts').dataset.drawn || '0'"))
        check(n_charts == 8, f"eight charts ({n_charts})")
        tip = d.js("""
          const c = document.getElementById('chart-decode');
          const bar = c.querySelector('.datum'); const r = bar.getBoundingClientRect();
          bar.dispatchEvent(new MouseEvent('mousemove', {clientX: r.x + 1, clientY: r.y + 1, bubbles: true}));
          const t = c.querySelector('.tip'); return [t.style.display, t.textContent];""")
        check(tip[0] == "block" and "tok/s" in tip[1], f"hover shows the value ({tip[1]})")
        before = d.js("return document.querySelectorAll('#chart-decode .datum').length")
        d.click("#chart-decode .legend button")
        after = d.js("return document.querySelectorAll('#chart-decode .datum').length")
        pressed = d.js("return document.querySelector('#chart-decode .legend button').getAttribute('aria-pressed')")
        check(after < before and pressed == "false", f"a legend click hides its series ({before} -> {after} bars)")

        # 3. a new budget re-ranks: every system within it
        n = answers()
        d.type("#budget", "800")
        check(wait_state({"done", "error"}, n) == "done", "a budget of $800 answers")
        rows = ranked()
        prices = [r[2] for r in rows]
        check(rows and all(p.endswith("/h") or int(p.lstrip("$")) <= 800 for p in prices), f"all within $800 ({prices[:5]}...)")
        check("budget=800" in d.js("return location.search"), "the URL follows")

        # 4. hardware I own: a GTX 1650
        n = answers()
        d.click("input[value=device]")
        wait_state({"done", "error"}, n)
        n = answers()
        d.click("#hw option[value=gtx-1650]")
        check(wait_state({"done", "error"}, n) == "done", "picking a GTX 1650 answers")
        rows = ranked()
        check(rows and all(r[1] == "gtx-1650" for r in rows), f"every answer on the GTX 1650 ({rows[0][1] if rows else ''})")
        big = [r for r in rows if r[3] in ("Gemma 4 26B A4B", "Gemma 4 31B")]
        check(all(r[5] != "full GPU" for r in big), f"the large variants only with the CPU's help ({[r[5] for r in big]})")
        check("hw=gtx-1650" in d.js("return location.search"), "the URL holds the device")

        # 5. describe my own: a 24 GiB GPU at 936 GB/s
        n = answers()
        d.click("input[value=custom]")
        wait_state({"done", "error"}, n)
        n = answers()
        d.type("#own-mem", "24")
        wait_state({"done", "error"}, n)
        n = answers()
        d.type("#own-bw", "936")
        check(wait_state({"done", "error"}, n) == "done", "a GPU of my own answers")
        q = d.js("return decodeURIComponent(location.search)")
        check("hw=kind=gpu,vram=24GiB,bw=936GB/s" in q, f"the URL holds the description ({q})")
        rows = ranked()
        check(any(r[3] in ("Gemma 4 31B", "Gemma 4 26B A4B") for r in rows), "a 24 GiB GPU runs a large variant")

        # 6. a bad value: one line naming it, no crash; a good value answers again
        n = answers()
        d.type("#own-bw", "0")
        st = wait_state({"done", "error"}, n)
        err = d.js("return document.getElementById('error').textContent")
        check(st == "error" and "bandwidth" in err and "\n" not in err, f"a bandwidth of 0 is named ({err})")
        n = answers()
        d.type("#own-bw", "936")
        check(wait_state({"done", "error"}, n) == "done" and d.js("return document.getElementById('error').hidden"),
              "a good value answers again")

        # 7. a shared link opens with its inputs
        d.s("POST", "/url", {"url": url + "?hw=desktop-rtx3090-used&use-case=coding&ctx=32768&rank=speed"})
        check(wait_state({"done", "error"}) == "done", "a shared link answers")
        vals = d.js("return ['hw', 'use-case', 'ctx', 'rank'].map(i => document.getElementById(i).value)")
        check(vals == ["desktop-rtx3090-used", "coding", "32768", "speed"], f"its inputs are set ({vals})")
        speeds = [float(r[9]) for r in ranked()]
        check(speeds == sorted(speeds, reverse=True), "ranked by speed, fastest first")

        # 8. timings (figures, not assertions): first answer, and re-ranks on a warm page
        rerank = []
        for b in ("2500", "3000", "2000", "1500", "1200"):
            d.click("input[value=budget]") if b == "2500" else None
            n = answers()
            t = time.time()
            d.type("#budget", b)
            wait_state({"done", "error"}, n)
            rerank.append(time.time() - t)
        tm = d.js("return window.gemmasimTimings")
        first = tm["firstAnswerMs"]
        print(f"timing: first answer {first:.0f} ms after the page started loading (shared link load); "
              f"re-rank in the page median {statistics.median(tm['rerankMs']):.0f} ms "
              f"(module call median {statistics.median(tm['callMs']):.0f} ms, {len(tm['callMs'])} calls)")

        # 9. nothing reached the console as an error
        bad = [e for e in d.logs() if e.get("level") in ("SEVERE", "ERROR") and "favicon.ico" not in e.get("message", "")]
        check(not bad, "no error in the browser's console" + "".join(f"\n     {e['message'][:200]}" for e in bad))

        png = base64.b64decode(d.s("GET", "/screenshot"))
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        with open(shot, "wb") as f:
            f.write(png)
        print(f"screenshot: {shot}")
    finally:
        try:
            if d.sid:
                d.req("DELETE", f"/session/{d.sid}")
        except Exception:  # the browser may already be gone: the result stands
            pass
        drv_proc.terminate()
        drv_proc.wait(timeout=10)
        server.shutdown()
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
