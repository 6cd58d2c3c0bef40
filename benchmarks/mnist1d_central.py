"""MNIST-1D trained centrally: do fedray's generator and models reproduce the paper's baselines?

Greydanus 2020 reports about 32% test accuracy for logistic regression, 68% for an MLP and
94% for a small 1-D CNN (4,000 train / 1,000 test; Adam, lr 1e-2, batch 100, 6,000 steps).
This trains fedray's `logreg`, `mlp` (100, 100) and `cnn1d` the same way on the data
`fedray.data.mnist1d` generates for each seed and prints test accuracy, mean ± std.

    PYTHONPATH=. python benchmarks/mnist1d_central.py --seeds 3 --steps 6000
    PYTHONPATH=. python benchmarks/mnist1d_central.py --samples docs/mnist1d_samples.png
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fedray.data.mnist1d import MNIST1DParams, mnist1d
from fedray.models import CNN1DParams, MLPParams, build_model
from fedray.registry import NoParams

MODELS = {"logreg": NoParams(), "mlp": MLPParams(hidden=(100, 100)), "cnn1d": CNN1DParams()}


def train(name: str, seed: int, steps: int, batch: int = 100, lr: float = 1e-2) -> float:
    """Train model `name` on MNIST-1D drawn from `seed`; return its final test accuracy."""
    data = mnist1d(MNIST1DParams(), seed)
    torch.manual_seed(seed)
    model = build_model(name, MODELS[name], data.input_shape, data.num_classes)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(y), (batch,), generator=order)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        pred = model(torch.from_numpy(data.x_test)).argmax(1).numpy()
    return float((pred == data.y_test).mean())


def draw_samples(path: str, seed: int = 0, per_class: int = 3) -> None:
    """Plot the first `per_class` training examples of each digit, one panel per digit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = mnist1d(MNIST1DParams(), seed)
    fig, axes = plt.subplots(2, 5, figsize=(12, 4.2), sharex=True, sharey=True)
    for digit, ax in enumerate(axes.flat):
        for row in data.x_train[data.y_train == digit][:per_class]:
            ax.plot(row, lw=1)
        ax.set_title(f"digit {digit}", fontsize=9)
    fig.suptitle(f"MNIST-1D as fedray generates it (seed {seed}): {per_class} examples per class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--samples", help="draw examples of each class to this PNG and stop")
    args = parser.parse_args()
    if args.samples:
        draw_samples(args.samples)
        return
    torch.set_num_threads(1)
    print(f"| model | test accuracy (mean ± std, {args.seeds} seeds) | paper | CPU s per run |")
    print("|---|---:|---:|---:|")
    paper = {"logreg": 0.32, "mlp": 0.68, "cnn1d": 0.94}
    for name in MODELS:
        start = time.process_time()
        accs = [train(name, seed, args.steps) for seed in range(args.seeds)]
        cpu = (time.process_time() - start) / args.seeds
        print(
            f"| {name} | {np.mean(accs):.3f} ± {np.std(accs):.3f} | {paper[name]:.2f} | {cpu:.0f} |"
        )


if __name__ == "__main__":
    main()
