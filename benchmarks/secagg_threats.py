"""Secure aggregation against a server that lies: which attack leaks under which threat
model, and what the malicious protocol costs against the semi-honest one.

    python benchmarks/secagg_threats.py [--quick] [--out FILE.md]

Table 1 runs every `server_attack` of fedray/secagg/dishonest.py against both threat models
at n = 30 with SecAgg+'s chosen k = 22 (t = 11 semi-honest, 12 malicious) and 10 colluding
clients: "leaked m/30" when the server recovered m inputs (each checked bit for bit against
the real one), "caught" with the first honest client's reason otherwise.

Table 2 runs the whole protocol, honest server, both threat models side by side in this
process at n = 100, d = 1,000, k and t from choose_parameters (t raised above (k + 1) / 2
for malicious): process CPU seconds of all clients and the server on one core, and the
per-client maximum of bytes up and down. CPU time, not wall time: the machine is shared.

Table 3 predicts one client's seconds at n = 100 and 1,000 from unit costs measured here
(benchmarks/secagg.py's model: 2k key agreements and share messages, Shamir sharing, k + 1
masks of d words) plus what the malicious model adds: two Ed25519 signatures and 2k + 1
verifications; and the bytes it adds (signatures, and the signed survivor-set digests the
server forwards from each neighbour). A full run at n = 1,000 costs minutes of CPU per model.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from fedray.secagg import pki
from fedray.secagg.dishonest import ATTACKS
from fedray.secagg.graph import choose_parameters
from fedray.secagg.messages import Params, PublicKeys, SecAggAbort, SignedSurvivors
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


def predicted_client(n: int, d: int, costs, sign: float, verify: float) -> dict:
    """One client's predicted seconds and the malicious model's extra seconds and bytes."""
    k, t = params_for(n, True).neighbors, params_for(n, True).threshold
    semi = 2 * k * (costs.agree + costs.gcm) + costs.share(k + 1, t) + (k + 1) * costs.mask(d)
    extra = 2 * sign + (2 * k + 1) * verify
    sig = (
        PublicKeys(0, b"", b"", bytes(pki.SIGNATURE_BYTES)).nbytes - PublicKeys(0, b"", b"").nbytes
    )
    signed = SignedSurvivors(0, bytes(32), bytes(pki.SIGNATURE_BYTES)).nbytes
    return {
        "n": n,
        "k": k,
        "semi": semi,
        "extra": extra,
        "up": sig + signed,
        "down": k * sig + (k + 1) * signed,
    }


def unit_costs():
    # benchmarks/secagg.py's unit-cost model, loaded by path (benchmarks/ is not a package)
    spec = importlib.util.spec_from_file_location(
        "benchmarks_secagg", Path(__file__).parent / "secagg.py"
    )
    bench = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    UnitCosts, median_seconds = bench.UnitCosts, bench.median_seconds

    identity = pki.identity_key(bytes(32))
    message = pki.advert_message((1, 0), 0, bytes(32), bytes(32))
    signature = identity.sign(message)
    public = identity.public_key()
    sign = median_seconds(lambda: identity.sign(message), 300)
    verify = median_seconds(lambda: public.verify(signature, message), 300)
    return UnitCosts(np.random.default_rng(0)), sign, verify


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    ap.add_argument(
        "--large", action="store_true", help="also run table 2 at n = 1,000 (minutes of CPU)"
    )
    args = ap.parse_args()
    lines = ["| server_attack | semi_honest (k = 22, t = 11) | malicious (k = 22, t = 12) |"]
    lines.append("|---|---|---|")
    for attack in ATTACKS:
        cells = [attack_cell(attack, m) for m in (False, True)]
        lines.append(f"| `{attack}` | {cells[0]} | {cells[1]} |")
    lines += ["", "| n | threat model | k | t | CPU s (all) | client KB up | client KB down |"]
    lines.append("|---:|---|---:|---:|---:|---:|---:|")
    for n in [100, 1000] if args.large else [100]:
        rows = [cost_row(n, m) for m in (False, True)]
        for r in rows:
            lines.append(
                f"| {r['n']:,} | {r['model']} | {r['k']} | {r['t']} | {r['cpu_seconds']:.1f} "
                f"| {r['client_up'] / 1e3:.1f} | {r['client_down'] / 1e3:.1f} |"
            )
        ratio = rows[1]["cpu_seconds"] / rows[0]["cpu_seconds"]
        lines.append(f"| | malicious / semi-honest CPU | | | x{ratio:.2f} | | |")
    costs, sign, verify = unit_costs()
    lines += [
        "",
        f"Unit costs here: Ed25519 sign {sign * 1e6:.0f} us, verify {verify * 1e6:.0f} us, "
        f"X25519 + HKDF {costs.agree * 1e6:.0f} us.",
        "",
        "| n | k | client s (semi-honest) | + malicious | ratio | + bytes up | + KB down |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in [100] if args.quick else [100, 1000]:
        r = predicted_client(n, 1000, costs, sign, verify)
        lines.append(
            f"| {n:,} | {r['k']} | {r['semi']:.3f} | {r['extra']:.3f} | "
            f"x{(r['semi'] + r['extra']) / r['semi']:.2f} | {r['up']} | {r['down'] / 1e3:.1f} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
