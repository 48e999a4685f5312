#!/usr/bin/python3
"""files_check.py - the multi-line checks of tests/cli_files.tests: lists of
names read back by an independent reader (the README's own Python decoder),
against the bytes os.listdir gives, and numpy's count of rows.

usage: /usr/bin/python3 tests/files_check.py CHECK ARGS...
  names EMB DIR       EMB/files.txt, decoded by the README's snippet, is the
                      sorted images of DIR's class folders (bytes), one line per
                      row of EMB/embeddings.npy whatever the splitter (bytes at
                      b"\\n", text at str.splitlines()), valid UTF-8; classes.txt
                      is DIR's folder names; the snippet's `skipped` is
                      EMB/skipped.txt as [path, reason] pairs
  json EMB.JSON DIR   embed --json's class_names: os.fsencode gives DIR's
                      folder names back (bytes not UTF-8 as \\udcXX)
  protos PROTO EMB    PROTO/prototypes.json's image of each listed row is line
                      `row` of EMB/files.txt (as decoded)
  skips EMB N RE...   EMB/skipped.txt has N lines; the reasons match the
                      regexes in order
Exits non-zero with the reason on the first failed assertion.
"""
import json
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = "<!-- tests/files_check.py runs this block"
IMAGE_EXTS = (b".png", b".jpg", b".jpeg", b".webp", b".bmp", b".gif")


def readme_block():
    """The Python block of README.md after MARK."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    at = text.index(MARK)
    start = text.index("```python\n", at) + len("```python\n")
    return text[start:text.index("```", start)]


def run_snippet(emb):
    """Runs the README's block in a folder where emb/ is EMB; returns its names."""
    with tempfile.TemporaryDirectory() as d:
        os.symlink(os.path.abspath(emb), os.path.join(d, "emb"))
        if not os.path.exists(os.path.join(emb, "skipped.txt")):
            raise SystemExit("the case must run embed with --on-error skip")
        cwd = os.getcwd()
        os.chdir(d)
        try:
            g = {}
            exec(readme_block(), g)
        finally:
            os.chdir(cwd)
    return g


def check_names(emb, root):
    import numpy as np
    g = run_snippet(emb)
    rows = np.load(os.path.join(emb, "embeddings.npy")).shape[0]
    raw = open(os.path.join(emb, "files.txt"), "rb").read()
    assert raw.count(b"\n") == rows, (raw.count(b"\n"), rows)
    text = raw.decode("utf-8")  # strict: the list is valid UTF-8
    assert len(text.splitlines()) == rows, (len(text.splitlines()), rows)
    assert len(g["files"]) == rows
    rootb = os.fsencode(root)
    skipped = {os.fsencode(p) for p, _ in g["skipped"]}
    classes = sorted(c for c in os.listdir(rootb) if not c.startswith(b"."))
    want = []
    for c in classes:
        for f in sorted(os.listdir(os.path.join(rootb, c))):
            p = os.path.join(rootb, c, f)
            if p not in skipped and f.lower().endswith(IMAGE_EXTS):
                want.append(p)
    got = [os.fsencode(f) for f in g["files"]]
    assert got == want, (got, want)
    for f in g["files"]:
        assert os.path.isfile(f), f  # open() takes the decoded str back to the file
    names = open(os.path.join(emb, "classes.txt"), "rb").read()
    names.decode("utf-8")
    got = [os.fsencode(g["interp_name"](l.rstrip(b"\r\n")))
           for l in names.splitlines(keepends=True)]
    assert got == classes, (got, classes)


def check_json(path, root):
    j = json.load(open(path, encoding="utf-8"))
    got = [os.fsencode(c) for c in j["class_names"]]
    want = sorted(c for c in os.listdir(os.fsencode(root)) if not c.startswith(b"."))
    assert got == want, (got, want)


def check_protos(proto, emb):
    g = run_snippet(emb)
    files = g["files"]
    p = json.load(open(os.path.join(proto, "prototypes.json"), encoding="utf-8"))
    seen = 0

    def walk(o):
        nonlocal seen
        if isinstance(o, dict):
            if "index" in o and "image" in o:
                assert o["image"] == files[o["index"]], (o, files[o["index"]])
                seen += 1
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(p)
    assert seen > 0, "no member with an image in prototypes.json"


def check_skips(emb, n, regexes):
    lines = open(os.path.join(emb, "skipped.txt"), "rb").read().split(b"\n")
    assert lines[-1] == b"", "skipped.txt does not end with a newline"
    lines = lines[:-1]
    assert len(lines) == int(n), (len(lines), n)
    for line, rx in zip(lines, regexes):
        path, reason = line.split(b"\t")
        assert re.search(rx, reason.decode("utf-8")), (reason, rx)


def main():
    check, args = sys.argv[1], sys.argv[2:]
    if check == "names":
        check_names(*args)
    elif check == "json":
        check_json(*args)
    elif check == "protos":
        check_protos(*args)
    elif check == "skips":
        check_skips(args[0], args[1], args[2:])
    else:
        raise SystemExit("unknown check " + check)


if __name__ == "__main__":
    main()
