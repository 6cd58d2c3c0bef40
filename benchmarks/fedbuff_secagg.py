"""What SecAgg+ per FedBuff buffer costs: each server step opens one secure session among the
buffer's members. Runs scenarios/system_fedbuff.yaml plaintext and under SecAgg+ (semi-honest
and malicious) at several buffer sizes, side by side on one local Ray with warm actors, and
prints a Markdown table of the median wall time per server step, the secure protocol's share
of it, and each client's protocol bytes.

    PYTHONPATH=. python benchmarks/fedbuff_secagg.py --steps 8 --buffers 10 50 100
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
from pathlib import Path

import ray

import fedray
from fedray.actors import WarmActors

ROOT = Path(__file__).resolve().parents[1]
MODES = {
    "plaintext": [],
    "SecAgg+ semi-honest": ["secure_aggregation.protocol=secagg_plus"],
    "SecAgg+ malicious": [
        "secure_aggregation.protocol=secagg_plus",
        "secure_aggregation.threat_model=malicious",
    ],
}


def run(buffer: int, steps: int, sets: list[str], out: Path, warm) -> dict:
    population = max(100, 4 * buffer)  # digits: ~1,400 training examples to go round
    result = fedray.run(
        ROOT / "scenarios" / "system_fedbuff.yaml",
        [
            f"rounds={steps}",
            f"federation.population={population}",
            'data.partition={"type": "iid"}',
            f"federation.clients_per_round={buffer}",
            f"system.fedbuff.buffer={buffer}",
            f"system.fedbuff.concurrency={2 * buffer}",
            "evaluation.every=1000",
            "evaluation.federated_clients=0",
            "output.checkpoint_every=0",
            *sets,
        ],
        out=out,
        progress=False,
        warm=warm,
    )
    rows = result.history.to_pylist()[1:]  # the first step pays for warming up
    wall = statistics.median(r["wall_seconds"] for r in rows)
    secure = [r.get("secagg_seconds_mean") for r in rows]
    return {
        "wall": wall,
        "secagg_client_seconds": statistics.median(secure) if secure[0] is not None else None,
        "bytes_up": rows[-1].get("secagg_bytes_up_mean"),
        "bytes_down": rows[-1].get("secagg_bytes_down_mean"),
        "accuracy": result.summary["final_test_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--buffers", type=int, nargs="+", default=[10, 50, 100])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    warm = WarmActors()
    print(
        "| buffer | mode | s per server step | x plaintext | client protocol s "
        "| bytes up / client | bytes down / client |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for buffer in args.buffers:
                base = None
                for name, sets in MODES.items():
                    r = run(buffer, args.steps, sets, Path(tmp) / f"{buffer}-{len(sets)}", warm)
                    base = base or r["wall"]
                    fmt = lambda v: "-" if v is None else f"{v:,.0f}"  # noqa: E731
                    client = (
                        "-"
                        if r["secagg_client_seconds"] is None
                        else f"{r['secagg_client_seconds']:.4f}"
                    )
                    print(
                        f"| {buffer} | {name} | {r['wall']:.3f} | {r['wall'] / base:.2f} | "
                        f"{client} | {fmt(r['bytes_up'])} | {fmt(r['bytes_down'])} |",
                        flush=True,
                    )
    finally:
        warm.close()
        ray.shutdown()


if __name__ == "__main__":
    main()
