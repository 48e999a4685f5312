"""browser_check.py - the browser app (build/web/index.html) in headless
Chromium, driven as a person would: the file inputs get the files, the page's
own results are read back and compared with the native command line on the
same files; hostile files must end in a message with the page still usable;
no request may leave the page after it has loaded. Called by
tests/browser_web.sh; prints FAIL lines and "N passed, N failed".

    browser_check.py CHROMIUM INTERP WORKDIR
"""
import array
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Chrome, CdpError  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
chrome_bin, interp, work = sys.argv[1], sys.argv[2], sys.argv[3]
PAGE = "file://" + os.path.join(ROOT, "build", "web", "index.html")
passed = failed = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL " + what, flush=True)


def fx(p):
    return os.path.join(ROOT, p)


def read_npy(path):
    with open(path, "rb") as f:
        b = f.read()
    hlen = int.from_bytes(b[8:10], "little")
    assert b"'<f4'" in b[10:10 + hlen], path
    a = array.array("f")
    a.frombytes(b[10 + hlen:])
    return a


def worst(mine, ref):
    m = max((abs(v) for v in ref), default=0.0)
    w, at = 0.0, 0
    for i, (a, b) in enumerate(zip(mine, ref)):
        if not abs(a - b) <= w:
            w, at = abs(a - b), i
    if len(mine) != len(ref):
        w = float("inf")
    return (w / m if m > 0 else w), at, m


def cli(args):
    out = subprocess.run([interp] + args + ["--json", "--quiet"], cwd=ROOT, capture_output=True)
    if out.returncode:
        raise RuntimeError("interp %s: %s" % (" ".join(args), out.stderr.decode()[:300]))
    return json.loads(out.stdout)


STATE = """JSON.stringify((() => { const s = window.interp, r = s.result;
  const m = (x) => x ? {class: x.class, layer: x.layer, method: x.method, flag: x.flag,
      imap: Array.from(x.imap), lmap: x.lmap ? Array.from(x.lmap) : null, ih: x.ih, iw: x.iw} : null;
  return {done: s.done, busy: s.busy, errors: s.errors, model: s.model,
          alert: document.getElementById('alert').hidden ? '' : document.getElementById('alert').textContent,
          result: r ? {name: r.name, top: r.top, probs: r.probs, gradcam: m(r.gradcam),
                       occlusion: m(r.occlusion)} : null,
          top_rows: Array.from(document.querySelectorAll('#top5 tbody tr')).map(t => t.textContent)}; })())"""


class Page:
    def __init__(self, c, url):
        self.c = c
        self.s = c.open_page(url)
        c.wait_for(self.s, "window.interp && window.interp.ready", 60)

    def state(self):
        return json.loads(self.c.eval(self.s, STATE))

    def done(self):
        return self.c.eval(self.s, "window.interp.done")

    def act(self, fn, timeout=180):
        """Runs fn (which starts work) and waits until the page has finished it."""
        n = self.done()
        fn()
        self.c.wait_for(self.s, "window.interp.done > %d && !window.interp.busy" % n, timeout)
        return self.state()

    def files(self, sel, paths, timeout=180):
        # an input that already holds the same file would fire no change event
        self.c.eval(self.s, "document.querySelector(%s).value = ''" % json.dumps(sel))
        return self.act(lambda: self.c.set_files(self.s, sel, paths), timeout)

    def js(self, expr, timeout=180):
        return self.act(lambda: self.c.eval(self.s, expr), timeout)

    def workers(self):
        """Live worker targets, once a terminated one has had time to detach."""
        deadline = time.time() + 10
        while len(self.c.workers) > 1 and time.time() < deadline:
            self.c.pump(0.2)
        self.c.pump(0.2)
        return len(self.c.workers)


