"""What the server sends clients besides the parameters: SCAFFOLD's variate c only when the
strategy uses control variates (otherwise d zeros a round for nothing), Neurotoxin's mask only
when it attacks."""

import numpy as np

from fedray.scenario import load_scenario
from fedray.scenario.convert import to_plain
from fedray.server.aggregator import Aggregator
from fedray.server.state import ServerState
from tests.factories import tiny


def _message(**overrides) -> dict:
    plain = to_plain(load_scenario(tiny(**overrides)))
    return Aggregator(plain, ServerState(0, np.zeros(4810, np.float32))).server_message()


def test_fedavg_sends_nothing_beside_the_parameters():
    assert _message() == {}


def test_scaffold_sends_its_server_variate_zero_at_first():
    message = _message(strategy={"name": "scaffold"})

    assert set(message) == {"c"}
    assert message["c"].shape == (4810,) and not message["c"].any()
