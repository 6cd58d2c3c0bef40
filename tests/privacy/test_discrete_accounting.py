"""The integer mechanisms' RDP ledger: closed forms, limits, and Opacus as a reference."""

import math

import numpy as np
import pytest

from fedray.privacy import discrete_accounting as acc
from fedray.privacy.accounting import epsilon as opacus_epsilon


def test_poisson_subsampling_at_rate_one_changes_nothing_and_at_zero_costs_nothing():
    curve = acc.gaussian_rdp(1.3)

    assert np.array_equal(acc.subsampled(curve, 1.0), curve)
    assert not acc.subsampled(curve, 0.0).any()


@pytest.mark.parametrize(
    "z, q, steps, looser", [(1.0, 0.01, 1000, 1.2), (0.8, 0.05, 200, 1.3), (2.0, 0.3, 50, 1.7)]
)
def test_zhu_wang_bound_on_the_gaussian_is_valid_and_close_to_opacus_exact_analysis(
    z, q, steps, looser
):
    # Opacus' sampled-Gaussian RDP (Mironov et al. 2019) is exact for the Gaussian; the general
    # Poisson bound (Zhu and Wang 2019) may only be looser: a little at small q, more at large q
    # (its factor 3 on the higher terms).
    ours = acc.epsilon(acc.subsampled(acc.gaussian_rdp(z), q) * steps, 1e-5)
    reference = opacus_epsilon([(z, q, steps)], delta=1e-5)

    assert reference * 0.98 <= ours <= reference * looser


def test_rdp_to_dp_conversion_of_one_gaussian_matches_the_formula_at_its_best_order():
    # z = 1, one release: eps(alpha) = alpha/2 + log(1 - 1/alpha) - (log delta + log alpha)/(alpha-1)
    delta = 1e-5
    by_hand = min(
        a / 2 + math.log((a - 1) / a) - (math.log(delta) + math.log(a)) / (a - 1)
        for a in range(2, 257)
    )

    assert acc.epsilon(acc.gaussian_rdp(1.0), delta) == pytest.approx(by_hand)


def test_ddg_tau_is_the_papers_sum():
    # n = 2: tau = 10 exp(-2 pi^2 sigma^2 / 2); n = 3 adds the k = 2 term, exp(-2 pi^2 sigma^2 2/3)
    assert acc.ddg_tau(2, 0.5) == pytest.approx(10 * math.exp(-(math.pi**2) / 4))
    s2 = 0.36
    three = 10 * (math.exp(-(math.pi**2) * s2) + math.exp(-4 * math.pi**2 * s2 / 3))
    assert acc.ddg_tau(3, 0.6) == pytest.approx(three)
    assert acc.ddg_tau(1, 0.5) == 0.0


def test_ddg_with_wide_shares_is_the_continuous_gaussian_and_small_shares_cost_more():
    # sigma = 4 per client: tau ~ 10 n exp(-pi^2 16) ~ 1e-67, so eps = Delta / (sqrt(n) sigma)
    eps = acc.ddg_epsilon(sensitivity=30.0, sigma=4.0, clients=25, dim=1024)
    assert eps == pytest.approx(30 / (5 * 4.0))
    wide = acc.ddg_rdp(sensitivity=30.0, sigma=4.0, clients=25, dim=1024)
    assert np.allclose(wide, acc.gaussian_rdp(5 * 4.0 / 30))
    # sigma = 0.5 per client: the sum is far from a discrete Gaussian, and tau d dominates
    narrow = acc.ddg_epsilon(sensitivity=3.75, sigma=0.5, clients=25, dim=1024)
    assert narrow > 2 * 3.75 / (5 * 0.5)


def test_skellam_tends_to_the_gaussian_of_the_same_variance_and_is_never_cheaper():
    for mu in (1e2, 1e4, 1e6):
        sk = acc.skellam_rdp(l2=10.0, l1=100.0, variance=mu)
        gauss = acc.gaussian_rdp(math.sqrt(mu) / 10.0)
        assert (sk >= gauss).all()
    assert np.allclose(sk, gauss, rtol=1e-3)  # mu = 1e6: the min(...) term is ~1e-4 of the first


def test_skellam_closed_form_at_order_two():
    # alpha = 2, Delta2 = 2, Delta1 = 3, mu = 10: 2*4/20 + min((3*4 + 18)/400, 9/20) = 0.4 + 0.075
    assert acc.skellam_rdp(l2=2.0, l1=3.0, variance=10.0)[0] == pytest.approx(0.475)


def test_no_noise_is_infinite_epsilon():
    curve = acc.ddg_rdp(sensitivity=1.0, sigma=0.0, clients=5, dim=4)
    assert acc.epsilon(acc.subsampled(curve, 0.2), 1e-5) == math.inf
