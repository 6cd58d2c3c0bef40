"""SecAgg+'s sparse communication graph and the choice of its degree k and threshold t.

Bell, Bonawitz, Gascon, Lepoint and Raykova, "Secure single-server aggregation with
(poly)logarithmic overhead", CCS 2020: instead of every pair of clients (Bonawitz et al.,
CCS 2017), each client masks with and shares its secrets among only k random neighbours.
The graph is a Harary graph H_{k,n} on a random ordering of the clients: a ring on which
each client is joined to the k/2 nearest on either side. With k >= n - 1 it is complete,
which is plain SecAgg.
"""

from __future__ import annotations

import numpy as np


def neighbour_graph(ids: np.ndarray, k: int, rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Return each client's neighbours in a random k-regular Harary graph.

    Args:
        ids: (n,) distinct client ids.
        k: degree; even when k < n - 1 (a ring joins k/2 on each side); k >= n - 1 gives the
            complete graph.
        rng: shuffles the ring.

    Returns:
        client id -> sorted int64 array of its neighbours (never itself); v is in u's array
        iff u is in v's.
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    if len(np.unique(ids)) != n:
        raise ValueError(
            f"client ids must be distinct; got {n} ids, {len(np.unique(ids))} distinct"
        )
    if k >= n - 1:
        return {int(u): np.delete(np.sort(ids), i) for i, u in enumerate(np.sort(ids))}
    if k < 2 or k % 2:
        raise ValueError(
            f"a Harary graph on {n} clients needs an even degree k >= 2 below n - 1; got k={k}: "
            f"use k={max(2, k + k % 2)} (or k >= {n - 1} for the complete graph)"
        )
    ring = rng.permutation(ids)
    half = np.arange(1, k // 2 + 1)
    positions = (np.arange(n)[:, None] + np.concatenate([half, -half])[None, :]) % n
    neighbours = np.sort(ring[positions], axis=1)
    return {int(u): row for u, row in zip(ring, neighbours)}


def _tail_probabilities(n: int, k: int, bad: int) -> np.ndarray:
    """P[X >= j] for j = 0..k+1, X = bad nodes among k neighbours drawn from the n - 1 others."""
    # scipy.stats costs most of a second to import; only SecAgg+ runs ever get here.
    from scipy.stats import hypergeom

    return hypergeom(n - 1, bad, k).sf(np.arange(-1, k + 1))


def choose_parameters(
    n: int,
    *,
    corrupt: float = 1 / 3,
    dropout: float = 1 / 3,
    sigma: float = 40,
    eta: float = 30,
) -> tuple[int, int]:
    """Return the smallest even degree k and a threshold t that keep SecAgg+ safe and live.

    A client's k neighbours are a uniform k-subset of the other n - 1 clients, of which at
    most floor(corrupt n) are corrupt and floor(dropout n) drop out, so the corrupt and the
    dropped among its neighbours are hypergeometric. Union-bounded over the n clients:
    security asks P[some client has >= t corrupt neighbours] <= 2^-sigma (else they could
    pool t shares of its secrets) and t is the smallest threshold achieving it; liveness asks
    P[some client has < t surviving neighbours] <= 2^-eta (else its secret is lost and the
    round aborts). k is the smallest even degree below n - 1 meeting both; if none does, the
    complete graph (n - 1, floor(corrupt n) + 1) is returned, whose liveness then depends on
    fewer than n - t clients dropping.

    Bell et al. (CCS 2020) report k = 286, t = 150 for n = 1000 at 1/3 corrupt and 1/3
    dropout; this function gives k = 318, t = 163. The gap is the liveness bound: at (286,
    150) one given client keeps fewer than t surviving neighbours with probability 2^-30.2,
    i.e. their eta = 30 holds per client, but union-bounded over the 1000 clients, as here,
    it is only 2^-20.2. Bounding liveness per client instead gives (290, 152) (their
    security margin at (286, 150), union-bounded, is 2^-39.6, a hair short of 2^-40).

    Args:
        n: clients in the protocol instance.
        corrupt: fraction of clients assumed to collude with the server.
        dropout: fraction of clients assumed to drop out before the end.
        sigma: security parameter (bits).
        eta: correctness (liveness) parameter (bits).

    Returns:
        (k, t).
    """
    if n < 2 or not (0 <= corrupt < 1 and 0 <= dropout < 1):
        raise ValueError(
            f"need n >= 2 and corrupt, dropout in [0, 1); got n={n}, corrupt={corrupt}, "
            f"dropout={dropout}"
        )
    n_corrupt, n_dropped = int(corrupt * n), int(dropout * n)

    def threshold(k: int) -> int | None:
        """t for degree k, or None when no t keeps it both safe and live."""
        # unsafe[t] = P[>= t corrupt neighbours]; lost[t] = P[< t survive] = P[> k - t dropped]
        unsafe = _tail_probabilities(n, k, min(n_corrupt, n - 1))
        t = int(np.argmax(n * unsafe <= 2.0**-sigma))
        lost = _tail_probabilities(n, k, min(n_dropped, n - 1))[k - t + 1]
        return t if n * lost <= 2.0**-eta else None

    # More neighbours only concentrate both counts, so feasibility rises with k: double the
    # degree until it is feasible, then bisect over the even degrees below (about 2 log2 k
    # tail evaluations, all at degrees near the answer, instead of one per even degree; a
    # test checks the result against that scan).
    top = (n - 2) // 2  # even degrees 2, 4, ..., 2 * top lie below n - 1; index i -> 2 i
    lo, hi = 0, 1
    while hi < top and threshold(2 * hi) is None:
        lo, hi = hi, min(2 * hi, top)
    if hi < 1 or threshold(2 * hi) is None:
        return n - 1, min(n_corrupt, n - 1) + 1
    while hi - lo > 1:  # degree 2 lo is infeasible (or lo = 0), degree 2 hi is feasible
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if threshold(2 * mid) is not None else (mid, hi)
    return 2 * hi, threshold(2 * hi)


SECURITY_BITS = 40  # sigma: the security target choose_parameters meets, 2^-40


def insecurity(n: int, k: int, t: int, corrupt: float) -> float:
    """Union-bounded probability that some client of `n` has t or more corrupt neighbours.

    Such a client's shares can be pooled by the corrupt clients (with the server) into one
    of its secrets; `choose_parameters` keeps this below 2^-sigma. k >= n - 1 is the complete
    graph (SecAgg), where every client neighbours all floor(corrupt n) corrupt ones.

    Args:
        n: clients in the protocol instance; k: degree; t: threshold;
        corrupt: assumed fraction of clients that collude with the server.

    Returns:
        min(1, n P[X >= t]), X hypergeometric (k draws from n - 1 holding floor(corrupt n)).
    """
    return min(1.0, n * exposure(n, k, t, corrupt))


def exposure(n: int, k: int, t: int, corrupt: float) -> float:
    """P[one given client has t or more corrupt neighbours] (see `insecurity`)."""
    k = min(k, n - 1)
    if t > k + 1:
        return 0.0
    return float(_tail_probabilities(n, k, min(int(corrupt * n), n - 1))[t])


def secure_threshold(n: int, k: int, corrupt: float, sigma: float = SECURITY_BITS) -> int:
    """The smallest t for which `insecurity(n, k, t, corrupt)` <= 2^-sigma (may exceed k + 1)."""
    k = min(k, n - 1)
    tails = n * _tail_probabilities(n, k, min(int(corrupt * n), n - 1))
    return int(np.argmax(tails <= 2.0**-sigma)) if (tails <= 2.0**-sigma).any() else k + 2
