#!/usr/bin/python3
"""trust_torch.py - PyTorch's side of bench/bench_trust.sh: the same work as
bench_trust.c with the same definitions, on the same seed model (its weights
from bench_explain.py's .pt), CPU, 2 threads.

  scorecam     pytorch-grad-cam's ScoreCAM at the last conv block (64 masked
               copies, align_corners=True masks, forwards in batches of 16)
  ablationcam  pytorch-grad-cam's AblationCAM, but only the layers after the
               target layer recomputed (as interp does; pytorch-grad-cam's own
               code reruns the whole model), 64 channels in batches of 16
  ig50         Captum's IntegratedGradients, 50 Gauss-Legendre steps, black
               baseline, the steps in one batch (Captum's default)
  evaluate6    gradcam, gradcam++, ig (50), smoothgrad (25 samples, noise 15%
               of the range), gxi, guided backprop on one image; deletion (to
               gray) and insertion (from RISE's blur) in 100 steps, forwards in
               batches of 32; ROAD MoRF/LeRF at 7 fractions with the reference
               code's noisy linear imputation (scipy spsolve); cascading and
               single-layer randomization over the 5 weight layers with every
               map recomputed, Spearman (scipy) and SSIM per map

usage: /usr/bin/python3 bench/trust_torch.py MODEL.onnx IMG.png   (prints JSON)
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_explain import Seed  # noqa: E402

torch.set_num_threads(2)


def load1():
    return float(open("/proc/loadavg").read().split()[0])


def measure(f, reps):
    f()
    l0 = load1()
    c0 = time.process_time()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / reps
    ts.sort()
    return {"best_s": ts[0], "median_s": ts[len(ts) // 2], "cpu_s": cpu, "reps": reps,
            "load_before": l0, "load_after": load1()}


class Net:
    """The seed model split at the Grad-CAM layer, with a guided-ReLU switch."""

    def __init__(self, state):
        self.m = Seed().eval()
        self.m.load_state_dict(state)
        self.guided = False

    def relu(self, x):
        return GuidedRelu.apply(x) if self.guided else F.relu(x)

    def head(self, x):
        m = self.m
        x = F.max_pool2d(self.relu(m.b1(m.c1(x))), 2)
        x = F.max_pool2d(self.relu(m.b2(m.c2(x))), 2)
        return self.relu(m.b3(m.c3(x)))

    def tail(self, a):
        m = self.m
        return m.fc2(self.relu(m.fc1(F.max_pool2d(a, 2).flatten(1))))

    def __call__(self, x):
        return self.tail(self.head(x))


class GuidedRelu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return F.relu(g * (x > 0).to(g.dtype))


def batched(f, xs, b):
    return torch.cat([f(xs[i:i + b]) for i in range(0, len(xs), b)])


# ---------------------------------------------------------------- CAMs
def scorecam(net, x):
    with torch.no_grad():
        A = net.head(x)
        k = int(net.tail(A).argmax(1))
        up = F.interpolate(A, size=x.shape[2:], mode="bilinear", align_corners=True)[0]
        C = up.shape[0]
        mn = up.reshape(C, -1).min(1)[0][:, None, None]
        mx = up.reshape(C, -1).max(1)[0][:, None, None]
        masks = (up - mn) / (mx - mn + 1e-8)
        s = batched(net, x * masks[:, None], 16)[:, k]
        w = torch.softmax(s, 0)
        return F.relu((w[:, None, None] * A[0]).sum(0))


def ablationcam(net, x):
    with torch.no_grad():
        A = net.head(x)
        z = net.tail(A)
        k = int(z.argmax(1))
        s0 = float(z[0, k])
        C = A.shape[1]
        v = 0.0 if float(A.min()) == 0 else float(A.min()) - 1e7
        abl = A.repeat(C, 1, 1, 1)
        abl[torch.arange(C), torch.arange(C)] = v
        sk = batched(net.tail, abl, 16)[:, k]
        w = (s0 - sk) / s0
        return F.relu((w[:, None, None] * A[0]).sum(0))


def grad_in(net, xs, k, guided=False):
    net.guided = guided
    xg = xs.clone().requires_grad_(True)
    net(xg)[:, k].sum().backward()
    net.guided = False
    return xg.grad


def ig(net, x, k, steps=50):
    t, wts = np.polynomial.legendre.leggauss(steps)
    al, st = 0.5 * (1 + t), 0.5 * wts
    base = torch.zeros_like(x)
    pts = torch.cat([base + float(a) * (x - base) for a in al])
    g = grad_in(net, pts, k)
    tg = (g * torch.tensor(st, dtype=torch.float32)[:, None, None, None]).sum(0, keepdim=True)
    return tg * (x - base)


def gradcam_maps(net, x, k):
    xg = x.clone()
    A = net.head(xg)
    z = net.tail(A)
    G, = torch.autograd.grad(z[0, k], A)
    A, G = A.detach(), G.detach()
    gc = F.relu((G.mean((2, 3), keepdim=True) * A).sum(1, keepdim=True))
    g2, g3 = G ** 2, G ** 3
    aij = g2 / (2 * g2 + A.sum((2, 3), keepdim=True) * g3 + 1e-6)
    aij = torch.where(G != 0, aij, torch.zeros_like(aij))
    wpp = (F.relu(G) * aij).sum((2, 3), keepdim=True)
    gpp = F.relu((wpp * A).sum(1, keepdim=True))
    up = lambda c: F.interpolate(c, size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
    return up(gc), up(gpp)


def all_maps(net, x, k, gen):
    g1, g2 = gradcam_maps(net, x, k)
    m = {"gradcam": g1, "gradcam++": g2}
    m["ig"] = ig(net, x, k)[0].sum(0)
    sd = 0.15 * float(x.max() - x.min())
    noisy = x + sd * torch.randn((25,) + x.shape[1:], generator=gen)
    sg = torch.cat([grad_in(net, noisy[i:i + 16], k).abs() for i in range(0, 25, 16)])
    m["smoothgrad"] = sg.mean(0).sum(0)
    g = grad_in(net, x, k)
    m["gxi"] = (g * x)[0].sum(0)
    m["guided-backprop"] = grad_in(net, x, k, guided=True)[0].sum(0)
    return {a: b.detach().numpy() for a, b in m.items()}


# ---------------------------------------------------------------- metrics
def rise_blur(x):
    from scipy.ndimage import gaussian_filter
    d = np.zeros((11, 11))
    d[5, 5] = 1
    k = torch.tensor(gaussian_filter(d, 5).astype(np.float32))[None, None].repeat(3, 1, 1, 1)
    return F.conv2d(x, k, padding=5, groups=3)


def curves(net, x, k, m, steps=100):
    hw = x.shape[2] * x.shape[3]
    order = torch.tensor(np.argsort(-m.reshape(-1), kind="stable").copy())
    xf = x.reshape(3, -1)
    out = []
    for start, finish in ((xf, torch.full_like(xf, 0.5)), (rise_blur(x).reshape(3, -1), xf)):
        imgs = []
        cur = start.clone()
        done = 0
        for i in range(steps + 1):
            n = int(i * hw / steps)
            idx = order[done:n]
            cur[:, idx] = finish[:, idx]
            done = n
            imgs.append(cur.reshape(1, 3, x.shape[2], x.shape[3]).clone())
        with torch.no_grad():
            p = batched(lambda b: torch.softmax(net(b), 1), torch.cat(imgs), 32)[:, k]
        a = p.numpy()
        out.append((a.sum() - a[0] / 2 - a[-1] / 2) / steps)
    return out


def impute(img, removed):
    """ROAD's NoisyLinearImputer (the reference code's system, spsolve)."""
    from scipy.sparse import lil_matrix, csc_matrix
    from scipy.sparse.linalg import spsolve
    C, H, W = img.shape
    nbw = [((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12),
           ((0, -1), 1 / 6), ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6)]
    mflat = ~removed.reshape(-1)
    idx = np.flatnonzero(~mflat)
    var = np.zeros(H * W, int)
    var[idx] = np.arange(len(idx))
    A = lil_matrix((len(idx), len(idx)))
    b = np.zeros((len(idx), C))
    sw = np.ones(len(idx))
    flat = img.reshape(C, -1)
    ys, xs = idx // W, idx % W
    for (dy, dx), w in nbw:
        yy, xx = ys + dy, xs + dx
        valid = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
        q = yy * W + xx
        vid = np.flatnonzero(valid)
        known = mflat[q[vid]]
        b[vid[known]] -= w * flat[:, q[vid[known]]].T
        A[vid[~known], var[q[vid[~known]]]] = w
        sw[np.flatnonzero(~valid)] -= w
    A[np.arange(len(idx)), np.arange(len(idx))] = -sw
    res = spsolve(csc_matrix(A), b)
    out = flat.copy()
    out[:, idx] = res.T + 0.01 * np.random.randn(*res.T.shape)
    return out.reshape(C, H, W)


def road(net, x, k, m):
    hw = x.shape[2] * x.shape[3]
    mf = m.reshape(-1)
    nm = (mf - mf.min()) / (mf.max() - mf.min() + 1e-5) + 1e-4 * np.random.randn(hw)
    order = np.argsort(-nm, kind="stable")
    img = x[0].double().numpy()
    imgs = []
    for lerf in (False, True):
        for f in (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9):
            n = int(hw * f)
            rem = np.zeros(hw, bool)
            rem[order[hw - n:] if lerf else order[:n]] = True
            imgs.append(torch.tensor(impute(img, rem.reshape(x.shape[2:])), dtype=torch.float32)[None])
    with torch.no_grad():
        return torch.softmax(net(torch.cat(imgs)), 1)[:, k].numpy()


def ssim(a, b):
    from scipy.ndimage import uniform_filter
    f = lambda t: uniform_filter(t, size=7)
    ux, uy = f(a), f(b)
    cov = 49 / 48
    vx, vy, vxy = cov * (f(a * a) - ux * ux), cov * (f(b * b) - uy * uy), cov * (f(a * b) - ux * uy)
    S = ((2 * ux * uy + 1e-4) * (2 * vxy + 9e-4)) / ((ux * ux + uy * uy + 1e-4) * (vx + vy + 9e-4))
    return S[3:-3, 3:-3].mean()


def abs01(m):
    a = np.abs(m.astype(np.float64))
    return (a - a.min()) / (a.max() - a.min()) if a.max() > a.min() else np.zeros_like(a)


def evaluate6(state, x):
    from scipy.stats import spearmanr
    net = Net(state)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        k = int(net(x).argmax(1))
    maps0 = all_maps(net, x, k, gen)
    res = {}
    for name, m in maps0.items():
        res[name] = curves(net, x, k, m) + list(road(net, x, k, m))
    layers = [net.m.c1, net.m.c2, net.m.c3, net.m.fc1, net.m.fc2]
    for tag in ("cascade", "single"):
        for s in range(len(layers)):
            rnet = Net(state)
            rl = [rnet.m.c1, rnet.m.c2, rnet.m.c3, rnet.m.fc1, rnet.m.fc2]
            for l in (rl[len(rl) - 1 - s:] if tag == "cascade" else [rl[s]]):
                l.reset_parameters()
            maps = all_maps(rnet, x, k, gen)
            for name, m in maps.items():
                t0, t1 = abs01(maps0[name]), abs01(m)
                res[name] += [spearmanr(maps0[name].reshape(-1), m.reshape(-1)).correlation,
                              spearmanr(t0.reshape(-1), t1.reshape(-1)).correlation, ssim(t0, t1)]
    return res


def main():
    from PIL import Image
    path, img = sys.argv[1], sys.argv[2]
    state = torch.load(path + ".pt")
    net = Net(state)
    x = torch.tensor(np.asarray(Image.open(img).convert("RGB"), np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        k = int(net(x).argmax(1))
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__}
    out["scorecam"] = measure(lambda: scorecam(net, x), 7)
    out["ablationcam"] = measure(lambda: ablationcam(net, x), 7)
    out["ig50"] = measure(lambda: ig(net, x, k), 7)
    out["evaluate6"] = measure(lambda: evaluate6(state, x), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
