"""What does secure aggregation cost? Seconds and bytes of plain sums, SecAgg and SecAgg+.

    python benchmarks/secagg.py [--quick] [--out FILE.md] [--budget 25] [--growth-budget 90]

Plain aggregation (the server sums float32 vectors) against SecAgg (Bonawitz et al., CCS 2017;
complete graph, t = n//2 + 1) and SecAgg+ (Bell et al., CCS 2020; k and t from
`choose_parameters(n, corrupt=1/3, dropout=max(dropout, 0.1))`), with modulus_bits 32 and
16-bit quantization, for each cohort size n, vector length d and dropout rate. Clients drop
after sharing their keys, at the masked-input stage, the server's expensive case: it rebuilds
each dropped client's masking key and every pairwise mask it had with a survivor. A growth
table in n at d = 10^4 follows, with the fitted exponent of the clients' total seconds.

A cell runs the whole protocol for real when its predicted cost (unit costs measured at the
start x operation counts) fits --budget seconds, and then the unmasked sum must equal the
plain sum of the quantized inputs, or the script stops. Otherwise a random sample of
surviving clients runs all four phases for real against genuine neighbour keys and the
server runs on stand-in messages; such cells are marked and the footnotes say how each
number was obtained. --out also writes the Markdown to FILE.md and the numbers to FILE.json.
Timings on a shared machine are noisy: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fedray.secagg import keys, prg, shamir
from fedray.secagg.client import SECRET_BYTES, ClientSession, check_vector
from fedray.secagg.encoding import quantize
from fedray.secagg.graph import choose_parameters
from fedray.secagg.messages import EncryptedShare, Params, PublicKeys, UnmaskResponse
from fedray.secagg.server import ServerSession

PROTOCOLS = ("plain", "SecAgg", "SecAgg+")
M_BITS, Q_BITS, CORRUPT = 32, 16, 1 / 3
SMALL_D = 10_000  # vector length of the stand-in server run when full length is too slow
MAX_REAL_WORDS = 3 * 10**8  # inputs + masked vectors held by a real run, uint64: 4.5 GiB
CHUNKS = shamir.chunk_count(SECRET_BYTES)
CIPHERTEXT_BYTES = keys.NONCE_BYTES + 2 * CHUNKS * 4 + keys.TAG_BYTES  # one share message
FULL = {
    "n": [100, 1000],
    "d": [10**4, 10**5, 10**6],
    "growth": [50, 100, 200, 400, 800, 1600],
    "growth_d": 10**4,
}
QUICK = {"n": [20, 150], "d": [10**3, 10**5], "growth": [10, 20, 40, 80, 160], "growth_d": 10**3}
DROPOUTS = (0.0, 0.1, 0.3)
GROWTH_DROPOUTS = (0.0, 0.1)


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def quantized(d: int, rng: np.random.Generator) -> np.ndarray:
    """Return one client's (d + 1,) uint64 encoding of a N(0, 1) update (units ride along)."""
    delta = rng.standard_normal(d, dtype=np.float32)
    return quantize(
        delta, units=1, max_units=1, clip=4.0, bits=Q_BITS, modulus_bits=M_BITS, rng=rng
    )


