"""FedProx Synthetic(alpha, beta): a client's data is a pure function of (seed, client id)."""

import numpy as np
import pytest

from fedray.data.federation import SyntheticFederation
from fedray.data.synthetic import SyntheticParams, client_data, client_sizes

SMALL = SyntheticParams(
    dim=12,
    num_classes=5,
    min_samples=5,
    mean_log=3.0,
    sigma_log=1.5,
    max_samples=60,
    test_clients=4,
)


@pytest.mark.parametrize("client_id", [0, 1, 17, 999_999])
def test_regenerating_a_client_gives_bitwise_equal_arrays(client_id):
    x1, y1 = client_data(SMALL, 7, client_id)
    x2, y2 = client_data(SMALL, 7, client_id)

    assert x1.tobytes() == x2.tobytes()
    assert y1.tobytes() == y2.tobytes()


def test_clients_and_seeds_give_different_data():
    x, _ = client_data(SMALL, 7, 3)

    assert not np.array_equal(client_data(SMALL, 7, 4)[0][:5], x[:5])
    assert not np.array_equal(client_data(SMALL, 8, 3)[0][:5], x[:5])


def test_generating_clients_out_of_order_changes_nothing():
    # No shared stream: asking for client 5 first must not shift client 2's draws.
    forward = [client_data(SMALL, 1, c)[0] for c in (2, 5)]
    backward = [client_data(SMALL, 1, c)[0] for c in (5, 2)][::-1]

    assert all(a.tobytes() == b.tobytes() for a, b in zip(forward, backward, strict=True))


@pytest.mark.parametrize("client_id", [0, 3, 42])
def test_shapes_dtypes_and_label_range(client_id):
    x, y = client_data(SMALL, 2, client_id)

    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.shape == (len(y), SMALL.dim)
    assert y.min() >= 0 and y.max() < SMALL.num_classes


def test_sizes_stay_within_min_and_max_and_match_the_data():
    ids = np.arange(200)

    sizes = client_sizes(SMALL, 4, ids)

    assert sizes.min() >= SMALL.min_samples and sizes.max() <= SMALL.max_samples
    assert len(np.unique(sizes)) > 1
    generated = [len(client_data(SMALL, 4, int(c))[1]) for c in ids[:20]]
    assert generated == sizes[:20].tolist()


def test_sizes_of_a_batch_equal_sizes_one_by_one():
    ids = np.array([9, 2, 500])

    batch = client_sizes(SMALL, 0, ids)

    assert [int(client_sizes(SMALL, 0, np.array([c]))[0]) for c in ids] == batch.tolist()


def test_input_covariance_is_diagonal_j_to_the_minus_1_2():
    # FedProx section 5.1: x ~ N(v_k, Sigma), Sigma_jj = j^-1.2, one v_k per client.
    params = SyntheticParams(dim=6, min_samples=4000, max_samples=4000)

    x, y = client_data(params, 0, 0)

    expected = np.arange(1, 7, dtype=np.float64) ** -1.2
    assert len(y) == 4000
    assert np.allclose(x.astype(np.float64).var(axis=0), expected, rtol=0.1)


def test_federation_sizes_equal_training_lengths():
    fed = SyntheticFederation(SMALL, num_clients=1000, local_test_fraction=0.25, seed=3)
    ids = np.array([0, 1, 77, 999])

    sizes = fed.sizes(ids)

    assert sizes.tolist() == [len(fed.client(int(c)).y_train) for c in ids]


def test_federation_local_split_partitions_the_clients_data():
    fed = SyntheticFederation(SMALL, num_clients=10, local_test_fraction=0.25, seed=3)
    x, _ = client_data(SMALL, 3, 6)

    part = fed.client(6)

    rows = {r.tobytes() for r in x}
    train, test = {r.tobytes() for r in part.x_train}, {r.tobytes() for r in part.x_test}
    assert train | test == rows and not train & test
    assert len(part.y_test) == int(len(x) * 0.25)


def test_federation_central_test_pools_the_first_test_clients():
    fed = SyntheticFederation(SMALL, num_clients=10, local_test_fraction=0.25, seed=3)

    x, y = fed.central_test()

    expected = np.concatenate([fed.client(c).y_test for c in range(SMALL.test_clients)])
    assert np.array_equal(y, expected)
    assert x.shape == (len(expected), SMALL.dim)


def test_sizes_follow_the_power_law_min_plus_lognormal():
    params = SyntheticParams(min_samples=50, mean_log=4.0, sigma_log=2.0, max_samples=10**12)

    logs = np.log(client_sizes(params, 0, np.arange(20_000)) - params.min_samples + 0.5)

    # int() floors the draw: +0.5 recentres it; the fit is loose for draws near 0.
    assert abs(np.median(logs) - 4.0) < 0.05
    assert abs(np.percentile(logs, 84) - np.percentile(logs, 16) - 2 * 2.0) < 0.15


def test_a_client_is_the_same_with_its_size_known_or_drawn():
    fed = SyntheticFederation(SMALL, num_clients=10**6, local_test_fraction=0.25, seed=3)
    alone = [fed.client(c) for c in (5, 999_999)]

    fed.sizes(np.array([999_999, 5, 8]))  # a worker asks for its share's sizes first
    known = [fed.client(c) for c in (5, 999_999)]

    for a, b in zip(alone, known, strict=True):
        assert (
            a.x_train.tobytes() == b.x_train.tobytes() and a.y_test.tobytes() == b.y_test.tobytes()
        )


def test_the_local_hold_out_is_the_fraction_floored():
    fed = SyntheticFederation(SMALL, num_clients=100, local_test_fraction=0.25, seed=3)
    for c in range(10):
        d = fed.client(c)
        total = len(d.y_train) + len(d.y_test)
        assert len(d.y_test) == int(total * 0.25)


def test_a_cap_near_the_int64_limit_is_kept_exactly():
    huge = SyntheticParams(min_samples=5, mean_log=1000.0, sigma_log=0.1, max_samples=2**63 - 1)
    near = SyntheticParams(min_samples=5, mean_log=1000.0, sigma_log=0.1, max_samples=2**53 + 1)

    assert client_sizes(huge, 0, np.arange(3)).tolist() == [2**63 - 1] * 3
    assert client_sizes(near, 0, np.arange(3)).tolist() == [2**53 + 1] * 3
