"""Building what a scenario needs before any actor starts: its data, its initial model,
and the checks that need them. No Ray: `fedray validate` runs exactly this."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import torch

from fedray import seeding
from fedray.attacks import runtime
from fedray.client.plan import ClientPlan, client_plan
from fedray.client.vectorized import can_vectorize
from fedray.compression import checks as compression_checks
from fedray.data import build_federation
from fedray.data.datasets import DataError
from fedray.models import build_model, flatten
from fedray.privacy.adaptive import update_noise_multiplier
from fedray.privacy.local import check_private_model
from fedray.scenario import Scenario, ScenarioError
from fedray.server import secure_dp
from fedray.server.privacy import USER_LEVEL, count_noise, user_noise_multiplier

# torch's global generator is one per process. Whoever seeds or draws from it while other
# runs may share the process (fedray stress --parallel, the baseline's thread) holds this.
TORCH_RNG_LOCK = threading.RLock()


@dataclass(frozen=True)
class Prepared:
    """What the driver learns from building the data and model once, before any actor starts."""

    federation: object
    initial_params: np.ndarray


def prepare(scenario: Scenario) -> Prepared:
    """Build the federated dataset and the initial model; report failures as ScenarioError.

    This is where problems that need the data are found: a missing column, a population
    larger than the data, a model whose output does not match the label count.
    """
    try:
        federation = build_federation(scenario)
    except DataError as exc:  # already names the scenario key at fault
        raise ScenarioError([str(exc)], scenario.name) from None
    except ValueError as exc:
        raise ScenarioError([f"data: {exc}"], scenario.name) from None
    except Exception as exc:  # user loaders / partitioners, odd files: one line, not a traceback
        raise ScenarioError([f"data: {type(exc).__name__}: {exc}"], scenario.name) from None
    try:
        # fork_rng + manual_seed touch torch's process-wide generator: the lock keeps runs
        # started from several threads (fedray stress --parallel) from seeding each other's.
        with TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seeding.rng(scenario.seed, purpose=seeding.INIT).integers(2**62)))
            model = build_model(
                scenario.model.type,
                scenario.model.params,
                federation.input_shape,
                federation.num_classes,
            )
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ScenarioError([f"model.type: {exc}"], scenario.name) from None
    except Exception as exc:  # a user model's own bug: one line, not a traceback
        raise ScenarioError([f"model.type: {type(exc).__name__}: {exc}"], scenario.name) from None
    try:
        runtime.check(scenario, federation.num_classes, federation.input_shape)
    except ValueError as exc:
        raise ScenarioError([f"attack: {exc}"], scenario.name) from None
    _check_privacy(scenario, model, federation)
    _check_vectorize(scenario, model, federation)
    _check_weights(scenario, federation)
    params = flatten(model)
    found = compression_checks.model_problems(scenario.compression, len(params))
    found += secure_dp.model_problems(scenario, len(params))
    if found:
        raise ScenarioError(found, scenario.name)
    return Prepared(federation, params)


def _check_weights(scenario: Scenario, federation) -> None:
    """Secure aggregation encodes each update scaled by its weight min(n, max_weight) /
    max_weight: a max_weight far above every client's size leaves them a few bits."""
    cfg = scenario.secure_aggregation
    if cfg.protocol == "none" or cfg.weighting != "examples":
        return
    rng = seeding.rng(scenario.seed, purpose=seeding.SECAGG)
    population = scenario.federation.population
    ids = np.sort(rng.choice(population, size=min(population, 1000), replace=False))
    largest = int(np.max(federation.sizes(ids)))
    bits = math.log2(max(min(largest, cfg.max_weight) / cfg.max_weight * 2 ** (cfg.bits - 1), 1))
    if bits < 8:
        raise ScenarioError(
            [
                f"secure_aggregation.max_weight: the largest client holds {largest} examples, "
                f"so its weight is at most {min(largest, cfg.max_weight)}/{cfg.max_weight} and "
                f"its update is encoded with about {bits:.1f} of the {cfg.bits} bits (got "
                f"{cfg.max_weight}; expected about {largest}, or more secure_aggregation.bits)"
            ],
            scenario.name,
        )


def _check_vectorize(scenario: Scenario, model, federation) -> None:
    """`client.vectorize: on` needs a model that torch.func can train in blocks (tried with
    one vectorised step on zeros); `auto` falls back to the loop instead."""
    if scenario.client.vectorize != "on":
        return
    p = scenario.privacy
    plan = ClientPlan(dp_max_grad_norm=p.clip if p.mode == "local" else 0.0)
    ok, reason = can_vectorize(model, plan, federation.input_shape)
    if not ok:
        raise ScenarioError(
            [
                f"client.vectorize: {reason} (got 'on'; expected 'auto', which falls back to "
                "the loop, or 'off')"
            ],
            scenario.name,
        )


def _check_privacy(scenario: Scenario, model, federation) -> None:
    """What local DP-SGD needs from the model (Opacus' per-example gradients), and a noise
    level that `target_epsilon` can be calibrated to."""
    p = scenario.privacy
    try:
        if p.mode == "local":
            check_private_model(model)
        client_plan(scenario, federation.sizes)
        if p.mode in USER_LEVEL:
            z = user_noise_multiplier(scenario)
            if p.adaptive_clipping.enabled:
                update_noise_multiplier(z, count_noise(scenario))
    except ValueError as exc:
        raise ScenarioError([f"privacy: {exc}"], scenario.name) from None
    secure = scenario.secure_aggregation
    if p.mode == "distributed" and p.mechanism == "gaussian":
        # Each coordinate of a clipped update is within S, and its noise share has std
        # z S / sqrt(m): the encoding's range must hold both, or it clips the noise away.
        m = scenario.federation.clients_per_round
        need = p.clip + 6 * z * p.clip / m**0.5
        if secure.clip < need:
            raise ScenarioError(
                [
                    f"secure_aggregation.clip: {secure.clip:g} would cut off the clients' noise "
                    f"shares (S = {p.clip:g}, z = {z:.3g}, m = {m}); expected >= {need:.3g}, "
                    "S plus 6 standard deviations of a share"
                ],
                scenario.name,
            )