def compare(st, model, image, tol_prob, tol_map, tag, cls=None, layer=None, method="gradcam",
            patch=24, stride=8):
    """The page's result for image against interp predict/gradcam/occlusion."""
    r = st["result"]
    ok(r is not None and r["name"] == os.path.basename(image) and r["gradcam"] and r["occlusion"],
       "%s: the page shows all results for %s (errors: %s)" % (tag, image, st["errors"][-2:]))
    if not (r and r["gradcam"] and r["occlusion"]):
        return
    pred = cli(["predict", model, image, "--top", "5"])["images"][0]["top"]
    ok([t["class"] for t in r["top"]] == [t["class"] for t in pred][:len(r["top"])],
       "%s: top-5 classes %s, interp predict %s" % (tag, [t["class"] for t in r["top"]],
                                                    [t["class"] for t in pred]))
    dp = max(abs(a["probability"] - b["probability"]) for a, b in zip(r["top"], pred))
    ok(dp <= tol_prob, "%s: top-5 probabilities within %g of interp predict (worst %.2e)" % (tag, tol_prob, dp))
    args = ["gradcam", model, image, "-o", os.path.join(work, "g"), "--method", method]
    if cls is not None:
        args += ["--class", str(cls)]
    if layer:
        args += ["--layer", layer]
    g = cli(args)["maps"][0]
    ok(r["gradcam"]["class"] == g["class"] and r["gradcam"]["layer"] == g["layer"],
       "%s: Grad-CAM of class %s at %s (interp: %s at %s)" % (tag, r["gradcam"]["class"], r["gradcam"]["layer"],
                                                          g["class"], g["layer"]))
    e, at, m = worst(r["gradcam"]["imap"], read_npy(g["files"]["input_npy"]))
    ok(e <= tol_map, "%s: Grad-CAM map within %g of its max %.3g (worst %.2e at %d)" % (tag, tol_map, m, e, at))
    oargs = ["occlusion", model, image, "-o", os.path.join(work, "o"), "--patch", str(patch),
             "--stride", str(stride)]
    if cls is not None:
        oargs += ["--class", str(cls)]
    o = cli(oargs)["maps"][0]
    ok(r["occlusion"]["class"] == o["class"], "%s: occlusion class %s (interp %s)" % (tag, r["occlusion"]["class"], o["class"]))
    e, at, m = worst(r["occlusion"]["imap"], read_npy(o["files"]["input_npy"]))
    ok(e <= tol_map, "%s: occlusion map within %g of its max %.3g (worst %.2e at %d)" % (tag, tol_map, m, e, at))


