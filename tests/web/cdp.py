"""cdp.py - a small DevTools-protocol client for headless Chromium over
--remote-debugging-pipe (file descriptors 3 and 4: no network port), with the
standard library only. Used by tests/browser_web.sh and bench/bench_web.sh.

    with Chrome(chromium_path) as c:
        s = c.open_page("file:///.../index.html")    # Page/Runtime/Network on
        c.eval(s, "document.title")
        c.set_files(s, "#model-file", ["/abs/model.onnx"])
        c.requests    # every Network.requestWillBeSent, pages and workers
"""
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
         "--mute-audio", "--remote-debugging-pipe"]


class CdpError(Exception):
    pass


class Chrome:
    def __init__(self, binary, timeout=120, extra_flags=()):
        self.binary, self.timeout = binary, timeout
        self.profile = tempfile.mkdtemp(prefix="interp-chromium-")
        cmd_r, cmd_w = os.pipe()
        rep_r, rep_w = os.pipe()

        def child_fds():
            os.dup2(cmd_r, 103)
            os.dup2(rep_w, 104)
            os.dup2(103, 3)
            os.dup2(104, 4)
        self.log = open(os.path.join(self.profile, "chromium.log"), "w")
        args = [binary] + FLAGS + list(extra_flags) + ["--user-data-dir=" + self.profile,
                                                      "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, preexec_fn=child_fds, pass_fds=(3, 4))
        os.close(cmd_r)
        os.close(rep_w)
        self.w, self.r = cmd_w, rep_r
        self.buf = b""
        self.events = []
        self.next_id = 0
        self.requests = []   # (time, session, url)
        self.workers = {}    # sessionId -> url, live worker targets
        self.console = []    # console errors and exceptions

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def log_tail(self):
        try:
            with open(self.log.name, errors="replace") as f:
                return f.read()[-800:]
        except OSError:
            return ""

    # ---- the wire
    def _read(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise CdpError("timed out waiting for chromium")
            r, _, _ = select.select([self.r], [], [], min(left, 1.0))
            if not r:
                continue
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise CdpError("chromium closed the pipe: " + self.log_tail())
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        m = json.loads(msg)
        if "method" in m:
            self._observe(m)
        return m

    def _observe(self, e):
        m, p, s = e["method"], e.get("params", {}), e.get("sessionId")
        if m == "Network.requestWillBeSent":
            self.requests.append((time.time(), s, p["request"]["url"]))
        elif m == "Target.attachedToTarget":
            info = p["targetInfo"]
            if info["type"] in ("worker", "dedicated_worker"):
                self.workers[p["sessionId"]] = info.get("url", "")
                # its requests too; it waits for nothing (waitForDebuggerOnStart false)
                self._post("Network.enable", {}, p["sessionId"])
                self._post("Runtime.enable", {}, p["sessionId"])
        elif m == "Target.detachedFromTarget":
            self.workers.pop(p.get("sessionId"), None)
        elif m == "Runtime.exceptionThrown":
            self.console.append("exception: " + p["exceptionDetails"].get("text", "?") + " " +
                                str(p["exceptionDetails"].get("exception", {}).get("description", ""))[:300])
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.console.append("console.error: " + " ".join(
                str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        self.events.append(e)

    def _post(self, method, params, session):
        self.next_id += 1
        m = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            m["sessionId"] = session
        os.write(self.w, json.dumps(m).encode() + b"\0")
        return self.next_id

    def send(self, method, params=None, session=None, timeout=None):
        mid = self._post(method, params, session)
        deadline = time.time() + (timeout or self.timeout)
        while True:
            r = self._read(deadline)
            if r.get("id") == mid:
                if "error" in r:
                    raise CdpError("%s: %s" % (method, r["error"]))
                return r.get("result", {})

    def pump(self, seconds):
        """Reads events for a while (nothing to wait for)."""
        deadline = time.time() + seconds
        try:
            while True:
                self._read(deadline)
        except CdpError as e:
            if "timed out" not in str(e):
                raise

    def wait_event(self, name, timeout=None):
        for i, e in enumerate(self.events):
            if e.get("method") == name:
                return self.events.pop(i)
        deadline = time.time() + (timeout or self.timeout)
        while True:
            e = self._read(deadline)
            if e.get("method") == name:
                self.events.remove(e)
                return e

    # ---- pages
    def open_page(self, url):
        t = self.send("Target.createTarget", {"url": "about:blank"})
        s = self.send("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True})["sessionId"]
        for dom in ("Page", "Runtime", "Network", "DOM", "Log"):
            self.send(dom + ".enable", session=s)
        self.send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": False,
                                           "flatten": True}, session=s)
        self.navigate(s, url)
        return s

    def navigate(self, s, url):
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.send("Page.navigate", {"url": url}, session=s)
        self.wait_event("Page.loadEventFired")
        self.loaded_at = time.time()

    def eval(self, s, expr, timeout=None):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, session=s, timeout=timeout)
        if "exceptionDetails" in r:
            raise CdpError("evaluate %s: %s" % (expr[:80], r["exceptionDetails"]))
        return r["result"].get("value")

    def wait_for(self, s, expr, timeout=None):
        """Polls a JavaScript expression until it is truthy; returns its value."""
        deadline = time.time() + (timeout or self.timeout)
        while True:
            v = self.eval(s, expr)
            if v:
                return v
            if time.time() > deadline:
                raise CdpError("timed out waiting for " + expr)
            self.pump(0.05)

    def set_files(self, s, selector, paths):
        root = self.send("DOM.getDocument", {"depth": 0}, session=s)["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector}, session=s)["nodeId"]
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [os.path.abspath(p) for p in paths]},
                  session=s)

    def screenshot(self, s, path, width=1100, height=1400):
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1, "mobile": False}, session=s)
        import base64
        r = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=s)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
