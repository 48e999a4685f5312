#!/usr/bin/python3
"""make_bench_data.py - inputs for bench/bench_engine.sh: the full-size
3x128x128 seed model and RGB test images, both from fixtures/make_models.py's
own code (same architecture, training, export and colourisation).

  /usr/bin/python3 bench/make_bench_data.py --model OUT.onnx
  /usr/bin/python3 bench/make_bench_data.py --images DIR --count 1000
  /usr/bin/python3 bench/make_bench_data.py --prefixes MODEL.onnx

--model trains the seed model exactly as `make_models.py --bench-model` does
(cached under /tmp/interp_fixture_cache) without rewriting the committed
fixtures. --images writes COUNT 128x128 RGB PNGs, Fashion-MNIST test images
upscaled bilinearly and colourised (fixed seed), into DIR/<group>/ class
folders (the two groups the model was trained on). --prefixes cuts MODEL
after each conv block's MaxPool (onnx.utils.extract_model) into
MODEL.block1.onnx, .block2.onnx, .block3.onnx: timing them gives each block's
share of the forward, for interp and ONNX Runtime alike.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import make_models as mm  # noqa: E402


def write_prefixes(path):
    """The model up to the output of its k-th MaxPool, k = 1, 2, 3."""
    import onnx
    import onnx.utils
    m = onnx.load(path)
    pools = [n.output[0] for n in m.graph.node if n.op_type == "MaxPool"]
    if len(pools) != 3:
        sys.exit("%s: expected 3 MaxPool nodes, found %d" % (path, len(pools)))
    base = path[:-5] if path.endswith(".onnx") else path
    for k, t in enumerate(pools, 1):
        out = "%s.block%d.onnx" % (base, k)
        onnx.utils.extract_model(path, out, [m.graph.input[0].name], [t])
        print("wrote", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--images")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--prefixes")
    a = ap.parse_args()
    if a.prefixes:
        write_prefixes(a.prefixes)
        if not (a.model or a.images):
            return
    xtr, ytr, xte, yte = mm.fashion_mnist()
    if a.model:
        ytr2 = mm.GROUP[ytr]

        def fit_big(m):
            mm.train(m, xtr[:2400], ytr2[:2400], epochs=1, batch=32, lr=1e-3,
                     transform=mm.to_rgb128)
        big = mm.trained("rgb_full", lambda: mm.RefNet(3, 128, 2), fit_big)
        acc = mm.accuracy(big, xte[:500], mm.GROUP[yte[:500]], transform=mm.to_rgb128, batch=100)
        print("seed model test accuracy (500 images) %.3f" % acc)
        mm.export(big, (1, 3, 128, 128), a.model, 13, keep_bn=True)
        print("wrote", a.model)
    if a.images:
        rng = np.random.RandomState(7)
        n = a.count
        for g in ("0_other", "1_upper"):
            os.makedirs(os.path.join(a.images, g), exist_ok=True)
        for s in range(0, n, 250):
            x = mm.to_rgb128(xte[s:min(n, s + 250)], rng).numpy()
            u8 = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
            for i, im in enumerate(u8):
                k = s + i
                g = ("0_other", "1_upper")[mm.GROUP[yte[k]]]
                Image.fromarray(im, "RGB").save(os.path.join(a.images, g, "%05d.png" % k))
        print("wrote %d images to %s" % (n, a.images))


if __name__ == "__main__":
    main()
