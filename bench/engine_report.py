#!/usr/bin/python3
"""engine_report.py - turns bench/bench_engine.sh's measurements (WORKDIR/
runs.jsonl, the logits files, profile.txt) into the markdown of
bench/RESULTS_engine.md on stdout.   usage: engine_report.py WORKDIR
"""
import json
import os
import platform
import statistics as st
import sys

import numpy as np

w = sys.argv[1]
runs = [json.loads(l) for l in open(os.path.join(w, "runs.jsonl")) if l.strip()]
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]


def fwd(tool, b):
    return [r for r in runs if r["tool"] == tool and r.get("batch") == b and "r" in r]


def med(v):
    return st.median(v) if v else float("nan")


print("## Model engine: forward and embed throughput\n")
print("Full-size seed model (3x128x128 input; Conv 32-64-64 3x3 pad 1, each with "
      "BatchNormalization, ReLU, 2x2 MaxPool; Flatten; dense 16384-128 + ReLU; Dropout; "
      "dense 2), trained briefly on colourised upscaled Fashion-MNIST "
      "(bench/make_bench_data.py, make_models.py's code). %s, %d logical CPUs. interp: "
      "2 threads (OMP_NUM_THREADS=2; the run's own pthread pool, OpenBLAS single-threaded inside), ONNX Runtime %s (onnxruntime-node, "
      "CPU EP, 2 intra-op threads), PyTorch %s (2 threads)."
      % (cpu[0] if cpu else platform.machine(), os.cpu_count(),
         next((r["r"].get("ort") for r in runs if r["tool"] == "ort"), "n/a"),
         next((r["r"].get("torch") for r in runs if r["tool"] == "torch"), "?")))
print()
loads = [r["load"] for r in runs]
print("**The machine is shared and heavily loaded** (load average %.1f to %.1f on 2 cores "
      "during these runs): every wall-clock figure below is inflated several times over what "
      "an idle machine gives, and varies from run to run. The runs are interleaved (interp, "
      "ONNX Runtime, PyTorch, in turn, each round) so that they see the same load; the "
      "**ratios** are the meaningful numbers. CPU time (process user + system, all threads, "
      "spin-waiting included) is given beside wall time: it depends much less on the load.\n"
      % (min(loads), max(loads)))

# ---------------------------------------------------------------- forward
print("### Forward throughput (images per second, median over rounds)\n")
print("Each round: one process per tool, a warm-up forward, then 20 (batch 1) or 3 (batch "
      "64) timed forwards; a round's figure is its median. Load = 1-minute load average "
      "when the measurement started.\n")
print("| batch | round | load | interp img/s | ONNX Runtime img/s | PyTorch img/s | interp / ORT | "
      "interp CPU ms/img | ORT CPU ms/img | PyTorch CPU ms/img |")
print("|---|---|---|---|---|---|---|---|---|---|")
summary = {}
for b in (1, 64):
    ratios, per = [], {"interp": [], "ort": [], "torch": []}
    cpus = {"interp": [], "ort": [], "torch": []}
    rounds = sorted({r["round"] for r in fwd("interp", b)})
    for rd in rounds:
        row = {}
        for tool in ("interp", "ort", "torch"):
            m = [r for r in fwd(tool, b) if r["round"] == rd]
            if m:
                t = med(m[0]["r"]["times_s"])
                c = med(m[0]["r"]["cpu_s"])
                row[tool] = (b / t, 1e3 * c / b, m[0]["load"])
                per[tool].append(b / t)
                cpus[tool].append(1e3 * c / b)
        ratio = row["interp"][0] / row["ort"][0] if "ort" in row else float("nan")
        ratios.append(ratio)
        f = lambda k, i: ("%.1f" % row[k][i]) if k in row else "-"
        print("| %d | %d | %s | %s | %s | %s | %.2f | %s | %s | %s |" % (
            b, rd, " / ".join("%.1f" % row[k][2] for k in ("interp", "ort", "torch") if k in row),
            f("interp", 0), f("ort", 0), f("torch", 0), ratio, f("interp", 1), f("ort", 1),
            f("torch", 1)))
    summary[b] = (per, cpus, ratios)
