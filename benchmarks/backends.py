"""Ray actors against the driver's process: every shipped scenario on both backends.

    python benchmarks/backends.py [SCENARIO ...] [--rounds 3] [--set path=value ...]

Runs each scenario (default: every `scenarios/*.yaml`) for `--rounds` rounds with
`resources.backend: ray` (a private local Ray of 2 CPUs, started once) and with
`resources.backend: local`, and prints both final
`params_sha256` prefixes, whether they agree, and each run's seconds from `fedray.run` to
its return. Exits 1 if any scenario gives other bits on the two backends.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import ray

import fedray

ROOT = Path(__file__).resolve().parent.parent


def one(path: str, backend: str, overrides: dict, out: Path) -> tuple[str, float]:
    start = time.perf_counter()
    run = fedray.run(path, {**overrides, "resources.backend": backend}, out=out, progress=False)
    return run.summary["params_sha256"], time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    paths = args.scenarios or sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    overrides = {"rounds": args.rounds}
    overrides.update(o.split("=", 1) for o in args.overrides)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    differ = []
    print(
        f"{'scenario':24s} {'ray':>12s} {'local':>12s} {'same':>5s} {'ray s':>7s} {'local s':>8s}"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for path in paths:
                name = Path(path).stem
                on_ray, ray_s = one(path, "ray", overrides, Path(tmp) / f"{name}-ray")
                here, local_s = one(path, "local", overrides, Path(tmp) / f"{name}-local")
                same = on_ray == here
                differ += [] if same else [name]
                print(
                    f"{name:24s} {on_ray[:12]:>12s} {here[:12]:>12s} {'yes' if same else 'NO':>5s} "
                    f"{ray_s:7.1f} {local_s:8.1f}",
                    flush=True,
                )
    finally:
        ray.shutdown()
    if differ:
        print(f"other bits on the two backends: {', '.join(differ)}")
        return 1
    print(f"all {len(paths)} scenarios: the same bits on both backends")
    return 0


if __name__ == "__main__":
    sys.exit(main())
