#!/usr/bin/python3
"""torch_engine.py - the PyTorch side of bench/bench_engine.sh (Debian's
python3-torch, CPU, 2 threads), on the same seed model: the weights of the
exported ONNX file come from fixtures/make_models.py's training cache, loaded
into the same RefNet class.

  --forward X.bin BATCH REPS [LOGITS_OUT.bin]   forward timings on the inputs
                                                 interp and ONNX Runtime see
  --embed DIR                                    PIL decode + /255 + forward in
                                                 batches of 64 over every PNG
                                                 under DIR (what `interp embed`
                                                 does), one timing
Prints one JSON object: wall times (times_s) and process CPU times (cpu_s).
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import make_models as mm  # noqa: E402

torch.set_num_threads(2)


def model():
    m = mm.RefNet(3, 128, 2)
    m.load_state_dict(torch.load(os.path.join(mm.CACHE, "rgb_full.pt")))
    return m.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--forward", nargs="+")
    ap.add_argument("--embed")
    a = ap.parse_args()
    net = model()
    res = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    with torch.no_grad():
        if a.forward:
            path, b, reps = a.forward[0], int(a.forward[1]), int(a.forward[2])
            allx = np.fromfile(path, dtype=np.float32).reshape(-1, 3, 128, 128)
            x = torch.tensor(allx[np.arange(b) % len(allx)])
            y = net(x)  # warm-up
            if len(a.forward) > 3:
                y.numpy().astype(np.float32).tofile(a.forward[3])
            t, c = [], []
            for _ in range(reps):
                t0, c0 = time.perf_counter(), time.process_time()
                net(x)
                t.append(time.perf_counter() - t0)
                c.append(time.process_time() - c0)
            res.update(batch=b, times_s=t, cpu_s=c)
        if a.embed:
            files = sorted(glob.glob(os.path.join(a.embed, "**", "*.png"), recursive=True))
            t0, c0 = time.perf_counter(), time.process_time()
            lat = []
            for s in range(0, len(files), 64):
                x = np.stack([np.asarray(Image.open(f).convert("RGB"), dtype=np.float32)
                              .transpose(2, 0, 1) / 255.0 for f in files[s:s + 64]])
                lat.append(net.parts(torch.tensor(x))[1].numpy())
            res.update(images=len(files), times_s=[time.perf_counter() - t0],
                       cpu_s=[time.process_time() - c0])
    print(json.dumps(res))


if __name__ == "__main__":
    main()