class UnitCosts:
    """Median seconds of the operations the protocol repeats, measured in this process."""

    def __init__(self, rng: np.random.Generator):
        own, peer = keys.generate(rng.bytes(32)), keys.public_bytes(keys.generate(rng.bytes(32)))
        key, plain = rng.bytes(32), bytes(2 * CHUNKS * 4)
        self.rng, self._cache = rng, {}
        self.agree = median_seconds(lambda: keys.agree(own, peer), 300)  # X25519 + HKDF
        self.gcm = median_seconds(  # one share message: encrypt and decrypt, AES-256-GCM
            lambda: keys.decrypt(key, keys.encrypt(key, plain, b"a"), b"a"), 300
        )

    def as_dict(self) -> dict[str, float]:
        measured = {f"{name} {arg}": v for (name, arg), v in self._cache.items()}
        return {"agree": self.agree, "gcm": self.gcm, **measured}

    def _cached(self, name: str, arg, make) -> float:
        if (name, arg) not in self._cache:
            self._cache[name, arg] = make()
        return self._cache[name, arg]

    def mask(self, d: int) -> float:
        """Expand one AES-256-CTR mask of d + 1 words and add it to an accumulator."""

        def run() -> float:
            seed, acc = self.rng.bytes(32), np.zeros(d + 1, prg.word_dtype(M_BITS))
            step = lambda: acc.__iadd__(prg.keystream_words(seed, d + 1, M_BITS))  # noqa: E731
            return median_seconds(step, 5 if d > 10**5 else 21)

        return self._cached("mask", d, run)

    def receive(self, d: int) -> float:
        """Check one masked vector and add it to the server's accumulator."""

        def run() -> float:
            y = self.rng.integers(0, 1 << M_BITS, d + 1, dtype=np.uint64)
            acc = np.zeros(d + 1, prg.word_dtype(M_BITS))
            step = lambda: acc.__iadd__(check_vector(y, M_BITS).astype(acc.dtype))  # noqa: E731
            return median_seconds(step, 5 if d > 10**5 else 21)

        return self._cached("receive", d, run)

    def quantize(self, d: int) -> float:
        return self._cached(
            "quantize", d, lambda: median_seconds(lambda: quantized(d, self.rng), 3)
        )

    def share(self, holders: int, t: int) -> float:
        """Shamir-share b_u and s_sk among `holders` points, threshold t."""
        xs, secrets = np.arange(1, holders + 1), [bytes(32), bytes(32)]
        fn = lambda: shamir.share(secrets, xs=xs, t=t, rng=self.rng)  # noqa: E731
        return self._cached("share", (holders, t), lambda: median_seconds(fn, 3))

    def reconstruct(self, t: int, *, same_holders: bool = False) -> float:
        """Rebuild one secret from t shares. `shamir` caches Lagrange weights per holder set:
        SecAgg's server meets one set (the first t survivors) for every owner, SecAgg+'s a new
        set per owner, so same_holders=False measures with fresh points every time."""
        share = shamir.to_chunks([bytes(32)])[0]
        fixed = np.arange(1, t + 1)

        def fn():
            xs = fixed if same_holders else self.rng.choice(shamir.PRIME - 1, t, replace=False) + 1
            shamir.reconstruct(xs, np.tile(share, (t, 1)), t=t, length=SECRET_BYTES)

        return self._cached(f"reconstruct{'*' * same_holders}", t, lambda: median_seconds(fn, 5))

    def predict(self, params: Params, n: int, d: int, dropped: int) -> tuple[float, float]:
        """Return predicted seconds of (all clients plus input encoding, the server)."""
        k, t, alive = min(params.neighbors, n - 1), params.threshold, n - dropped
        rebuilt = dropped * k * alive / n  # pairwise masks the server must rebuild
        per_client = 2 * k * (self.agree + self.gcm) + self.share(k + 1, t) + self.quantize(d)
        clients = n * per_client + alive * (k + 1) * self.mask(d)
        rebuild = self.reconstruct(t, same_holders=k == n - 1)
        routing = 4e-6 * k  # a few microseconds per share message
        server = (
            alive * (self.mask(d) + self.receive(d))
            + rebuilt * (self.agree + self.mask(d))
            + n * (rebuild + routing)
        )
        return clients, server


