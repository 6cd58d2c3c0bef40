"""Secure aggregation against a server that lies: which attack leaks under which threat
model, and what the malicious protocol costs against the semi-honest one.

    python benchmarks/secagg_threats.py [--quick] [--out FILE.md]

Table 1 runs every `server_attack` of fedray/secagg/dishonest.py against both threat models
at n = 30 with SecAgg+'s chosen k = 22 (t = 11 semi-honest, 12 malicious) and 10 colluding
clients: "leaked m/30" when the server recovered m inputs (each checked bit for bit against
the real one), "caught" with the first honest client's reason otherwise.

Table 2 runs the whole protocol, honest server, both threat models side by side in this
process at n = 100 and 1,000 (--quick: 100 only), d = 1,000, k and t from choose_parameters
(t raised above (k + 1) / 2 for malicious): process CPU seconds (all clients and the server,
one core), the per-client maximum of bytes up and down, and the server's seconds. CPU time,
not wall time: the machine is shared.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fedray.secagg.dishonest import ATTACKS
from fedray.secagg.graph import choose_parameters
from fedray.secagg.messages import Params, SecAggAbort
from fedray.secagg.simulate import run


def inputs_for(n: int, d: int, seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {u: rng.integers(0, 2**32, d, dtype=np.uint64) for u in range(n)}


def params_for(n: int, malicious: bool) -> Params:
    k, t = choose_parameters(n)
    if malicious:
        t = max(t, (k + 1) // 2 + 1)
    return Params(t, k, 32, malicious=malicious)


def attack_cell(attack: str, malicious: bool, n: int = 30, corrupt: int = 10) -> str:
    inputs = inputs_for(n, 100)
    try:
        _, stats = run(
            inputs,
            params_for(n, malicious),
            rng=np.random.default_rng(1),
            attack=attack,
            corrupt=set(range(corrupt)),
        )
    except SecAggAbort as exc:
        return f"caught: {exc.reason.split(': ', 1)[-1].split(' (')[0].split(':')[0]}"
    leaked = stats["leaked"]
    assert all(np.array_equal(x, inputs[u]) for u, x in leaked.items())  # real inputs
    return f"leaked {len(leaked)}/{n}" if leaked else "nothing leaked"


def cost_row(n: int, malicious: bool, d: int = 1000) -> dict:
    start = time.process_time()
    _, stats = run(inputs_for(n, d), params_for(n, malicious), rng=np.random.default_rng(1))
    p = params_for(n, malicious)
    return {
        "n": n,
        "model": "malicious" if malicious else "semi_honest",
        "k": p.neighbors,
        "t": p.threshold,
        "cpu_seconds": time.process_time() - start,
        "client_up": stats["client_bytes_up_max"],
        "client_down": stats["client_bytes_down_max"],
        "server_seconds": stats["server_seconds"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    lines = ["| server_attack | semi_honest (k = 22, t = 11) | malicious (k = 22, t = 12) |"]
    lines.append("|---|---|---|")
    for attack in ATTACKS:
        cells = [attack_cell(attack, m) for m in (False, True)]
        lines.append(f"| `{attack}` | {cells[0]} | {cells[1]} |")
    lines += ["", "| n | threat model | k | t | CPU s (all) | client KB up | client KB down |"]
    lines.append("|---:|---|---:|---:|---:|---:|---:|")
    for n in [100] if args.quick else [100, 1000]:
        rows = [cost_row(n, m) for m in (False, True)]
        for r in rows:
            lines.append(
                f"| {r['n']:,} | {r['model']} | {r['k']} | {r['t']} | {r['cpu_seconds']:.1f} "
                f"| {r['client_up'] / 1e3:.1f} | {r['client_down'] / 1e3:.1f} |"
            )
        ratio = rows[1]["cpu_seconds"] / rows[0]["cpu_seconds"]
        lines.append(f"| | malicious / semi-honest CPU | | | x{ratio:.2f} | | |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