print()
print("| batch | interp img/s | ONNX Runtime img/s | PyTorch img/s | interp / ORT (median of "
      "per-round ratios) | interp / PyTorch | CPU ms/img interp / ORT / PyTorch |")
print("|---|---|---|---|---|---|---|")
for b in (1, 64):
    per, cpus, ratios = summary[b]
    print("| %d | %.1f | %.1f | %.1f | **%.2f** (range %.2f-%.2f) | %.1f | %.1f / %.1f / %.1f |" % (
        b, med(per["interp"]), med(per["ort"]), med(per["torch"]), med(ratios),
        min(ratios), max(ratios), med(per["interp"]) / med(per["torch"]),
        med(cpus["interp"]), med(cpus["ort"]), med(cpus["torch"])))
print()
r64 = med(summary[64][2])
print("Target (issue 4): at least ONNX Runtime's throughput at batch 64. %s: median interp / ORT "
      "ratio %.2f at batch 64 (%.2f at batch 1). The CPU-time column tells the same story with "
      "less noise.\n" % ("Met" if r64 >= 1.0 else "**Not met**", r64, med(summary[1][2])))

# ---------------------------------------------------------------- logits check
print("### Forward results against two independent implementations\n")
try:
    i = np.fromfile(os.path.join(w, "interp_logits.bin"), np.float32)
    t = np.fromfile(os.path.join(w, "torch_logits.bin"), np.float32)
    line = "64 real images (the first 64 PNGs, PIL decode, /255), batch 64: "
    if os.path.exists(os.path.join(w, "ort_logits.bin")):
        o = np.fromfile(os.path.join(w, "ort_logits.bin"), np.float32)
        line += "max |logit interp - ONNX Runtime| = %.3g, " % np.abs(i - o).max()
    line += "max |logit interp - PyTorch| = %.3g (logits up to %.3g in magnitude); " % (
        np.abs(i - t).max(), np.abs(t).max())
    line += "argmax agrees on %d of %d." % ((i.reshape(-1, 2).argmax(1) == t.reshape(-1, 2).argmax(1)).sum(),
                                             len(t) // 2)
    print(line + "\n")
except FileNotFoundError as e:
    print("(missing: %s)\n" % e)

# ---------------------------------------------------------------- embed
print("### `interp embed` over 1,000 and 10,000 images\n")
print("`interp embed MODEL --list FILES --threads 2` (PNG decode, preprocessing, forward in "
      "batches of 64, latents/probabilities/predictions written); 10,000 = the 1,000 listed ten "
      "times. Peak memory = maximum resident set size from /usr/bin/time -v. PyTorch: the same "
      "work in Python (PIL decode, /255, forward in batches of 64), 2 threads. ONNX Runtime has "
      "no image decoder in node; its batch-64 forward figure above is its upper bound.\n")
print("| tool | images | load | wall s | images/s | user+sys CPU s | peak RSS MB |")
print("|---|---|---|---|---|---|---|")
for r in runs:
    if r["tool"] == "interp_embed":
        v = r["usr_sys_wall_rss"].split()
        usr, sys_, wall, rss = float(v[0]), float(v[1]), float(v[2]), float(v[3])
        print("| interp embed | %d | %.1f | %.1f | %.1f | %.1f | %.0f |" % (
            r["images"], r["load"], wall, r["images"] / wall, usr + sys_, rss / 1024))
    if r["tool"] == "torch_embed":
        print("| PyTorch (PIL + forward) | %d | %.1f | %.1f | %.1f | %.1f | |" % (
            r["images"], r["load"], r["r"]["times_s"][0], r["images"] / r["r"]["times_s"][0],
            r["r"]["cpu_s"][0]))
print()