@dataclasses.dataclass
class Cell:
    """One configuration's results; client figures are means over surviving clients."""

    protocol: str
    n: int
    d: int
    dropout: float
    k: int | None = None
    t: int | None = None
    clients: str = "real"  # real | sampled (a random sample of survivors, extrapolated)
    server: str = "real"  # real | standin (full d) | extrapolated (stand-ins at SMALL_D)
    client_seconds: float = 0.0
    client_seconds_total: float = 0.0  # all n clients, dropped ones included
    client_up: float = 0.0
    client_down: float = 0.0
    server_seconds: float = 0.0
    server_bytes: float = 0.0
    survivors: int = 0
    recovered: int = 0  # dropped clients whose masking key the server rebuilt
    masks_rebuilt: int = 0  # pairwise masks between those and survivors
    checked: bool | None = False  # unmasked sum == plain sum of the inputs; None for plain
    sampled: int = 0
    wall_seconds: float = 0.0


class Member(NamedTuple):
    c: object  # X25519 private key for share encryption
    s_bytes: bytes  # raw X25519 masking key, the secret the server may rebuild
    b: bytes  # self-mask seed
    public: PublicKeys


def keyring(n: int, rng: np.random.Generator) -> list[Member]:
    """Genuine key pairs and seeds for clients 0..n-1, as the harness's neighbours."""
    ring = []
    for u in range(n):
        c, s = keys.generate(rng.bytes(32)), keys.generate(rng.bytes(32))
        public = PublicKeys(u, keys.public_bytes(c), keys.public_bytes(s))
        ring.append(Member(c, keys.private_bytes(s), rng.bytes(32), public))
    return ring