def main():
    W = lambda p: os.path.join(work, p)  # noqa: E731
    with Chrome(chrome_bin, timeout=180) as c:
        p = Page(c, PAGE)
        basics = json.loads(c.eval(p.s, """JSON.stringify({
            doctype: document.doctype && document.doctype.name, lang: document.documentElement.lang,
            title: document.title,
            unlabelled: Array.from(document.querySelectorAll('input, select')).filter(e => !e.labels.length).map(e => e.id),
            canvases: Array.from(document.querySelectorAll('canvas')).filter(e => e.getAttribute('role') !== 'img' || !e.getAttribute('aria-label')).map(e => e.id),
            accept: document.getElementById('model-file').accept + ' | ' + document.getElementById('image-files').accept})"""))
        ok(basics["doctype"] == "html" and basics["lang"] == "en", "page: doctype and lang (%s)" % basics)
        ok(not basics["unlabelled"], "page: every input and select has a label (%s)" % basics["unlabelled"])
        ok(not basics["canvases"], "page: every canvas is an image with a text alternative (%s)" % basics["canvases"])
        ok(".onnx" in basics["accept"] and ".keras" in basics["accept"] and "image/png" in basics["accept"],
           "page: the file inputs name their formats (%s)" % basics["accept"])
        ok(p.workers() == 1, "page: one worker at start (%d)" % len(c.workers))

        # ---- Fashion-MNIST with class names, a PNG and a JPEG
        c.set_files(p.s, "#classes-file", [W("classes.txt")])
        st = p.files("#model-file", [fx("fixtures/models/fmnist.onnx")])
        ok(st["model"] and st["model"]["summary"] and st["model"]["summary"]["classes"] == 10,
           "fmnist: model summary shown (%s)" % st["errors"][-1:])
        gray = [fx("fixtures/models/images/gray/00_class0.png"), fx("fixtures/models/images/gray/10_class7.jpg")]
        st = p.files("#image-files", gray)
        compare(st, "fixtures/models/fmnist.onnx", gray[0], 1e-5, 1e-4, "fmnist PNG")
        ok(any("0-tshirt-top" in row for row in st["top_rows"]), "fmnist: class names from the text file (%s)" % st["top_rows"][:2])
        st = p.js("document.querySelectorAll('#image-list button')[1].click()")
        compare(st, "fixtures/models/fmnist.onnx", gray[1], 1e-5, 1e-4, "fmnist JPEG")

        # ---- the RGB model: PNG, then another class and layer, then a JPEG
        st = p.files("#model-file", [fx("fixtures/models/rgb.onnx")])
        rgb = [fx("fixtures/models/images/rgb/00_group0.png"), fx("fixtures/models/images/rgb/10_group1.jpg")]
        st = p.files("#image-files", rgb)
        compare(st, "fixtures/models/rgb.onnx", rgb[0], 1e-5, 1e-4, "rgb PNG")
        layer = st["model"]["summary"]["layers"][1]["name"]
        c.eval(p.s, "document.getElementById('layer').value = %s; document.getElementById('method').value = 'gradcam++'" % json.dumps(layer))
        st = p.js("(() => { const e = document.getElementById('cls'); e.value = '1'; e.dispatchEvent(new Event('change')); })()")
        compare(st, "fixtures/models/rgb.onnx", rgb[0], 1e-5, 1e-4, "rgb PNG class 1 layer %s Grad-CAM++" % layer,
                cls=1, layer=layer, method="gradcam++")
        c.eval(p.s, "document.getElementById('layer').value = %s; document.getElementById('method').value = 'gradcam'; document.getElementById('cls').value = '-1'" % json.dumps(st["model"]["summary"]["cam_layer"]))
        c.eval(p.s, "document.getElementById('patch').value = '16'; document.getElementById('stride').value = '6'")
        st = p.js("document.querySelectorAll('#image-list button')[1].click()")
        compare(st, "fixtures/models/rgb.onnx", rgb[1], 1e-5, 1e-4, "rgb JPEG patch 16 stride 6", patch=16, stride=6)
        c.eval(p.s, "document.getElementById('patch').value = '24'; document.getElementById('stride').value = '8'")

        # ---- the downloads: the .npy is the map interp writes, the PNG an image
        dl = os.path.join(work, "downloads")
        os.makedirs(dl, exist_ok=True)
        c.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": dl})
        c.eval(p.s, "document.getElementById('gradcam-npy').click(); document.getElementById('occlusion-png').click()")
        want_npy = os.path.join(dl, "10_group1.c%d.gradcam.input.npy" % st["result"]["gradcam"]["class"])
        want_png = os.path.join(dl, "10_group1.c%d.occlusion.overlay.png" % st["result"]["occlusion"]["class"])
        deadline = time.time() + 30
        while time.time() < deadline and not (os.path.exists(want_npy) and os.path.exists(want_png)):
            c.pump(0.2)
        ok(os.path.exists(want_npy) and os.path.exists(want_png), "downloads: %s" % os.listdir(dl))
        if os.path.exists(want_npy):
            g = cli(["gradcam", "fixtures/models/rgb.onnx", rgb[1], "-o", os.path.join(work, "g")])["maps"][0]
            e, at, m = worst(read_npy(want_npy), read_npy(g["files"]["input_npy"]))
            ok(e <= 1e-4, "downloads: the Grad-CAM .npy equals interp's (worst %.2e of %.3g)" % (e, m))
        if os.path.exists(want_png):
            with open(want_png, "rb") as f:
                ok(f.read(8) == b"\x89PNG\r\n\x1a\n", "downloads: the overlay is a PNG")

        # ---- a new image cancels the work on the old one
        n = p.done()
        c.eval(p.s, "document.querySelectorAll('#image-list button')[0].click()")
        c.pump(0.15)
        st = p.js("document.querySelectorAll('#image-list button')[1].click()")
        ok(st["result"]["name"] == os.path.basename(rgb[1]) and st["result"]["occlusion"],
           "cancel: the second image's results replace the first's (%s)" % (st["result"] or {}).get("name"))
        ok(p.workers() == 1, "cancel: one worker left (%d)" % len(c.workers))

        # ---- Keras models (.keras and .h5)
        for model, image in [("fixtures/keras/gray_rescale.keras", "fixtures/models/images/gray/01_class1.png"),
                             ("fixtures/keras/ref_arch.h5", "fixtures/models/images/rgb/08_group1.png")]:
            c.set_files(p.s, "#classes-file", [W("empty.txt")])
            st = p.files("#model-file", [fx(model)])
            ok(st["model"] and st["model"]["summary"], "%s: loads (%s)" % (model, st["errors"][-1:]))
            st = p.files("#image-files", [fx(image)])
            compare(st, model, fx(image), 1e-5, 1e-4, model)

        # ---- hostile files: a message each, one worker, and the next good file works
        hostile = [("#model-file", W("not_a_model.onnx"), "not an ONNX model", "model"),
                   ("#model-file", W("truncated.onnx"), "does not decode", "model"),
                   ("#image-files", W("undecodable.png"), "does not decode", "image"),
                   ("#image-files", W("huge.png"), "20000 x 20000", "image")]
        for sel, path, expect, kind in hostile:
            if kind == "image":
                p.files("#model-file", [fx("fixtures/models/rgb.onnx")])
            n_err = len(p.state()["errors"])
            st = p.files(sel, [path])
            msg = st["alert"]
            ok(len(st["errors"]) > n_err and expect in msg,
               "hostile %s: the page says why (%r)" % (os.path.basename(path), msg))
            ok(p.workers() == 1, "hostile %s: one worker left (%d)" % (os.path.basename(path), len(c.workers)))
            if kind == "model":
                st = p.files("#model-file", [fx("fixtures/models/rgb.onnx")])
            st = p.files("#image-files", [fx("fixtures/models/images/rgb/03_group0.png")])
            ok(st["result"] and st["result"]["occlusion"] and not st["alert"],
               "hostile %s: the next good files work (%s)" % (os.path.basename(path), st["alert"]))

        # a model over the page's memory budget: the file itself, then its weights
        late = []
        for budget, expect in [("200K", "more than the page's memory budget"), ("600K", "budget")]:
            late += [u for (t, s, u) in c.requests if t > c.loaded_at and not u.startswith("blob:")]
            c.navigate(p.s, PAGE + "?budget=" + budget)
            c.wait_for(p.s, "window.interp && window.interp.ready", 60)
            if budget == "200K":
                c.set_files(p.s, "#model-file", [fx("fixtures/models/fmnist.onnx")])
                st = json.loads(c.wait_for(p.s, "window.interp.errors.length && " + STATE, 60))
            else:
                st = p.files("#model-file", [fx("fixtures/models/fmnist.onnx")])
            ok(expect in st["alert"] and not (st["model"] and st["model"].get("summary")),
               "budget %s: fmnist.onnx refused with a message (%r)" % (budget, st["alert"]))
            ok(p.workers() == 1, "budget %s: one worker left (%d)" % (budget, len(c.workers)))
            st = p.files("#model-file", [fx("fixtures/models/tiny.onnx")])
            ok(st["model"] and st["model"].get("summary") and not st["alert"],
               "budget %s: a small model still loads (%r)" % (budget, st["alert"]))

        # ---- nothing left the page after it loaded: the only requests are the
        # Blob URL of the worker's code (each new worker); no http(s), ws, file
        late += [u for (t, s, u) in c.requests if t > c.loaded_at and not u.startswith("blob:")]
        ok(not late, "network: no request after load but the worker's blob: URL (%s)" % late[:5])
        early = [u for (t, s, u) in c.requests if not (u.startswith("file://" + os.path.join(ROOT, "build", "web"))
                                                       or u.startswith("blob:"))]
        ok(not early, "network: the page asks for its own files only (%s)" % early[:5])
        ok(len(c.requests) > 3, "network: the requests were seen at all (%d)" % len(c.requests))
        # self-test: a request from a page is seen (loopback, a closed port)
        probe = c.open_page("about:blank")
        c.eval(probe, "fetch('http://127.0.0.1:9/interp-probe').catch(() => 0)")
        c.pump(0.5)
        ok(any(u.endswith("/interp-probe") for (t, s, u) in c.requests),
           "network self-test: a page's fetch is seen by the checker")
        ok(not c.console, "no console errors or exceptions (%s)" % c.console[:3])


try:
    main()
except (CdpError, RuntimeError, OSError) as e:
    ok(False, "browser_check: %s" % e)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
