"""Models: the flat-vector boundary and the logits contract every builder must keep."""

import numpy as np
import pytest
import torch

from fedray.models import (
    CNN1DParams,
    CNNParams,
    MLPParams,
    build_model,
    flatten,
    num_params,
    unflatten,
)
from fedray.registry import NoParams

BUILDERS = [
    ("logreg", NoParams()),
    ("mlp", MLPParams(hidden=(16, 8))),
    ("cnn", CNNParams(channels=(4, 6), hidden=12)),
]


@pytest.mark.parametrize("name, params", BUILDERS)
def test_flatten_unflatten_round_trip_is_bitwise(name, params):
    source = build_model(name, params, (64,), 10)
    target = build_model(name, params, (64,), 10)
    vector = np.random.default_rng(0).standard_normal(num_params(source)).astype(np.float32)
    unflatten(source, vector)

    unflatten(target, flatten(source))

    assert flatten(source).tobytes() == vector.tobytes()
    assert flatten(target).tobytes() == vector.tobytes()
    x = torch.from_numpy(np.random.default_rng(1).random((3, 64), dtype=np.float32))
    with torch.no_grad():
        assert torch.equal(source(x), target(x))


def test_flatten_is_float32_of_length_num_params():
    model = build_model("mlp", MLPParams(hidden=(5,)), (7,), 3)

    vector = flatten(model)

    assert vector.dtype == np.float32
    assert vector.shape == (num_params(model),) == ((7 * 5 + 5) + (5 * 3 + 3),)


def test_unflatten_accepts_a_read_only_vector_and_does_not_alias_it():
    model = build_model("logreg", NoParams(), (4,), 2)
    vector = np.arange(num_params(model), dtype=np.float32)
    vector.setflags(write=False)  # as a vector fetched from Ray's object store

    unflatten(model, vector)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)

    assert np.array_equal(vector, np.arange(num_params(model), dtype=np.float32))


@pytest.mark.parametrize("name, params", BUILDERS)
@pytest.mark.parametrize("input_shape", [(64,), (8, 8), (1, 8, 8)])
@pytest.mark.parametrize("batch", [1, 5])
def test_builders_map_a_batch_to_one_logit_per_class(name, params, input_shape, batch):
    model = build_model(name, params, input_shape, 10)

    out = model(torch.zeros((batch, *input_shape)))

    assert tuple(out.shape) == (batch, 10)


def test_cnn_keeps_multichannel_images():
    model = build_model("cnn", CNNParams(channels=(4,), hidden=8), (3, 6, 6), 4)

    assert tuple(model(torch.zeros((2, 3, 6, 6))).shape) == (2, 4)


def test_cnn_refuses_a_flat_input_that_is_not_square():
    with pytest.raises(ValueError, match="not a square"):
        build_model("cnn", CNNParams(), (60,), 10)


def test_user_model_gets_its_params_as_keywords():
    model = build_model("tests.plugins:small_mlp", {"hidden": 3}, (6,), 4)

    assert num_params(model) == (6 * 3 + 3) + (3 * 4 + 4)


def test_user_model_with_the_wrong_output_width_names_the_expected_shape():
    with pytest.raises(ValueError) as info:
        build_model("tests.plugins:wrong_width", {}, (64,), 10)

    message = str(info.value)
    assert "(2, 11)" in message  # what it produced
    assert "expected (2, 10)" in message  # what the dataset needs


def test_user_model_that_is_not_a_module_is_refused():
    with pytest.raises(ValueError, match="not a torch.nn.Module"):
        build_model("tests.plugins:not_a_module", {}, (64,), 10)


def test_unknown_model_name_lists_the_registered_ones():
    with pytest.raises(KeyError, match="cnn, cnn1d, logreg, mlp"):
        build_model("mpl", NoParams(), (64,), 10)


@pytest.mark.parametrize("input_shape", [(40,), (1, 40), (3, 17)])
def test_cnn1d_maps_sequences_to_logits(input_shape):
    model = build_model("cnn1d", CNN1DParams(), input_shape, 10)

    assert tuple(model(torch.zeros((4, *input_shape))).shape) == (4, 10)


def test_cnn1d_default_is_the_mnist1d_paper_s_size():
    # Three convolutions of 25 channels, stride 2: 40 -> 19 -> 10 -> 5 points, then 125 -> 10.
    model = build_model("cnn1d", CNN1DParams(), (40,), 10)

    expected = (1 * 5 + 1) * 25 + (25 * 3 + 1) * 25 * 2 + (125 + 1) * 10
    assert num_params(model) == expected


@pytest.mark.parametrize(
    "params, shape, fragment",
    [
        (CNN1DParams(), (8, 8, 8), "needs sequences"),
        (CNN1DParams(channels=(4, 4), kernels=(3,)), (40,), "one kernel size per convolution"),
        (CNN1DParams(channels=(4,) * 6, kernels=(5,) * 6), (40,), "leave no points"),
    ],
)
def test_cnn1d_refuses_what_it_cannot_build(params, shape, fragment):
    with pytest.raises(ValueError, match=fragment):
        build_model("cnn1d", params, shape, 10)
