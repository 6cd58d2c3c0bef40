"""What does integer-domain distributed DP cost, in time and in epsilon?

    python benchmarks/secagg_ddp.py [--quick] [--out FILE.md]

1. Time per round, measured as CPU seconds in this one process (the machine is shared, so
   wall-clock is noisy; ratios are taken side by side): every client's encoding, the whole
   SecAgg protocol (`fedray.secagg.simulate.run`: keys, shares, masks, unmasking), and the
   server's decoding, for plain SecAgg (16-bit stochastic quantization of a continuous-noise
   update, the `gaussian` mechanism) against the discrete Gaussian and Skellam mechanisms
   (scaling, Walsh-Hadamard rotation, conditional rounding, integer noise). The rotation
   pads d to a power of two, so the masked vector itself can grow.
2. Epsilon after T rounds at sample rate q for noise multiplier z and cohort m, accounted as
   the continuous Gaussian (Opacus' RDP, the `gaussian` mechanism's ledger) and as the
   distributed discrete Gaussian and Skellam at the granularity that a 32- and a 16-bit field
   allow (`fedray.server.secure_dp`: Delta_2 after rounding, tau, Poisson subsampling by
   Zhu and Wang 2019). The column "Gaussian, Zhu-Wang" applies the integer mechanisms'
   subsampling bound to the continuous Gaussian, to separate its looseness from the
   mechanism's own cost.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from fedray.privacy import discrete_accounting as acc
from fedray.privacy.accounting import epsilon as gaussian_epsilon
from fedray.scenario import load_scenario
from fedray.secagg import simulate
from fedray.secagg.encoding import dequantize, quantize
from fedray.secagg.messages import Params
from fedray.server import secure_dp

MECHANISMS = ("gaussian", "discrete_gaussian", "skellam")


def scenario(mechanism: str, m: int, population: int, z: float, bits: int = 32):
    secure = {"protocol": "secagg", "weighting": "uniform", "modulus_bits": bits, "clip": 3.0}
    return load_scenario(
        {
            "rounds": 40,
            "federation": {"population": population, "clients_per_round": m},
            "data": {"dataset": "digits"},
            "secure_aggregation": secure,
            "privacy": {"mode": "distributed", "mechanism": mechanism, "noise_multiplier": z},
        }
    )


def one_round(s, d: int, rng: np.random.Generator) -> dict[str, float]:
    """CPU seconds of one round's encoding, protocol and decoding for scenario `s`."""
    m = s.federation.clients_per_round
    rows = (rng.standard_normal((m, d)) / np.sqrt(d)).astype(np.float32)
    start = time.process_time()
    encoded = {}
    for cid in range(m):
        delta, enc = secure_dp.private_client(s, 1, cid, rows[cid], None)
        if enc is None:  # the gaussian mechanism: the worker quantizes the noised update
            enc = quantize(delta, units=1, max_units=1, clip=3.0, bits=16, modulus_bits=32, rng=rng)
        encoded[cid] = enc
    encode = time.process_time() - start
    params = Params(threshold=m // 2 + 1, neighbors=m - 1, modulus_bits=32)
    start = time.process_time()
    total, _ = simulate.run(encoded, params, rng=np.random.default_rng(1))
    protocol = time.process_time() - start
    start = time.process_time()
    dp = secure_dp.setup(s, 1, d, 1.0)
    if dp is None:
        dequantize(total, clip=3.0, bits=16, modulus_bits=32)
    else:
        secure_dp.decode(dp, s, total)
    decode = time.process_time() - start
    length = len(next(iter(encoded.values())))
    return {"encode": encode, "protocol": protocol, "decode": decode, "words": length}


def cost_table(cases: list[tuple[int, int]]) -> list[str]:
    rng = np.random.default_rng(0)
    lines = [
        "| m | d | mechanism | words masked | encode s (all clients) | protocol s | decode s "
        "| round s | x gaussian |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m, d in cases:
        base = None
        for mech in MECHANISMS:
            t = one_round(scenario(mech, m, 10 * m, 1.0), d, rng)
            total = t["encode"] + t["protocol"] + t["decode"]
            base = base or total
            lines.append(
                f"| {m} | {d} | {mech} | {t['words']} | {t['encode']:.3f} | {t['protocol']:.2f} "
                f"| {t['decode']:.3f} | {total:.2f} | {total / base:.2f} |"
            )
    return lines


def epsilon_table(zs, ms, *, rounds: int, population_factor: int, d: int) -> list[str]:
    lines = [
        "| z | m | q | Gaussian (Opacus RDP) | Gaussian, Zhu-Wang | DDG 32 bits | DDG 16 bits "
        "| Skellam 32 bits | Skellam 16 bits |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for z in zs:
        for m in ms:
            q = 1 / population_factor
            cont = gaussian_epsilon([(z, q, rounds)], delta=1e-5)
            zw = acc.epsilon(acc.subsampled(acc.gaussian_rdp(z), q) * rounds, 1e-5)
            cells = [f"{cont:.2f}", f"{zw:.2f}"]
            for mech in ("discrete_gaussian", "skellam"):
                for bits in (32, 16):
                    s = scenario(mech, m, m * population_factor, z, bits)
                    try:
                        dp = secure_dp.setup(s, 1, d, 1.0)
                    except ValueError:
                        cells.append("refused (wraps)")
                        continue
                    curve = acc.subsampled(secure_dp.round_curve(dp, m), q) * rounds
                    cells.append(
                        f"{acc.epsilon(curve, 1e-5):.2f} (S/gamma=2^{np.log2(1 / dp.gamma):.0f})"
                    )
            lines.append(f"| {z} | {m} | {q:g} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--out", help="also write the Markdown here")
    args = parser.parse_args()
    cases = [(10, 4810)] if args.quick else [(20, 4810), (20, 32768), (50, 4810)]
    lines = [
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; CPU seconds",
        "",
        *cost_table(cases),
        "",
        "epsilon at delta 1e-5 after 40 rounds, d = 4810 (digits MLP), S = 1:",
        "",
        *epsilon_table(
            (0.5, 1.0, 2.0) if not args.quick else (1.0,),
            (20, 100) if not args.quick else (20,),
            rounds=40,
            population_factor=5,
            d=4810,
        ),
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
