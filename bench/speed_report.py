#!/usr/bin/python3
"""speed_report.py - bench/RESULTS_speed.md from bench/bench_speed.sh's runs.

usage: speed_report.py WORKDIR      (WORKDIR/runs.jsonl, loadavg.start/.end)

For each row and tool the median of the runs that started below 1-minute
load 1 is kept (else the run that started lowest, marked with a dagger). Per
image: wall and CPU milliseconds (CPU = user + system of the whole process,
all threads). Ratios: ONNX Runtime's time over interp's (above 1: interp is
faster) and interp's over the arithmetic limit (259 MFLOP a forward at 190
GFLOP/s for 2 cores, the issue's figure).
"""
import json
import os
import statistics as st
import sys

w = sys.argv[1]
runs = [json.loads(l) for l in open(os.path.join(w, "runs.jsonl")) if l.strip()]
la = [open(os.path.join(w, f)).read().split() for f in ("loadavg.start", "loadavg.end")]
FWD_MS = 259e6 / 190e9 * 1e3  # 1.363 ms: the forward at the arithmetic limit


def best(row, tool):
    """The median (by wall time; the lower one of an even count) of the runs
    that started below load 1, else the run that started at the lowest load."""
    c = [r for r in runs if r["row"] == row and r["tool"] == tool]
    if not c:
        return None
    idle = sorted((r for r in c if not loaded(r)), key=lambda r: per_image(r, row)[0])
    if not idle:
        return min(c, key=lambda r: (float(r["load0"].split()[0]), per_image(r, row)[0]))
    return idle[(len(idle) - 1) // 2]


def count(row, tool):
    """runs of a row that started below load 1"""
    return sum(1 for r in runs if r["row"] == row and r["tool"] == tool and not loaded(r))


def per_image(r, row):
    """(wall ms, cpu ms) per image of run r."""
    x = r["r"]
    if row.startswith("fwd"):
        b = x["batch"]
        return st.median(x["times_s"]) * 1e3 / b, st.median(x["cpu_s"]) * 1e3 / b
    if row.startswith("occ"):
        return st.median(x["times_s"]) * 1e3, st.median(x["cpu_s"]) * 1e3
    if row.startswith("report"):
        return x["wall_s"] * 1e3, x["cpu_s"] * 1e3
    return x["wall_s"] * 1e3 / 1000, x["cpu_s"] * 1e3 / 1000  # 1,000 images


def loaded(r):
    return float(r["load0"].split()[0]) > 1


def cell(r, row):
    if not r:
        return "-"
    wl, cp = per_image(r, row)
    fmt = (lambda v: "%.0f" % v) if wl >= 100 else (lambda v: "%.2f" % v)
    return "%s (%s)%s" % (fmt(wl), fmt(cp), " †" if loaded(r) else "")


def loads(r):
    if not r:
        return "-"
    n = count(r["row"], r["tool"])
    return "%s → %s%s" % (r["load0"], r["load1"], " (median of %d runs)" % n if n > 1 else "")


occ_new = {s: best("occ%d" % s, "new") for s in (8, 4)}


def limit(row):
    if row.startswith("fwd"):
        return FWD_MS
    if row.startswith("gradcam"):
        return 1.5  # the issue's: a forward and a dense backward
    if row.startswith("saliency"):
        return 2 * FWD_MS  # a forward and a backward of the convs down to the input
    for s in (8, 4):
        if row.startswith("occ%d" % s) and occ_new[s]:
            x = occ_new[s]["r"]
            return x["copies"] * (1.0 if row.endswith("exact") else x["cost_ratio"]) * FWD_MS
    return None


ROWS = [
    ("fwd64", "forward, batch 64, per image"),
    ("fwd1", "forward, batch 1"),
    ("gradcam_npy", "`interp gradcam` over 1,000 images, per image: --outputs npy"),
    ("gradcam_npy_json", "... --outputs npy,json"),
    ("gradcam_all", "... all outputs (npy, heatmap and overlay PNGs, json)"),
    ("saliency_npy", "`interp saliency` over 1,000 images, per image: --outputs npy"),
    ("saliency_all", "... all outputs"),
    ("occ8", "occlusion, patch 24, stride 8 (196 copies), per image"),
    ("occ8_exact", "... --exact (every copy through the whole model, batches of 64)"),
    ("occ4", "occlusion, patch 24, stride 4 (729 copies), per image"),
    ("occ4_exact", "... --exact"),
]

print("## Issue 19: explanations at the speed of the forward pass\n")
print("`bench/bench_speed.sh` (BASE=DIR adds an older build's column): the trained seed model "
      "(3x128x128; conv 32-64-64 + BN + ReLU + 2x2 max-pool; dense 16384-128-2; "
      "bench/make_bench_data.py), %d logical CPUs, 2 threads (OMP_NUM_THREADS=2), ONNX Runtime "
      "%s (onnxruntime-node, CPU execution provider, 2 intra-op threads). Milliseconds, wall "
      "(CPU in brackets: user + system of the whole process, all threads); the engine and "
      "occlusion rows are the medians of each run's repetitions, and each command row (Grad-CAM, "
      "saliency, report) is run RUNS times (default 3, interleaved) and shows the median run. "
      "Every run records the 1, 5 and 15-minute load averages before and "
      "after it and waits for the load to settle below 1 first; a run started above load 1 "
      "was repeated and does not count, and "
      "† marks a figure whose run still started above load 1 (on 2 cores such a figure "
      "is inflated by other work: re-run the script on an idle machine). Each command run "
      "writes into a new folder, all removed after the last run (on this machine's ext4 "
      "without a journal, files created within a minute of deleting others cost the kernel "
      "a scan past the deleted inodes: 7%% of a saliency run's CPU). Arithmetic limit: "
      "259 MFLOP a forward at 190 GFLOP/s = %.2f ms (the issue's figure); Grad-CAM: a forward "
      "and a dense backward, 1.5 ms; saliency: a forward and the convs' backward, twice a "
      "forward; occlusion: copies x the incremental plan's multiply-adds per copy relative "
      "to a forward x a forward.\n"
      % (os.cpu_count(), next((r["r"].get("ort") for r in runs if r["tool"] == "ort" and "ort" in r["r"]), "1.20.1"), FWD_MS))
has_base = any(r["tool"] == "base" for r in runs)
head = ["work"] + (["interp before (BASE)"] if has_base else []) + [
    "interp now", "ONNX Runtime", "arithmetic limit", "ORT / now (wall)", "now / limit (wall)",
    "load before → after (now)"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for row, name in ROWS:
    n, o, b = best(row, "new"), best(row, "ort"), best(row, "base")
    if not n:
        continue
    lim = limit(row)
    nw = per_image(n, row)[0]
    ratio = "%.2f" % (per_image(o, row)[0] / nw) if o else "-"
    if row in ("gradcam_npy", "saliency_npy"):
        ratio = "no gradients"
    cells = [name] + ([cell(b, row)] if has_base else []) + [
        cell(n, row), cell(o, row), "%.2f" % lim if lim else "-", ratio,
        "%.2f" % (nw / lim) if lim else "-", loads(n)]
    print("| " + " | ".join(cells) + " |")

pn = {o: best("gradcam_%s" % o, "new") for o in ("npy", "npy_json", "all")}
if pn["npy"] and pn["all"]:
    a, z = per_image(pn["npy"], "g"), per_image(pn["all"], "g")
    print("\nThe PNG heatmap and overlay (and the JSON) add %.2f ms wall, %.2f ms CPU per image "
          "to Grad-CAM's .npy outputs (written at zlib level 1 with the Up filter)."
          % (z[0] - a[0], z[1] - a[1]))

rep = [(t, best(row, t)) for row in ("report_demo", "report_10k") for t in ("base", "new")]
if any(r for _, r in rep):
    print("\n### `interp report`: stage times (seconds, from report.json)\n")
    stages = ["embed", "metrics", "pca", "tsne", "prototypes", "gradcam", "occlusion", "trust", "page"]
    print("| report | build | wall s | CPU s | " + " | ".join(stages) + " | load before → after |")
    print("|" + "---|" * (5 + len(stages)))
    for row in ("report_demo", "report_10k"):
        for t in ("base", "new"):
            r = best(row, t)
            if not r:
                continue
            x = r["r"]
            print("| %s | %s | %.1f%s | %.1f | %s | %s |" % (
                "demo (300 images)" if row == "report_demo" else "10,000 Fashion-MNIST",
                "before (BASE)" if t == "base" else "now", x["wall_s"], " †" if loaded(r) else "",
                x["cpu_s"], " | ".join("%.2f" % x["stages"].get(s, 0) for s in stages), loads(r)))

print("""
What the figures come from: 3x3 convolutions with 16+ channels run by Winograd's F(2x2, 3x3)
(core/conv_wino.c; AVX-512 or AVX2, 16 multiplies per 2x2 outputs and channel pair instead
of 36, ReLU and the 2x2 max-pool on each tile), the others by the direct kernel; a batch
goes through the conv layers one image at a time per thread. Grad-CAM and saliency take the
images in batches of 32 and 8 (one forward, one backward per batch; below the Grad-CAM
layer the run is fused as a forward run; a conv's input gradient is a forward conv with
flipped weights that reads the ReLU/max-pool gradient row by row as it is made, never
stored; a dense layer's input gradient reads its weights in place), decoded on a second
thread and written on a third. Occlusion runs each
Conv+BN+ReLU+MaxPool chain as one conv over each copy's window of the receptive-field cone,
the first dense layer as a rank update of the original's output over the changed inputs,
and shares the copies out to the threads. The arithmetic limit counts a direct
convolution's multiply-adds: Winograd does fewer, so "now / limit" can fall below 1. The
engine, explanation and report sections below this one predate issue 19 (their scripts:
bench_engine.sh, bench_explain.sh, bench_report.sh).""")
print("\n### Every try\n")
print("| row | tool | try | load before | load after | wall ms | CPU ms |")
print("|---|---|---|---|---|---|---|")
for r in runs:
    wl, cp = per_image(r, r["row"])
    print("| %s | %s | %d | %s | %s | %.2f | %.2f |" % (r["row"], r["tool"], r["try"], r["load0"],
                                                     r["load1"], wl, cp))
print("\nLoad averages (1, 5, 15 min) at the start of the script: %s; at the end: %s."
      % (" ".join(la[0]), " ".join(la[1])))
