#!/usr/bin/python3
"""report_check.py - the multi-line checks of tests/cli_report.tests, against
independent code (html.parser, numpy, scikit-learn).

usage: /usr/bin/python3 tests/report_check.py CHECK OUTDIR [ARGS...]
  page OUTDIR            every <img> has alt text and an existing file; every
                         src/href is relative (the folder can be moved)
  metrics OUTDIR M.JSON  report.json's metrics equal `interp metrics --json`'s
  sklearn OUTDIR DIR     labels from DIR's sorted folder names; accuracy,
                         top-5, macro F1, confusion as scikit-learn computes them
  picks OUTDIR N         per class: most confident correct, most confident
                         wrong, then random (N per class)
  tsne OUTDIR M          the t-SNE sample: M rows, the same count per class
Exits non-zero with the reason on the first failed assertion.
"""
import html.parser
import json
import os
import sys


def load(out):
    return json.load(open(os.path.join(out, "report.json")))


def check_page(out):
    class P(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.imgs, self.links = [], []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "img":
                self.imgs.append(a)
            for k in ("src", "href"):
                if a.get(k) is not None:
                    self.links.append(a[k])

    p = P()
    p.feed(open(os.path.join(out, "index.html")).read())
    assert len(p.imgs) >= 20, "only %d images" % len(p.imgs)
    for a in p.imgs:
        assert a.get("alt", "").strip(), "no alt text: %s" % a
        assert os.path.getsize(os.path.join(out, a["src"])) > 0, a
    for v in p.links:
        assert not (v.startswith("/") or "://" in v), "not a relative link: %s" % v


def check_metrics(out, mjson):
    r = load(out)["metrics"]
    m = json.load(open(mjson))
    for k in ("accuracy", "top_k_accuracy"):
        assert r[k] == m[k], (k, r[k], m[k])
    for a in ("macro", "weighted"):
        for k in ("precision", "recall", "f1"):
            assert r[a][k] == m[a][k], (a, k, r[a][k], m[a][k])
    assert len(r["per_class"]) == len(m["per_class"])
    for rc, mc in zip(r["per_class"], m["per_class"]):
        for k in ("precision", "recall", "f1", "support", "predicted"):
            assert rc[k] == mc[k], (k, rc, mc)


def check_sklearn(out, root):
    import numpy as np
    from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                                 top_k_accuracy_score)
    folders = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    files = open(os.path.join(out, "data/files.txt")).read().split("\n")[:-1]
    y = np.array([folders.index(f.split("/")[-2]) for f in files])
    assert (np.load(os.path.join(out, "data/labels.npy")) == y).all(), "labels"
    want = sorted(os.path.join(root, d, f) for d in folders
                  for f in os.listdir(os.path.join(root, d)))
    assert sorted(files) == want, "files.txt lists other files than DIR holds"
    P = np.load(os.path.join(out, "data/probs.npy"))
    pred = P.argmax(1)
    r = load(out)["metrics"]
    assert abs(r["accuracy"] - accuracy_score(y, pred)) < 1e-12
    assert abs(r["top_k_accuracy"] - top_k_accuracy_score(y, P, k=5, labels=range(10))) < 1e-12
    assert abs(r["macro"]["f1"] - f1_score(y, pred, average="macro")) < 1e-12
    assert abs(r["weighted"]["f1"] - f1_score(y, pred, average="weighted")) < 1e-12
    assert (np.array(r["confusion"]) == confusion_matrix(y, pred, labels=range(10))).all()
    assert r["accuracy"] > 0.85, r["accuracy"]


def check_picks(out, n):
    import numpy as np
    P = np.load(os.path.join(out, "data/probs.npy"))
    y = np.load(os.path.join(out, "data/labels.npy"))
    pred = P.argmax(1)
    e = load(out)["explanations"]["images"]
    K = P.shape[1]
    for c in range(K):
        mine = [x for x in e if x["true"] == c]
        members = np.nonzero(y == c)[0]
        assert len(mine) == min(n, len(members)), (c, len(mine))
        assert len(set(x["row"] for x in mine)) == len(mine), "a row picked twice"
        cor = [i for i in members if pred[i] == c]
        wrong = [i for i in members if pred[i] != c]
        order = []  # the turns as report.h describes them
        if cor:
            order.append(("confident_correct", max(cor, key=lambda i: (P[i, c], -i))))
        if wrong:
            order.append(("confident_wrong", max(wrong, key=lambda i: (P[i, pred[i]], -i))))
        for (why, row), got in zip(order, mine):
            assert got["why"] == why and got["row"] == row, (c, why, row, got)
            assert got["predicted"] == pred[row] and abs(got["prob"] - P[row, pred[row]]) < 1e-6
            if why == "confident_wrong":
                assert [m["class"] for m in got["maps"]] == [pred[row], c], got["maps"]
        if len(mine) > len(order):
            assert mine[len(order)]["why"] == "random", mine
        for x in mine:
            for m in x["maps"]:
                assert m["gradcam"] and m["occlusion"], m
                for k in ("gradcam", "occlusion"):
                    assert os.path.getsize(os.path.join(out, m[k])) > 0


def check_tsne(out, m):
    import numpy as np
    rows = np.load(os.path.join(out, "data/tsne_rows.npy"))
    y = np.load(os.path.join(out, "data/labels.npy"))
    assert np.load(os.path.join(out, "data/tsne.npy")).shape == (m, 2)
    assert len(set(rows.tolist())) == m and (np.diff(rows) > 0).all()
    counts = np.bincount(y, minlength=10)
    want = m * counts / len(y)
    got = np.bincount(y[rows], minlength=10)
    assert (np.abs(got - want) < 1).all() and got.sum() == m, (got, want)
    t = load(out)["tsne"]
    assert t["n"] == m and t["subsampled"] is (m < len(y))


def main():
    what, out = sys.argv[1], sys.argv[2]
    if what == "page":
        check_page(out)
    elif what == "metrics":
        check_metrics(out, sys.argv[3])
    elif what == "sklearn":
        check_sklearn(out, sys.argv[3])
    elif what == "picks":
        check_picks(out, int(sys.argv[3]))
    elif what == "tsne":
        check_tsne(out, int(sys.argv[3]))
    else:
        sys.exit("unknown check " + what)


if __name__ == "__main__":
    main()
