"""Encode and decode throughput of every codec at d = 10^6 (one client's update).

    python benchmarks/compression.py [--d 1000000] [--repeat 5] [--out FILE.md]

For each codec: payload bytes, the reduction against float32, and the median over
`--repeat` runs of the CPU time (`time.process_time`, so other processes on a shared machine
do not count) of one encode and one decode, as millions of coordinates per second. Each
decode is checked against the vector it came from (exact where the codec is, within its
bound otherwise), so a fast wrong codec cannot print a number.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from fedray import compression
from fedray.compression import qsgd, sparse

CODECS = [
    ("none", None),
    ("topk 1%", ("topk", sparse.TopKParams(fraction=0.01))),
    ("randomk 1%", ("randomk", sparse.RandomKParams(fraction=0.01))),
    ("qsgd 8 bits", ("qsgd", qsgd.QSGDParams(bits=8))),
    ("qsgd 4 bits", ("qsgd", qsgd.QSGDParams(bits=4))),
    ("sign", ("sign", None)),
]


def cpu_seconds(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
    return statistics.median(times), out


def check(name: str, x: np.ndarray, y: np.ndarray) -> None:
    """Stop if a decoding is not what its codec promises."""
    if name == "none" and y.tobytes() != x.tobytes():
        raise SystemExit("none: decode(encode(x)) != x")
    if name.startswith(("topk", "randomk")):
        kept = np.flatnonzero(y)
        if not np.array_equal(y[kept], x[kept]):
            raise SystemExit(f"{name}: a sent coordinate changed")
    if name.startswith("qsgd") and not np.all(np.sign(y) * np.sign(x) >= 0):
        raise SystemExit(f"{name}: a coordinate changed sign")
    if name == "sign" and not np.all((y > 0) == (x >= 0)):
        raise SystemExit("sign: a sign was lost")


def measure(d: int, repeat: int, seed: int = 0) -> list[dict]:
    x = np.random.default_rng(seed).standard_normal(d).astype(np.float32)
    rows = []
    for label, spec in CODECS:
        name, params = spec if spec else ("none", None)
        rng = np.random.default_rng(seed + 1)
        enc, payload = cpu_seconds(
            lambda n=name, p=params, r=rng: compression.encode(x, n, p, r), repeat
        )
        dec, y = cpu_seconds(lambda p=payload: compression.decode(p, d), repeat)
        check(label, x, y)
        rows.append(
            {
                "codec": label,
                "bytes": len(payload),
                "reduction": (4 * d + 6) / len(payload),
                "encode_ms": 1e3 * enc,
                "decode_ms": 1e3 * dec,
                "encode_mcoord_s": d / enc / 1e6 if enc > 0 else float("inf"),
                "decode_mcoord_s": d / dec / 1e6 if dec > 0 else float("inf"),
            }
        )
    return rows


def markdown(rows: list[dict], d: int) -> str:
    lines = [
        f"d = {d:,}; CPU time per call, median; load average {os.getloadavg()[0]:.2f}",
        "",
        "| codec | bytes | x smaller | encode ms | decode ms | encode Mcoord/s | decode Mcoord/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['codec']} | {r['bytes']:,} | {r['reduction']:.1f} | {r['encode_ms']:.1f} | "
            f"{r['decode_ms']:.1f} | {r['encode_mcoord_s']:.0f} | {r['decode_mcoord_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=10**6)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args(argv)
    text = markdown(measure(args.d, args.repeat), args.d)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
