#!/usr/bin/python3
"""compare_outputs.py - are two sets of interp outputs the same?

usage: scripts/compare_outputs.py [--rtol R] OLD NEW

OLD and NEW are folders written by `CLI_KEEP=DIR tests/cli.sh ./interp` (each
case's outputs) or by `interp report ... -o DIR`. Binary files (.npy, .png,
anything that is not UTF-8) must be byte-identical. Text files must be equal
once what legitimately changes between runs is masked: the temporary folders
of the test runner, times in seconds (report.json's timings, "seconds" keys,
"12.3 s" in messages) and the report's date. Prints each difference; exits 1
when there is one. For checking that a refactoring changed no output.
"""
import os
import re
import sys

MASKS = [
    (re.compile(rb"/(?:<wbr>)?tmp/(?:<wbr>)?tmp\.[A-Za-z0-9]+/(?:<wbr>)?case[0-9]+"), b"$T"),
    (re.compile(rb"/tmp/tmp\.[A-Za-z0-9]+/"), b"$TMP/"),
    (re.compile(rb'("[a-z_]*_s"\s*:\s*)[-0-9.eE+]+'), rb"\1#"),
    (re.compile(rb"(<tr><td>(?:embed|metrics|PCA|t-SNE|prototypes|Grad-CAM|occlusion|page|total)"
                rb"</td><td>)[0-9.]+"), rb"\1#"),
    (re.compile(rb'("(?:seconds|total|embed|metrics|pca|tsne|prototypes|gradcam|occlusion|page|'
                rb'images_per_second|peak_rss_mib|[a-z_]*seconds)"\s*:\s*)[-0-9.eE+]+'), rb"\1#"),
    (re.compile(rb"[0-9]+(?:\.[0-9]+)?(\s?(?:s|ms|min)\b)"), rb"#\1"),
    (re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:Z| UTC)?"), b"DATE"),
]


def masked(b):
    for rx, rep in MASKS:
        b = rx.sub(rep, b)
    return b


def is_text(b):
    """No NUL byte: text, even when a name in it is not UTF-8."""
    return b"\0" not in b


def files(root):
    out = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def numbers_close(x, y, rtol):
    """Text x and y equal once masked, numbers within rtol; the worst relative gap."""
    num = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
    if num.sub(b"#", masked(x)) != num.sub(b"#", masked(y)):
        return None
    worst = 0.0
    for p, q in zip(num.findall(masked(x)), num.findall(masked(y))):
        a, b = float(p), float(q)
        d = abs(a - b) / max(1.0, abs(a))
        worst = max(worst, d)
    return worst if worst <= rtol else None


def npy_close(pa, pb, rtol):
    import numpy as np
    a, b = np.load(pa), np.load(pb)
    if a.shape != b.shape or a.dtype != b.dtype:
        return None
    if a.dtype.kind in "iub":
        return 0.0 if (a == b).all() else None
    scale = float(np.abs(a).max()) if a.size else 0.0
    d = float(np.abs(a.astype(np.float64) - b).max()) if a.size else 0.0
    if np.isnan(a).any() or np.isnan(b).any():
        return 0.0 if (np.isnan(a) == np.isnan(b)).all() and np.allclose(
            np.nan_to_num(a), np.nan_to_num(b), rtol=0, atol=rtol * max(scale, 1e-30)) else None
    rel = d / scale if scale > 0 else d
    return rel if rel <= rtol else None


def png_close(pa, pb):
    import numpy as np
    from PIL import Image
    a, b = Image.open(pa), Image.open(pb)
    if a.size != b.size or a.mode != b.mode:
        return None
    x, y = np.asarray(a).astype(int), np.asarray(b).astype(int)
    d = np.abs(x - y)
    px = d.reshape(d.shape[0], d.shape[1], -1).max(axis=2) > 0
    if d.max() == 0:
        return "the same pixels"
    # a map that moved by float rounding crosses a colour step here and there
    if d.max() <= 8 and px.mean() <= 0.01:
        return "%d pixels (%.3f%%) up to %d levels apart" % (px.sum(), 100 * px.mean(), d.max())
    return None


def main():
    args = sys.argv[1:]
    rtol = None
    if len(args) == 4 and args[0] == "--rtol":
        rtol = float(args[1])
        args = args[2:]
    if len(args) != 2:
        sys.exit(__doc__)
    a, b = args
    fa, fb = files(a), files(b)
    bad = 0
    for f in sorted(fa ^ fb):
        print(f"only in {'OLD' if f in fa else 'NEW'}: {f}")
        bad += 1
    same = close = 0
    for f in sorted(fa & fb):
        x = open(os.path.join(a, f), "rb").read()
        y = open(os.path.join(b, f), "rb").read()
        if x == y:
            same += 1
            continue
        if is_text(x) and is_text(y) and masked(x) == masked(y):
            same += 1
            continue
        if rtol is not None:
            why = None
            try:
                if f.endswith(".npy"):
                    r = npy_close(os.path.join(a, f), os.path.join(b, f), rtol)
                    why = None if r is None else "max difference %.2g of the largest value" % r
                elif f.endswith(".png"):
                    why = png_close(os.path.join(a, f), os.path.join(b, f))
                elif is_text(x) and is_text(y):
                    r = numbers_close(x, y, rtol)
                    why = None if r is None else "numbers within %.2g" % r
            except Exception as e:  # an unreadable file is a difference
                why = None
                print(f"  ({f}: {e})")
            if why:
                close += 1
                print(f"close: {f}: {why}")
                continue
        bad += 1
        kind = "text" if is_text(x) else "binary"
        print(f"differs ({kind}): {f}")
        if kind == "text":
            lx, ly = masked(x).splitlines(), masked(y).splitlines()
            for i, (p, q) in enumerate(zip(lx, ly)):
                if p != q:
                    print(f"  line {i + 1}:\n    OLD {p[:200]!r}\n    NEW {q[:200]!r}")
                    break
    extra = f", {close} within --rtol {rtol:g}" if rtol is not None else ""
    print(f"{same} files the same{extra}, {bad} differences")
    sys.exit(1 if bad else 0)


main()