def protocol_params(protocol: str, n: int, dropout: float) -> Params:
    if protocol == "SecAgg":
        return Params(threshold=n // 2 + 1, neighbors=n - 1, modulus_bits=M_BITS)
    k, t = choose_parameters(n, corrupt=CORRUPT, dropout=max(dropout, 0.1))
    return Params(threshold=t, neighbors=k, modulus_bits=M_BITS)


def recovery(server: ServerSession, dropped: set[int]) -> tuple[int, int]:
    """Return (dropped clients with a surviving neighbour, pairwise masks with survivors)."""
    alive = np.ones(len(server.cohort), bool)
    alive[list(dropped)] = False
    per = [int(alive[server.graph[v]].sum()) for v in dropped]
    return sum(c > 0 for c in per), sum(per)


def fill_server(cell: Cell, server: ServerSession, dropped: set[int]) -> None:
    cell.server_seconds = server.stats["seconds"]
    cell.server_bytes = server.stats["bytes_up"] + server.stats["bytes_down"]
    cell.survivors = server.stats["survivors"]
    cell.recovered, cell.masks_rebuilt = recovery(server, dropped)


def check_sum(cell: Cell, total: np.ndarray, inputs: list[np.ndarray]) -> None:
    expected = np.zeros_like(inputs[0])
    for x in inputs:
        expected += x
    wrong = int((total != prg.reduce(expected, M_BITS)).sum())
    if wrong:
        raise SystemExit(
            f"{cell.protocol} n={cell.n} d={cell.d} dropout={cell.dropout}: the unmasked sum "
            f"differs from the plain sum of the quantized inputs at {wrong} coordinates; "
            "fedray.secagg is broken, the benchmark stops here"
        )
    cell.checked = True


def run_real(cell: Cell, params: Params, dropped: set[int], rng: np.random.Generator) -> None:
    """Run the whole protocol for every client, as `fedray.secagg.simulate.run` does."""
    inputs = [quantized(cell.d, rng) for _ in range(cell.n)]
    server = ServerSession(np.arange(cell.n), params, rng)
    clients = [ClientSession(u, params, entropy=rng.bytes(32)) for u in range(cell.n)]
    keys_for = server.collect_keys([c.advertise() for c in clients])
    shares = [s for u, ks in keys_for.items() for s in clients[u].share_keys(ks)]
    routed = server.route_shares(shares)
    masked = {u: clients[u].masked_input(inputs[u], routed[u]) for u in routed if u not in dropped}
    survivors = server.collect_masked(masked)
    total = server.finish([clients[u].unmask(survivors) for u in survivors])
    check_sum(cell, total, [inputs[u] for u in survivors])
    fill_server(cell, server, dropped)
    done = [clients[u].stats for u in survivors]
    cell.client_seconds = float(np.mean([s["seconds"] for s in done]))
    cell.client_up = float(np.mean([s["bytes_up"] for s in done]))
    cell.client_down = float(np.mean([s["bytes_down"] for s in done]))
    cell.client_seconds_total = sum(c.stats["seconds"] for c in clients)


def stand_in_share(owner: Member, receiver: PublicKeys, rng: np.random.Generator):
    """Return the owner's share message for `receiver` under their genuine channel key; the
    share itself is random field elements (a sampled client never has it rebuilt)."""
    key = keys.agree(owner.c, receiver.c_pk, purpose="encrypt")
    plain = rng.integers(0, shamir.PRIME, (2, CHUNKS)).astype("<u4").tobytes()
    sender = owner.public.client_id
    aad = keys.share_aad(sender, receiver.client_id)
    return EncryptedShare(sender, receiver.client_id, keys.encrypt(key, plain, aad))


def drive_client(u: int, params: Params, server: ServerSession, ring, d: int, survivors, rng):
    """Run client u's four phases for real; return its stats after sharing and at the end."""
    session = ClientSession(u, params, entropy=rng.bytes(32))
    advert = session.advertise()
    neighbours = [ring[int(v)] for v in server.graph[u]]
    session.share_keys([m.public for m in neighbours])
    early = dict(session.stats)
    received = [stand_in_share(m, advert, rng) for m in neighbours]
    session.masked_input(quantized(d, rng), received)
    session.unmask(survivors)
    return early, session.stats


def serve_stand_ins(server: ServerSession, ring, d: int, dropped: set[int], rng) -> None:
    """Drive the server through all four stages on genuine keys, ciphertexts of the real size,
    random masked vectors and Shamir shares of constant polynomials (every holder's share is
    the secret itself: interpolation costs the same and rebuilds the genuine secret)."""
    keys_for = server.collect_keys([m.public for m in ring])
    blob = rng.bytes(CIPHERTEXT_BYTES)
    server.route_shares(
        [EncryptedShare(u, p.client_id, blob) for u, ps in keys_for.items() for p in ps]
    )
    pool = [rng.integers(0, 1 << M_BITS, d + 1, dtype=np.uint64) for _ in range(4)]
    alive = [u for u in range(len(ring)) if u not in dropped]
    survivors = set(server.collect_masked({u: pool[u % 4] for u in alive}))
    secrets = [shamir.to_chunks([m.b, m.s_bytes]) for m in ring]  # (2, chunks) per owner
    responses = []
    for u in sorted(survivors):
        owners = [u, *map(int, server.graph[u])]
        b = {o: secrets[o][0] for o in owners if o in survivors}
        s = {o: secrets[o][1] for o in owners if o not in survivors}
        responses.append(UnmaskResponse(u, b_shares=b, s_shares=s))
    server.finish(responses)


def run_sampled(cell, params, dropped, rng, *, sample: int, server_d: int, cost) -> None:
    """Sample surviving clients for real, run the server on stand-ins; extrapolate the rest."""
    ring = keyring(cell.n, rng)
    server = ServerSession(np.arange(cell.n), params, rng)
    survivors = [u for u in range(cell.n) if u not in dropped]
    picked = rng.choice(survivors, size=min(sample, len(survivors)), replace=False)
    runs = [drive_client(int(u), params, server, ring, cell.d, survivors, rng) for u in picked]
    cell.clients, cell.sampled = "sampled", len(runs)
    cell.client_seconds = float(np.mean([s["seconds"] for _, s in runs]))
    cell.client_up = float(np.mean([s["bytes_up"] for _, s in runs]))
    cell.client_down = float(np.mean([s["bytes_down"] for _, s in runs]))
    early = float(np.mean([e["seconds"] for e, _ in runs]))
    cell.client_seconds_total = len(survivors) * cell.client_seconds + len(dropped) * early
    serve_stand_ins(server, ring, server_d, dropped, rng)
    fill_server(cell, server, dropped)
    cell.server = "standin" if server_d == cell.d else "extrapolated"
    if server_d < cell.d:  # each vector the server expands or receives is longer
        longer = lambda f: f(cell.d) - f(server_d)  # noqa: E731
        expanded = cell.survivors + cell.masks_rebuilt
        extra = expanded * longer(cost.mask) + cell.survivors * longer(cost.receive)
        cell.server_seconds += extra
        cell.server_bytes += cell.survivors * (cell.d - server_d) * params.word_bytes


def run_plain(cell: Cell, rng: np.random.Generator) -> None:
    """Time the server's float32 sum of the survivors' vectors (best of 3)."""
    pool = [rng.standard_normal(cell.d, dtype=np.float32) for _ in range(min(8, cell.n))]
    cell.survivors = cell.n - round(cell.dropout * cell.n)

    def add_all():
        acc = np.zeros(cell.d, np.float32)
        for i in range(cell.survivors):
            acc += pool[i % len(pool)]

    cell.server_seconds = min(median_seconds(add_all, 1) for _ in range(3))
    cell.client_up = 4 * cell.d
    cell.server_bytes = cell.survivors * cell.client_up


def measure(protocol, n, d, dropout, *, seed, budget, sample, cost, mode="auto") -> Cell:
    """Measure one configuration; mode "auto" runs it for real when predicted within budget."""
    rng = np.random.default_rng([seed, n, d, round(dropout * 1000), PROTOCOLS.index(protocol)])
    cell, start = Cell(protocol, n, d, dropout), time.perf_counter()
    if protocol == "plain":
        run_plain(cell, rng)
        cell.checked = None
    else:
        params = protocol_params(protocol, n, dropout)
        cell.k, cell.t = min(params.neighbors, n - 1), params.threshold
        dropped = set(rng.choice(n, round(dropout * n), replace=False).tolist())
        clients, server = cost.predict(params, n, d, len(dropped))
        fits = clients + server <= budget and 2 * n * (d + 1) <= MAX_REAL_WORDS
        if mode == "real" or (mode == "auto" and fits):
            run_real(cell, params, dropped, rng)
        else:
            server_d = d if server <= budget and mode == "auto" else min(d, SMALL_D)
            run_sampled(cell, params, dropped, rng, sample=sample, server_d=server_d, cost=cost)
    cell.wall_seconds = time.perf_counter() - start
    return cell


# ---------------------------------------------------------------- tables


def fmt_s(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}" if x >= 1e-3 else f"{x:.1e}"


def fmt_b(x: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x:.0f} B"


def fmt_d(d: int) -> str:
    return f"{d:.0e}".replace("e+0", "e")


SERVER_MARK = {"real": "", "standin": "‡", "extrapolated": "†"}


def main_table(cells: list[Cell]) -> list[str]:
    lines = [
        "| n | d | dropout | protocol | k, t | client s | server s | client up | client down "
        "| server bytes | survivors | recovered | sum |",
        "|" + "---|" * 13,
    ]
    for c in cells:
        cm, sm = ("*" if c.clients == "sampled" else ""), SERVER_MARK[c.server]
        secure = c.protocol != "plain"
        row = [
            str(c.n), fmt_d(c.d), f"{c.dropout:.0%}", c.protocol,
            f"{c.k}, {c.t}" if secure else "—",
            fmt_s(c.client_seconds) + cm if secure else "—",
            fmt_s(c.server_seconds) + sm,
            fmt_b(c.client_up) + cm,
            fmt_b(c.client_down) + cm if secure else "—",
            fmt_b(c.server_bytes) + sm,
            str(c.survivors),
            f"{c.recovered} ({c.masks_rebuilt} masks)" if secure else "—",
            "✓" if c.checked else "—",
        ]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    return lines


def exponent(ns, ys) -> float:
    return float(np.polyfit(np.log(ns), np.log(ys), 1)[0])


def growth_value(cell: Cell, metric: str) -> tuple[float, str]:
    """Return (value, its mark: "" when measured for real) of one growth-table column."""
    if metric == "clients":
        return cell.client_seconds_total, "*" if cell.clients == "sampled" else ""
    return cell.server_seconds, SERVER_MARK[cell.server]


def growth_table(cells: dict, ns: list[int], d: int) -> list[str]:
    cols = [
        (p, dr, metric)
        for p in PROTOCOLS[1:]
        for dr, metric in [*((dr, "clients") for dr in GROWTH_DROPOUTS), (0.1, "server")]
    ]
    head = [
        f"{p} {'Σ client s' if metric == 'clients' else 'server s'} ({dr:.0%})"
        for p, dr, metric in cols
    ]
    lines = ["| n | " + " | ".join(head) + " | SecAgg+ k, t |", "|" + "---|" * (len(head) + 2)]
    for n in ns:
        values = [growth_value(cells[p, n, d, dr], metric) for p, dr, metric in cols]
        plus = cells["SecAgg+", n, d, 0.1]
        text = [fmt_s(v) + mark for v, mark in values] + [f"{plus.k}, {plus.t}"]
        lines.append(f"| {n} | " + " | ".join(text) + " |")
    table = [[growth_value(cells[p, n, d, dr], metric) for n in ns] for p, dr, metric in cols]
    for label, all_rows in (("measured rows", False), ("all rows", True)):
        fits = []
        for column in table:
            use = [(n, v) for n, (v, mark) in zip(ns, column) if all_rows or not mark]
            fits.append(f"{exponent(*zip(*use)):.2f}" if len(use) > 2 else "—")
        lines.append(f"| exponent, {label} | " + " | ".join(fits) + " | |")
        if not any(mark for column in table for _, mark in column):
            break
    return lines


def client_model(cell: Cell, cost: UnitCosts) -> list[float]:
    """Seconds of one surviving client's X25519, AES-CTR, Shamir and AES-GCM work."""
    k = cell.k
    return [
        2 * k * cost.agree,
        (k + 1) * cost.mask(cell.d),
        cost.share(k + 1, cell.t),
        k * cost.gcm,
    ]


def server_model(cell: Cell, cost: UnitCosts) -> list[float]:
    """Seconds of the server's X25519, AES-CTR and Shamir work."""
    expanded = cell.survivors + cell.masks_rebuilt
    rebuilt = cell.survivors + cell.recovered
    same = cell.k == cell.n - 1  # SecAgg: every secret has the same first t holders
    return [
        cell.masks_rebuilt * cost.agree,
        expanded * cost.mask(cell.d),
        rebuilt * cost.reconstruct(cell.t, same_holders=same),
    ]


def shares_of(parts: list[float], reported: float) -> list[str]:
    return [f"{x / reported:.0%}" for x in parts] + [f"{sum(parts) / reported:.2f}"]


def breakdown_table(cells: dict, ns, ds, cost: UnitCosts) -> list[str]:
    """Where the time goes: unit costs x operation counts, as shares of the reported seconds."""
    lines = [
        "| protocol | n | d | client: X25519 | AES-CTR | Shamir | AES-GCM | model/reported "
        f"| server ({max(DROPOUTS):.0%}): X25519 | AES-CTR | Shamir | model/reported |",
        "|" + "---|" * 12,
    ]
    for p, n, d in [(p, n, d) for p in PROTOCOLS[1:] for n in ns for d in ds]:
        quiet, lossy = cells[p, n, d, 0.0], cells[p, n, d, max(DROPOUTS)]
        row = [p, str(n), fmt_d(d), *shares_of(client_model(quiet, cost), quiet.client_seconds)]
        row += shares_of(server_model(lossy, cost), lossy.server_seconds)
        lines.append("| " + " | ".join(row) + " |")
    return lines


def unit_line(cost: UnitCosts, cells: dict, ds) -> str:
    masks = ", ".join(f"{cost.mask(d) / (d + 1) * 1e9:.2f} ns/word at d={fmt_d(d)}" for d in ds)
    kts = sorted({(c.k, c.t) for c in cells.values() if c.k is not None}, key=lambda kt: -kt[0])
    shamir_costs = ", ".join(
        f"{cost.share(k + 1, t) * 1e3:.2f} ms to share among {k + 1} (t={t}) and "
        f"{cost.reconstruct(t) * 1e3:.2f} ms to rebuild from new holders "
        f"({cost.reconstruct(t, same_holders=True) * 1e3:.2f} ms with cached Lagrange weights)"
        for k, t in (kts[0], kts[-1])
    )
    return (
        f"Unit costs (medians, this run): X25519 agreement + HKDF {cost.agree * 1e6:.0f} µs; "
        f"AES-GCM encrypt + decrypt of one share message {cost.gcm * 1e6:.1f} µs; AES-CTR "
        f"mask expansion + add {masks}; Shamir (two 32-byte secrets): {shamir_costs}."
    )


def footnotes(sample: int, budget: float) -> list[str]:
    small = fmt_d(SMALL_D)
    return [
        "Client columns are means over the surviving clients (those that ran all four "
        "phases: key agreement, Shamir sharing, masking, unmasking), from `ClientSession.stats`. "
        "Bytes are aggregation traffic only (the model download, the same for all three, is "
        "left out): a plain client uploads 4d bytes of float32. Server bytes count both "
        "directions (keys, shares, masked vectors, unmasking shares). *recovered*: dropped "
        "clients whose masking key the server rebuilt, and the pairwise masks it re-expanded. "
        "Plain server s: best of 3 float32 sums of the survivors' vectors.",
        "",
        f"Cells without a mark ran the whole protocol for real (predicted cost within {budget:g} "
        "s); *sum ✓*: the unmasked sum equalled the plain sum of the quantized inputs mod 2^32, "
        "checked in every real run (the script stops otherwise).",
        "",
        f"\\* Extrapolated from a sample: {sample} surviving clients drawn at random ran all four "
        "phases for real (`ClientSession`, genuine X25519 keys of all k neighbours, share "
        "messages encrypted under the genuine channel keys, quantized inputs of length d); the "
        "cell is their mean. A client's traffic does not depend on which client it is, so "
        "the byte columns are exact. Σ client s = survivors × the sample's mean + dropped × "
        "the sample's mean seconds up to the end of sharing.",
        "",
        "‡ Server measured, but on stand-in messages at full d: every client's genuine public "
        "keys, ciphertexts of the real size, random masked vectors, and Shamir shares of "
        "constant polynomials (interpolating them costs the same and yields the genuine "
        "secrets, so the server really rebuilds each dropped client's masking key and "
        "re-expands all its pairwise masks). The resulting sum is meaningless and not checked.",
        "",
        f"† Extrapolated server: as ‡ but at d' = {small}, plus (survivors + masks rebuilt) × "
        "[seconds to expand and add one AES-CTR mask of d + 1 words - of d' + 1 words] + "
        "survivors × [seconds to check and add one masked vector of d + 1 words - of d' + 1], "
        "both measured in this run (unit costs below); bytes add survivors × (d - d') × 4.",
    ]


def run_all(args, sizes: dict, cost: UnitCosts) -> dict:
    cells = {}

    def get(p, n, d, dr, budget):
        if (p, n, d, dr) not in cells:
            print(f"  {p} n={n} d={fmt_d(d)} dropout={dr:.0%} ...", file=sys.stderr, flush=True)
            cell = measure(
                p, n, d, dr, seed=args.seed, budget=budget, sample=args.sample, cost=cost
            )
            print(f"    {cell.clients}/{cell.server}, {cell.wall_seconds:.1f} s", file=sys.stderr)
            cells[p, n, d, dr] = cell
        return cells[p, n, d, dr]

    for n in sizes["n"]:
        for d in sizes["d"]:
            for dr in DROPOUTS:
                for p in PROTOCOLS:
                    get(p, n, d, dr, args.budget)
    for n in sizes["growth"]:
        for p in PROTOCOLS[1:]:
            for dr in GROWTH_DROPOUTS:
                get(p, n, sizes["growth_d"], dr, args.growth_budget)
    return cells


def growth_note(cells: dict, ns: list[int], d: int, budget: float) -> str:
    n_log_n = exponent(ns, [n * np.log(n) for n in ns])
    n_k = exponent(ns, [n * cells["SecAgg+", n, d, 0.1].k for n in ns])
    return (
        f"Σ client s: all n clients together (dropped ones up to sharing); rows within {budget:g} "
        "s predicted ran for real. Exponent: least-squares slope of log seconds on log n. For "
        f"reference over this range of n: n^2 has exponent 2, n log n {n_log_n:.2f}, and n × "
        "SecAgg+'s k (which `choose_parameters` raises with n, as its union bound over n "
        f"clients tightens) {n_k:.2f}."
    )


def report(args, sizes: dict, cells: dict, cost: UnitCosts, wall: float, load) -> str:
    ns, ds = sizes["n"], sizes["d"]
    growth_d = sizes["growth_d"]
    listed = [cells[p, n, d, dr] for n in ns for d in ds for dr in DROPOUTS for p in PROTOCOLS]
    lines = [
        f"### Secure aggregation: seconds and bytes (modulus 2^{M_BITS}, {Q_BITS}-bit "
        "quantization, dropouts at the masked-input stage)",
        "",
        *main_table(listed),
        "",
        *footnotes(args.sample, args.budget),
        "",
        f"### Growth in n at d = {fmt_d(growth_d)}",
        "",
        *growth_table(cells, sizes["growth"], growth_d),
        "",
        growth_note(cells, sizes["growth"], growth_d, args.growth_budget),
        "",
        "### Where the time goes",
        "",
        *breakdown_table(cells, ns, ds, cost),
        "",
        "Operation counts times unit costs, as shares of the seconds reported above: one "
        "surviving client at dropout 0 (2k X25519 agreements, k + 1 AES-CTR masks, one Shamir "
        "sharing among k + 1, k AES-GCM share messages each way) and the server at 30% dropout "
        "(an agreement and a mask per rebuilt pairwise mask, a mask per survivor, a "
        "reconstruction per survivor and per recovered client, with Lagrange weights cached for "
        "SecAgg, whose secrets all have the same first t holders). model/reported near 1 means "
        "these operations account for the time.",
        "",
        unit_line(cost, cells, ds),
        "",
        f"`python benchmarks/secagg.py{' --quick' if args.quick else ''}`: {wall / 60:.1f} min "
        f"wall; {os.cpu_count()} CPUs; 1-minute load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after (above 0 means other work shared the CPUs).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--out", type=Path, help="also write FILE.md and FILE.json")
    parser.add_argument("--budget", type=float, help="seconds a real run may take (predicted)")
    parser.add_argument("--growth-budget", type=float, help="the same for the growth table")
    parser.add_argument("--sample", type=int, default=12, help="clients run in sampled cells")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.budget is None:
        args.budget = 0.5 if args.quick else 25.0
    if args.growth_budget is None:
        args.growth_budget = 1.0 if args.quick else 90.0
    load_before, start = os.getloadavg()[0], time.perf_counter()
    cost = UnitCosts(np.random.default_rng(args.seed))
    cells = run_all(args, sizes, cost)
    wall = time.perf_counter() - start
    text = report(args, sizes, cells, cost, wall, (load_before, os.getloadavg()[0]))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        raw = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "sizes": sizes,
            "wall_seconds": wall,
            "unit_costs": cost.as_dict(),
            "cells": [dataclasses.asdict(c) for c in cells.values()],
        }
        args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
