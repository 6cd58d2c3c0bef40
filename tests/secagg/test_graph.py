"""SecAgg+'s Harary graph and the choice of (k, t)."""

import numpy as np
import pytest
from scipy.stats import hypergeom

from fedray.secagg.graph import choose_parameters, neighbour_graph


@pytest.mark.parametrize("n, k", [(5, 2), (10, 4), (11, 8), (100, 20), (301, 100)])
def test_graph_is_k_regular_symmetric_sorted_and_loop_free(n, k):
    ids = np.random.default_rng(n).choice(10_000, n, replace=False)

    graph = neighbour_graph(ids, k, np.random.default_rng(0))

    assert sorted(graph) == sorted(ids.tolist())
    for u, row in graph.items():
        assert len(row) == k and len(set(row.tolist())) == k and u not in row
        assert np.all(np.diff(row) > 0)
        assert all(u in graph[int(v)] for v in row)


@pytest.mark.parametrize("k", [9, 10, 1000])
def test_degree_n_minus_one_or_more_gives_the_complete_graph(k):
    ids = np.arange(3, 13)

    graph = neighbour_graph(ids, k, np.random.default_rng(0))

    for u, row in graph.items():
        assert row.tolist() == [v for v in ids.tolist() if v != u]


def test_same_rng_same_graph_other_rng_other_graph():
    ids = np.arange(50)

    first = neighbour_graph(ids, 6, np.random.default_rng(1))
    second = neighbour_graph(ids, 6, np.random.default_rng(1))
    other = neighbour_graph(ids, 6, np.random.default_rng(2))

    assert all(np.array_equal(first[u], second[u]) for u in first)
    assert any(not np.array_equal(first[u], other[u]) for u in first)


def test_odd_degree_below_n_minus_one_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="use k=6"):
        neighbour_graph(np.arange(20), 5, np.random.default_rng(0))


def bounds(n, k, t, corrupt=1 / 3, dropout=1 / 3):
    """log2 of the union-bounded failure probabilities (security, liveness) at (k, t)."""
    unsafe = hypergeom(n - 1, int(corrupt * n), k).sf(t - 1)
    lost = hypergeom(n - 1, int(dropout * n), k).sf(k - t)
    return np.log2(n * unsafe), np.log2(n * lost)


def test_bell_et_al_population_gives_the_smallest_safe_even_degree():
    k, t = choose_parameters(1000)

    assert (k, t) == (318, 163)
    security, liveness = bounds(1000, k, t)
    assert security <= -40 and liveness <= -30
    assert bounds(1000, k, t - 1)[0] > -40  # t is the smallest secure threshold
    smaller = [tt for tt in range(1, k - 1) if bounds(1000, k - 2, tt)[0] <= -40]
    assert bounds(1000, k - 2, min(smaller))[1] > -30  # and k - 2 is not live at any secure t


def test_more_dropout_never_asks_for_fewer_neighbours():
    ks = [choose_parameters(500, dropout=d)[0] for d in (0.0, 0.1, 0.2, 0.3, 0.4)]

    assert ks == sorted(ks) and ks[0] < ks[-1]


def test_more_corruption_never_lowers_the_threshold():
    ts = [choose_parameters(500, corrupt=c)[1] for c in (0.0, 0.1, 0.2, 0.3)]

    assert ts == sorted(ts) and ts[0] < ts[-1]


@pytest.mark.parametrize("n", [2, 3, 6])
def test_small_populations_fall_back_to_the_complete_graph(n):
    assert choose_parameters(n, dropout=0.5) == (n - 1, n // 3 + 1)


def scan(n, corrupt, dropout, sigma=40, eta=30):
    """choose_parameters by its definition: the first even degree that is safe and live."""
    n_corrupt, n_dropped = int(corrupt * n), int(dropout * n)
    for k in range(2, n - 1, 2):
        unsafe = hypergeom(n - 1, min(n_corrupt, n - 1), k).sf(np.arange(-1, k + 1))
        t = int(np.argmax(n * unsafe <= 2.0**-sigma))
        lost = hypergeom(n - 1, min(n_dropped, n - 1), k).sf(np.arange(-1, k + 1))[k - t + 1]
        if n * lost <= 2.0**-eta:
            return k, t
    return n - 1, min(n_corrupt, n - 1) + 1


@pytest.mark.parametrize("corrupt, dropout", [(1 / 3, 1 / 3), (0.1, 0.05), (0.45, 0.1)])
@pytest.mark.parametrize("n", [3, 4, 9, 40, 101, 250, 400])
def test_the_search_finds_what_the_scan_over_every_degree_finds(n, corrupt, dropout):
    assert choose_parameters(n, corrupt=corrupt, dropout=dropout) == scan(n, corrupt, dropout)


def test_exposure_of_the_old_digits_parameters_matches_the_hypergeometric_tail():
    # 30 clients, 10 corrupt: a client's 14 neighbours hold 6+ corrupt w.p. ~0.30 (issue 15)
    from fedray.secagg.graph import exposure, insecurity

    assert exposure(30, 14, 6, 1 / 3) == pytest.approx(hypergeom(29, 10, 14).sf(5))
    assert exposure(30, 14, 6, 1 / 3) == pytest.approx(0.30, abs=0.005)
    assert insecurity(30, 14, 6, 1 / 3) == 1.0  # union bound over 30 clients, capped


@pytest.mark.parametrize("n", [30, 100, 1000])
def test_chosen_parameters_meet_the_security_target_and_one_less_does_not(n):
    from fedray.secagg.graph import insecurity, secure_threshold

    k, t = choose_parameters(n)

    assert insecurity(n, k, t, 1 / 3) <= 2.0**-40 < insecurity(n, k, t - 1, 1 / 3)
    assert secure_threshold(n, k, 1 / 3) == t


def test_complete_graph_is_safe_exactly_above_the_corrupt_count():
    from fedray.secagg.graph import insecurity

    # 12 clients, 4 corrupt, everyone neighbours everyone: 4 shares are pooled for sure
    assert insecurity(12, 11, 5, 1 / 3) == 0.0 and insecurity(12, 11, 4, 1 / 3) == 1.0
