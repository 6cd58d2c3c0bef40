"""Vectorised cohorts vs the loop: milliseconds per client of local training, and speed-up.

    python benchmarks/vectorized.py [--clients 100] [--block 100] [--epochs 1] [--repeat 3]

The W1-like workload: FedProx's Synthetic(1, 1) (Li et al. 2020) with multinomial logistic
regression, `--clients` clients (0, 1, ...), batch 10, SGD lr 0.01, proximal term mu = 1,
one epoch. The loop trains each client with `train_client`; the vectorised path trains
blocks of `--block` clients with `train_block`. A second table does the same with local
DP-SGD (clip 1, z = 1), where the loop runs Opacus. Both paths start from the same global
parameters and draw from the same generators; the largest |delta difference| is printed
to show they did the same work. One intra-op thread, as a worker with one CPU; each cell
is the best of `--repeat` runs after one warm-up. The load average is printed: timings on
a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from fedray import seeding
from fedray.client.plan import ClientPlan
from fedray.client.train import train_client
from fedray.client.vectorized import blocks, train_block
from fedray.data.federation import SyntheticFederation
from fedray.data.synthetic import SyntheticParams
from fedray.models import build_model, num_params
from fedray.registry import NoParams
from fedray.scenario.schema import Client

CPU = torch.device("cpu")


def generators(ids) -> list[torch.Generator]:
    return [seeding.torch_generator(0, 1, int(c), seeding.TRAIN) for c in ids]


def loop(model, params, ids, datas, cfg, plan):
    return [
        train_client(model, params, int(c), d, cfg, g, CPU, plan)
        for c, d, g in zip(ids, datas, generators(ids), strict=True)
    ]


def vectorized(model, params, ids, datas, cfg, plan, block):
    out, start = [], 0
    for b in blocks(ids, block):
        part = datas[start : start + len(b)]
        out += train_block(model, params, list(b), part, cfg, generators(b), CPU, plan)
        start += len(b)
    return out


def best_seconds(fn, repeat: int) -> tuple[float, list]:
    result = fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    fed = SyntheticFederation(SyntheticParams(), args.clients, 0.2, seed=0)
    ids = np.arange(args.clients)
    datas = [fed.client(int(c)) for c in ids]
    model = build_model("logreg", NoParams(), fed.input_shape, fed.num_classes)
    params = (0.01 * np.random.default_rng(0).standard_normal(num_params(model))).astype(np.float32)
    cfg = Client(epochs=args.epochs, batch_size=10, lr=0.01)
    sizes = np.array([len(d.y_train) for d in datas])
    print(
        f"Synthetic(1,1) logreg, {args.clients} clients (train sizes {sizes.min()}..{sizes.max()},"
        f" mean {sizes.mean():.0f}), batch 10, {args.epochs} epoch(s), block {args.block}; "
        f"load average {os.getloadavg()[0]:.2f}\n"
    )
    print("| local training | loop ms/client | vectorised ms/client | speed-up | max abs diff |")
    print("|---|---|---|---|---|")
    plans = {
        "SGD + FedProx mu=1": ClientPlan(proximal_mu=1.0),
        "DP-SGD (C=1, z=1)": ClientPlan(dp_max_grad_norm=1.0, dp_noise_multiplier=1.0),
    }
    per_client = {}
    for name, plan in plans.items():
        t_loop, a = best_seconds(
            lambda p=plan: loop(model, params, ids, datas, cfg, p), args.repeat
        )
        t_vec, b = best_seconds(
            lambda p=plan: vectorized(model, params, ids, datas, cfg, p, args.block), args.repeat
        )
        diff = max(float(np.abs(u.delta - v.delta).max()) for u, v in zip(a, b, strict=True))
        per = 1000 / args.clients
        per_client[name] = (t_loop * per, t_vec * per)
        print(
            f"| {name} | {t_loop * per:.2f} | {t_vec * per:.2f} | {t_loop / t_vec:.1f}x "
            f"| {diff:.1e} |"
        )
    (plain_loop, plain_vec), (dp_loop, dp_vec) = per_client.values()
    print(
        f"\nDP-SGD costs {dp_loop / plain_loop:.1f}x plain training in the loop (Opacus) and "
        f"{dp_vec / plain_vec:.1f}x in blocks; vectorised DP-SGD takes "
        f"{dp_vec / plain_loop:.2f}x the plain loop's time."
    )


if __name__ == "__main__":
    main()
