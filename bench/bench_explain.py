#!/usr/bin/python3
"""bench_explain.py - the PyTorch side of bench/bench_explain.sh.

  --make-model PATH   write the seed architecture at 3x128x128 (3 conv blocks
                      32-64-64 with BN, ReLU, max-pool; dense 16384 -> 128 ->
                      2) with fixed random weights as ONNX (timings do not
                      depend on the weights), and a 128x128 test image beside it
  --torch PATH        time on PyTorch CPU, 2 threads: Grad-CAM per image
                      (autograd to the last conv block) and occlusion per image
                      (patch 24, stride 8 and 4, fill 0.5) as a batched loop of
                      full forwards the way Captum does it; prints JSON
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)


class Seed(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.c2, self.b2 = nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64)
        self.c3, self.b3 = nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64)
        self.fc1, self.fc2 = nn.Linear(64 * 16 * 16, 128), nn.Linear(128, 2)

    def parts(self, x):
        x = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)
        x = F.max_pool2d(F.relu(self.b2(self.c2(x))), 2)
        act = F.relu(self.b3(self.c3(x)))
        x = F.max_pool2d(act, 2).flatten(1)
        return self.fc2(F.relu(self.fc1(x))), act

    def forward(self, x):
        return self.parts(x)[0]


def make_model(path):
    torch.manual_seed(0)
    m = Seed().eval()
    with torch.no_grad():
        for b in (m.b1, m.b2, m.b3):
            b.running_mean.uniform_(-0.1, 0.1)
            b.running_var.uniform_(0.5, 1.5)
    torch.onnx.export(m, torch.zeros(1, 3, 128, 128), path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    torch.save(m.state_dict(), path + ".pt")
    from PIL import Image
    rng = np.random.RandomState(1)
    img = (rng.rand(128, 128, 3) * 255).astype(np.uint8)
    Image.fromarray(img).save(os.path.splitext(path)[0] + ".png")


def best_of(f, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts), float(np.median(ts))


def grid(n, P, S):
    pos = list(range(0, n - P + 1, S))
    if pos[-1] + P < n:
        pos.append(n - P)
    return pos


def bench_torch(path):
    m = Seed().eval()
    m.load_state_dict(torch.load(path + ".pt"))
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(2))

    def gradcam():
        xg = x.clone()
        out, act = m.parts(xg)
        g, = torch.autograd.grad(out[0, 1], act)
        w = g.mean((2, 3), keepdim=True)
        cam = F.relu((w * act).sum(1, keepdim=True))
        F.interpolate(cam, size=(128, 128), mode="bilinear", align_corners=False)

    def occlusion(S, batch=64):
        ys = grid(128, 24, S)
        with torch.no_grad():
            p0 = torch.softmax(m(x), 1)
            copies = []
            for y in ys:
                for xx in ys:
                    c = x.clone()
                    c[:, :, y:y + 24, xx:xx + 24] = 0.5
                    copies.append(c)
            allc = torch.cat(copies)
            drops = []
            for b in range(0, len(allc), batch):
                drops.append(p0 - torch.softmax(m(allc[b:b + batch]), 1))
        return torch.cat(drops)

    res = {"threads": torch.get_num_threads(), "torch": torch.__version__}
    gradcam()
    res["gradcam_s"] = best_of(gradcam, 20)
    occlusion(8)
    res["occlusion_s8_s"] = best_of(lambda: occlusion(8), 3)
    res["occlusion_s4_s"] = best_of(lambda: occlusion(4), 2)
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-model")
    ap.add_argument("--torch")
    a = ap.parse_args()
    if a.make_model:
        make_model(a.make_model)
    if a.torch:
        bench_torch(a.torch)


if __name__ == "__main__":
    main()
