#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch version of bench_toggle_switch's BM_MlNleEpoch: one full-batch ML-NLE epoch of the
toggle-switch mixture density network (2 components, MLP 7-20-20-6 ReLU, float32) on option A's
sizes n = (10^4, 500, 100) (Hikida et al. 2025, Sec. 5; Algorithm 1):
  5 loss terms h_0 (10^4 samples), zeta_1^+- (500 each), zeta_2^+- (100 each), each with its own
  forward and backward pass (torch.autograd.grad), rescale g_l^- to ||g_l^+||, symmetric
  projection on conflict, clip to global norm 5, Adam (lr 1e-4, betas 0.85/0.999).
The data are synthetic (standard normal contexts and outputs, i.e. already z-scored): only the
shapes matter for the timing. Prints the median and p10/p90 of the per-epoch wall time after a
warm-up, and the process CPU time per epoch (all threads), per thread count.

usage: /usr/bin/python3 benchmarks/torch_mdn_epoch.py [--epochs 200] [--threads 1 2]
(Debian's python3-torch; run with /usr/bin/python3.)"""
import argparse
import math
import statistics
import time

import torch


class Mdn(torch.nn.Module):
    def __init__(self, context=7, hidden=20, components=2):
        super().__init__()
        self.k = components
        self.net = torch.nn.Sequential(
            torch.nn.Linear(context, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, 3 * components))

    def log_prob(self, y, c):
        out = self.net(c)
        logits, means, log_precision = out[:, :self.k], out[:, self.k:2 * self.k], out[:, 2 * self.k:]
        diagonal = torch.nn.functional.softplus(log_precision) + 1e-2  # as pyknos's MDN
        z = diagonal * (y - means)
        log_n = torch.log(diagonal) - 0.5 * z * z - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(torch.log_softmax(logits, dim=1) + log_n, dim=1)


def flat(grads):
    return torch.cat([g.reshape(-1) for g in grads])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    torch.manual_seed(0)
    sizes = [10000, 500, 100]
    # (y, c) of h_0, then (fine, coarse) of each correction level, sharing theta.
    c0, y0 = torch.randn(sizes[0], 7), torch.randn(sizes[0], 1)
    pairs = [(torch.randn(n, 7), torch.randn(n, 1), torch.randn(n, 1)) for n in sizes[1:]]
    for threads in args.threads:
        torch.set_num_threads(threads)
        model = Mdn()
        params = list(model.parameters())
        adam = torch.optim.Adam(params, lr=1e-4, betas=(0.85, 0.999), eps=1e-8)
        times = []
        cpu_start = 0.0
        for epoch in range(args.warmup + args.epochs):
            if epoch == args.warmup:
                cpu_start = time.process_time()
            start = time.perf_counter()
            g0 = flat(torch.autograd.grad(-model.log_prob(y0, c0).mean(), params))
            gc = torch.zeros_like(g0)
            for c, y_fine, y_coarse in pairs:
                g_plus = flat(torch.autograd.grad(-model.log_prob(y_fine, c).mean(), params))
                g_minus = flat(torch.autograd.grad(model.log_prob(y_coarse, c).mean(), params))
                g_minus = g_minus * g_plus.norm() / (g_minus.norm() + 1e-8)
                gc += g_plus + g_minus
            dot = torch.dot(g0, gc)
            if dot < 0:
                g = (g0 - dot / gc.dot(gc) * gc) + (gc - dot / g0.dot(g0) * g0)
            else:
                g = g0 + gc
            norm = g.norm()
            if norm > 5.0:
                g = g * (5.0 / (norm + 1e-6))
            offset = 0
            for p in params:
                p.grad = g[offset:offset + p.numel()].view_as(p).clone()
                offset += p.numel()
            adam.step()
            if epoch >= args.warmup:
                times.append(time.perf_counter() - start)
        cpu_ms = 1e3 * (time.process_time() - cpu_start) / args.epochs
        times.sort()
        p10, p90 = times[len(times) // 10], times[(9 * len(times)) // 10]
        print(f"torch {torch.__version__} threads={threads}: ML-NLE MDN epoch (option A) "
              f"median {1e3 * statistics.median(times):.3f} ms  p10 {1e3 * p10:.3f}  p90 {1e3 * p90:.3f}"
              f"  process CPU {cpu_ms:.3f} ms/epoch  ({args.epochs} epochs)")


if __name__ == "__main__":
    main()
