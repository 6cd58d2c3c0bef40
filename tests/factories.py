"""Scenario dicts shared by the end-to-end tests."""


def tiny(**overrides) -> dict:
    """A digits scenario small enough to run in a second or two."""
    scenario = {
        "name": "tiny",
        "seed": 3,
        "rounds": 3,
        "federation": {"population": 20, "clients_per_round": 6},
        "data": {"dataset": "digits", "partition": {"type": "dirichlet", "alpha": 0.5}},
        "model": {"type": "logreg"},
        "client": {"epochs": 1, "batch_size": 16, "lr": 0.1},
        "evaluation": {"every": 1, "federated_every": 2, "federated_clients": 5},
        "output": {"checkpoint_every": 2},
        "resources": {"num_cpus": 1},
    }
    for path, value in overrides.items():
        node = scenario
        keys = path.split("__")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return scenario
