"""Where a worker's time goes in a large W1 round: data, Python per step, padding, transfer.

    python benchmarks/round_breakdown.py [--clients 2000] [--population 1e6] [--block-size 64]

One process, one thread (as a Ray worker with num_cpus=1 runs), CPU time (`process_time`),
so the figures hold on a machine shared with other jobs. A sample of `--clients` clients of
W1 (`scenarios/w1_synthetic.yaml` at the given population) is trained twice from the same
parameters with `fedray.client.vectorized.train_block`: in blocks cut from the cohort by id
(as fedray did before), and in blocks of like-size clients (`blocks(..., sizes)`, now). It
prints per client: generating the data, training in each cut, and what a step costs; the
steps each cut runs (a block runs as many Python-level steps as its largest client), and
the bytes of the update batch a worker sends back.
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as Ray sets it in a worker with num_cpus=1

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fedray import seeding  # noqa: E402
from fedray.client.vectorized import blocks, train_block  # noqa: E402
from fedray.data import build_federation  # noqa: E402
from fedray.prepare import prepare  # noqa: E402
from fedray.scenario import load_scenario  # noqa: E402
from fedray.types import UpdateBatch  # noqa: E402

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "w1_synthetic.yaml"


def _train(cut, datas, model, params, cfg) -> tuple[float, list]:
    start, updates = time.process_time(), []
    for block in cut:
        ids = [int(c) for c in block if len(datas[int(c)].y_train)]
        gens = [seeding.torch_generator(0, 1, c, seeding.TRAIN) for c in ids]
        updates += train_block(
            model, params, ids, [datas[c] for c in ids], cfg, gens, torch.device("cpu")
        )
    return time.process_time() - start, updates


def _steps(cut, steps_of) -> tuple[int, int]:
    """(Python-level steps, client-steps the block pads to) of a cut."""
    longest = [max(steps_of[int(c)] for c in b) for b in cut]
    return sum(longest), sum(len(b) * m for b, m in zip(cut, longest, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--population", type=float, default=1e6)
    parser.add_argument("--block-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    population = int(args.population)
    scenario = load_scenario(
        SCENARIO,
        {"federation.population": population, "federation.clients_per_round": args.clients},
    )
    params = prepare(scenario).initial_params
    federation = build_federation(scenario)
    cfg = scenario.client
    rng = np.random.default_rng(0)
    ids = np.sort(rng.choice(population, args.clients, replace=False))
    start = time.process_time()
    federation.sizes(ids)  # as a worker does for its share before generating it
    datas = {int(c): federation.client(int(c)) for c in ids}
    data_s = time.process_time() - start
    sizes = np.array([len(datas[int(c)].y_train) for c in ids])
    steps_of = {int(c): cfg.epochs * -(-int(n) // cfg.batch_size) for c, n in zip(ids, sizes)}
    from fedray.models import build_model

    model = build_model(scenario.model.type, scenario.model.params, (60,), 10)
    _train(blocks(ids[:64], args.block_size), datas, model, params, cfg)  # first-call costs
    by_id, by_size = blocks(ids, args.block_size), blocks(ids, args.block_size, sizes)
    id_s, _ = _train(by_id, datas, model, params, cfg)
    size_s, updates = _train(by_size, datas, model, params, cfg)
    batch = UpdateBatch.stack(updates, len(params))
    start = time.process_time()
    wire = len(pickle.dumps(batch, protocol=5))
    pickle_s = time.process_time() - start
    real = sum(steps_of.values())
    n = args.clients
    print(f"W1 at population {population:,}: {n} clients, blocks of {args.block_size}, CPU time")
    print(f"  load average {os.getloadavg()[0]:.1f}; mean {sizes.mean():.0f} training examples")
    print(f"  data generation        {data_s / n * 1e3:6.3f} ms/client")
    for name, cut, secs in (("by id", by_id, id_s), ("by size", by_size, size_s)):
        python_steps, padded = _steps(cut, steps_of)
        print(
            f"  training, blocks {name:7s} {secs / n * 1e3:6.3f} ms/client; {python_steps} "
            f"block steps ({secs / python_steps * 1e3:.2f} ms each), client-steps padded to "
            f"{padded} for {real} real ({padded / real:.2f}x)"
        )
    print(
        f"  update batch           {wire / n:,.0f} bytes/client ({pickle_s / n * 1e3:.3f} ms/client to serialise)"
    )


if __name__ == "__main__":
    main()
