#!/usr/bin/python3
"""compare_outputs.py - are two sets of interp outputs the same?

usage: scripts/compare_outputs.py OLD NEW

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
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in b


def files(root):
    out = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = sys.argv[1:]
    fa, fb = files(a), files(b)
    bad = 0
    for f in sorted(fa ^ fb):
        print(f"only in {'OLD' if f in fa else 'NEW'}: {f}")
        bad += 1
    same = 0
    for f in sorted(fa & fb):
        x = open(os.path.join(a, f), "rb").read()
        y = open(os.path.join(b, f), "rb").read()
        if x == y:
            same += 1
            continue
        if is_text(x) and is_text(y) and masked(x) == masked(y):
            same += 1
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
    print(f"{same} files the same, {bad} differences")
    sys.exit(1 if bad else 0)


main()
