"""web_bench.py - drives headless Chromium for bench/bench_web.sh: interp's
page (build/web, the worker's own timings) and ONNX Runtime Web's page
(bench/web_ort.html), both from one local static server, in alternating
rounds; prints one JSON object with every round's figures and load average.

    web_bench.py CHROMIUM BASE_URL MODEL IMAGE ROUNDS REPS
BASE_URL serves interp/ (the site), web_ort.html and the model and image.
"""
import json
import os
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "web"))
from cdp import Chrome  # noqa: E402

chrome, base, model, image, rounds, reps = sys.argv[1:7]
rounds, reps = int(rounds), int(reps)


def load():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def settle(most=180):
    """Waits for the 1-minute load to fall below 1 (bench/settle.sh's rule)."""
    t0 = time.time()
    while load() >= 1 and time.time() - t0 < most:
        time.sleep(5)


def interp_round(c, s, tmp):
    c.navigate(s, base + "/interp/index.html")
    c.wait_for(s, "window.interp && window.interp.ready", 120)
    engine = c.eval(s, "window.interp.engineStart")
    loads = []
    for i in range(reps):
        n = c.eval(s, "window.interp.done")
        c.eval(s, "document.getElementById('model-file').value = ''")
        c.set_files(s, "#model-file", [model])
        c.wait_for(s, "window.interp.done > %d && !window.interp.busy" % n, 120)
        loads.append(c.eval(s, "window.interp.timings.load"))
    n = c.eval(s, "window.interp.done")
    c.set_files(s, "#image-files", [image])
    c.wait_for(s, "window.interp.done > %d && !window.interp.busy" % n, 300)
    top = c.eval(s, "JSON.stringify(window.interp.result.top)")
    t = c.eval(s, "window.interpBench(%d)" % reps, timeout=600)
    t["load"] = loads
    return {"engine_start": engine, "times": t, "top": json.loads(top)}


def ort_round(c, s):
    q = urllib.parse.urlencode({"model": os.path.basename(model), "image": os.path.basename(image),
                                "reps": reps})
    c.navigate(s, base + "/web_ort.html?" + q)
    r = c.wait_for(s, "window.ortResult", 900)
    if "error" in r:
        raise RuntimeError("ONNX Runtime Web: " + r["error"])
    return r


out = {"rounds": []}
with Chrome(chrome, timeout=900) as c:
    s = c.open_page("about:blank")
    out["browser"] = c.send("Browser.getVersion")["product"]
    for k in range(rounds):
        rec = {"round": k + 1}
        settle()
        rec["load_interp"] = load()
        rec["interp"] = interp_round(c, s, None)
        settle()
        rec["load_ort"] = load()
        rec["ort"] = ort_round(c, s)
        rec["load_end"] = load()
        out["rounds"].append(rec)
        print("round %d done (load %.2f)" % (k + 1, rec["load_end"]), file=sys.stderr, flush=True)
    ext = [u for (t, sess, u) in c.requests if not (u.startswith(base) or u.startswith("blob:")
                                                    or u.startswith("about:") or u.startswith("data:"))]
    out["foreign_requests"] = ext[:10]
print(json.dumps(out))
