"""Where a run's rounds spend their wall time, from Ray's own task timeline.

    python benchmarks/round_timeline.py [SCENARIO] [--set path=value ...] [--num-cpus 2]

Starts a local Ray, runs SCENARIO (default: `scenarios/w1_10k.yaml`, 10,000 clients a
round at population 10^6) with `fedray.run`, then reads `ray.timeline()` before shutting
Ray down and prints each round's wall time beside the actor calls it waited for: every
worker's `train` and the Aggregator's `step`, with their durations. A round takes about
its slowest worker's `train`; the gap between the two workers is their imbalance.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLS = ("train", "step", "evaluate")


def main() -> None:
    import ray

    import fedray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "w1_10k.yaml"))
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as out:
            result = fedray.run(
                args.scenario, args.overrides, out=Path(out) / "run", progress=False
            )
        events = [e for e in ray.timeline() if e.get("ph") == "X" and e.get("name") in CALLS]
    finally:
        ray.shutdown()
    walls = result.history.column("wall_seconds").to_pylist()
    print(f"rounds' wall seconds: {', '.join(f'{w:.2f}' for w in walls)}")
    workers = {}
    start = min(e["ts"] for e in events)
    for e in sorted(events, key=lambda e: e["ts"]):
        who = workers.setdefault(e["tid"], f"actor {len(workers)}")
        print(
            f"  at {(e['ts'] - start) / 1e6:7.2f} s  {who:8s} {e['name']:8s} {e['dur'] / 1e6:6.2f} s"
        )


if __name__ == "__main__":
    main()
