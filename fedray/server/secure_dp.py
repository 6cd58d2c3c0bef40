"""User-level DP inside the secure sum: integer-domain distributed DP and adaptive clipping's
unclipped bit, on both sides of the protocol (pure functions of the scenario and the round).

Integer mechanisms (`privacy.mechanism: discrete_gaussian | skellam`, distributed mode), as in
Kairouz, Liu and Steinke (ICML 2021) and Agarwal, Kairouz and Liu (NeurIPS 2021): a client
clips its update to S, scales it by 1 / gamma, rotates it (H D, signs shared by the round),
rounds it conditionally to norm Delta_2 and adds its integer noise share of variance
(z S / gamma)^2 / m; the server unrotates the decoded sum and multiplies by gamma.

Adaptive clipping (Andrew et al. 2021) under secure aggregation: each client appends
K (2 b - 1), b = [||delta|| <= S], as one more coordinate, so the server learns only the
count; in distributed mode the coordinate carries the client's integer noise share of
std 2 sigma_b K / sqrt(m) (K large enough that tau is negligible), in central mode the
server noises the decoded count itself.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from fedray import seeding
from fedray.privacy import discrete, discrete_accounting
from fedray.privacy.adaptive import update_noise_multiplier
from fedray.secagg.encoding import dequantize, encode_integers, quantize, signed, with_extra
from fedray.secagg.wrap import finest_granularity, wrap_probability
from fedray.server import privacy

# float32 clipping may land an ulp above S; the rounding bound allows for it.
_MARGIN = 1 + 2.0**-20

# A per-client noise std >= 8 integer units makes tau ~ 10 n exp(-2 pi^2 64 / 2): nothing.
_COUNT_SIGMA = 8.0


@dataclass(frozen=True)
class SecureDp:
    """How one round's private updates travel in the secure sum."""

    seed: int
    round: int
    dim: int  # d, the update's length
    clip: float  # S, this round's L2 clipping norm
    integer: bool  # integer-domain noise (else continuous noise, then quantize)
    mechanism: str
    gamma: float = 0.0  # granularity: one integer unit is gamma in the update's scale
    padded: int = 0  # coordinates in the sum (a power of two when rotated)
    rotated: bool = False
    variance: float = 0.0  # each client's noise variance per coordinate, integer units
    bound: float = 0.0  # Delta_2: each client's L2 norm after conditional rounding
    beta: float = discrete.DEFAULT_BETA
    wrap: float = 0.0  # bound on the probability that the sum wraps modulo 2^m
    count: bool = False  # adaptive clipping's bit rides along
    count_scale: int = 1  # K
    count_variance: float = 0.0  # each client's noise variance on the count, integer units

    def signs(self) -> np.ndarray:
        """The round's shared random signs D (public: only the noise is secret)."""
        rng = seeding.rng(self.seed, self.round, seeding.NO_CLIENT, seeding.ROTATION)
        return discrete.rotation_signs(self.dim, rng)


def is_integer(scenario) -> bool:
    p = scenario.privacy
    return p.mode == "distributed" and p.mechanism != "gaussian"


def carries_count(scenario) -> bool:
    """Whether adaptive clipping's bit travels in the secure sum (and S goes to the clients)."""
    p = scenario.privacy
    return (
        p.mode in privacy.USER_LEVEL
        and p.adaptive_clipping.enabled
        and scenario.secure_aggregation.protocol != "none"
    )


def update_z(scenario) -> float:
    """The noise multiplier the updates themselves carry: z, or z_delta with adaptive clipping."""
    z = privacy.user_noise_multiplier(scenario)
    if scenario.privacy.adaptive_clipping.enabled:
        return update_noise_multiplier(z, privacy.count_noise(scenario))
    return z


def setup(scenario, round_: int, dim: int, clip: float) -> SecureDp | None:
    """The round's plan, or None when the plain secure path (quantize, no count) applies.

    Raises ValueError, saying what to change, when the modular sum would wrap too often.
    """
    if not (is_integer(scenario) or carries_count(scenario)):
        return None
    p, cfg = scenario.privacy, scenario.secure_aggregation
    m = scenario.federation.clients_per_round
    base = dict(seed=scenario.seed, round=round_, dim=dim, clip=float(clip))
    base.update(_count_fields(scenario, m))
    count_wrap = _count_wrap(base, m, p, cfg.modulus_bits)
    if not is_integer(scenario):
        return SecureDp(integer=False, mechanism=p.mechanism, wrap=count_wrap, **base)
    d = p.discrete
    padded = discrete.padded_dim(dim) if d.rotation else dim
    gamma, wrap = _granularity(
        clip, m, padded, d.rotation, p.mechanism, update_z(scenario), cfg.modulus_bits, d
    )
    return SecureDp(
        integer=True,
        mechanism=p.mechanism,
        gamma=gamma,
        padded=padded,
        rotated=d.rotation,
        variance=(update_z(scenario) * clip / gamma) ** 2 / m,
        bound=discrete.rounding_bound(clip / gamma * _MARGIN, padded, d.beta),
        beta=d.beta,
        wrap=wrap + count_wrap,
        **base,
    )


def _count_wrap(fields: dict, m: int, p, modulus_bits: int) -> float:
    """The wrap-around bound of the count's coordinate, |sum| <= m K plus its noise; refuses
    a field that cannot hold it."""
    if not fields.get("count"):
        return 0.0
    wrap = wrap_probability(
        clients=m,
        dim=1,
        norm=fields.get("count_scale", 1) - 1.0,  # slack m (norm + 1) = m K
        rotated=False,
        mechanism=p.mechanism if p.mechanism != "gaussian" else "discrete_gaussian",
        variance=fields.get("count_variance", 0.0),
        modulus_bits=modulus_bits,
    )
    if wrap > p.discrete.max_wrap_probability:
        raise ValueError(
            f"adaptive clipping's count (scale K = {fields.get('count_scale', 1)}, {m} clients) "
            f"wraps around modulo 2^{modulus_bits} with probability {wrap:.2g}: raise "
            "secure_aggregation.modulus_bits or privacy.adaptive_clipping.count_noise"
        )
    return wrap


def _count_fields(scenario, m: int) -> dict:
    if not carries_count(scenario):
        return {}
    sigma_b = privacy.count_noise(scenario)
    if scenario.privacy.mode != "distributed" or sigma_b == 0:
        return {"count": True}
    scale = max(1, math.ceil(_COUNT_SIGMA * math.sqrt(m) / (2 * sigma_b)))
    return {
        "count": True,
        "count_scale": scale,
        "count_variance": (2 * sigma_b * scale) ** 2 / m,
    }


def _granularity(clip, m, padded, rotated, mechanism, z, modulus_bits, d) -> tuple[float, float]:
    if d.granularity is not None:
        wrap = wrap_probability(
            clients=m,
            dim=padded,
            norm=clip / d.granularity,
            rotated=rotated,
            mechanism=mechanism,
            variance=(z * clip / d.granularity) ** 2 / m,
            modulus_bits=modulus_bits,
        )
        found = (d.granularity, wrap) if wrap <= d.max_wrap_probability else None
    else:
        found = _finest(
            clip, m, padded, rotated, mechanism, z, modulus_bits, d.max_wrap_probability
        )
    if found is None:
        raise ValueError(wrap_message(m, padded, rotated, modulus_bits, d))
    return found


@functools.lru_cache(maxsize=256)
def _finest(clip, m, padded, rotated, mechanism, z, modulus_bits, max_wrap):
    return finest_granularity(
        clip=clip,
        clients=m,
        dim=padded,
        rotated=rotated,
        mechanism=mechanism,
        noise_multiplier=z,
        modulus_bits=modulus_bits,
        max_wrap=max_wrap,
    )


def wrap_message(m: int, padded: int, rotated: bool, modulus_bits: int, d) -> str:
    what = f"granularity {d.granularity:g}" if d.granularity is not None else "any granularity"
    fixes = ["raise secure_aggregation.modulus_bits (up to 64)"]
    if d.granularity is not None:
        fixes.append("raise privacy.discrete.granularity or leave it unset (chosen for you)")
    if not rotated:
        fixes.append("set privacy.discrete.rotation: true")
    fixes.append("lower clients_per_round or privacy.noise_multiplier")
    return (
        f"the secure sum of {m} noised integer vectors of {padded} coordinates at "
        f"modulus_bits={modulus_bits} with {what} wraps around with probability above "
        f"privacy.discrete.max_wrap_probability={d.max_wrap_probability:g}: " + ", or ".join(fixes)
    )


def client_vector(
    dp: SecureDp, scenario, delta: np.ndarray, *, norm: float, rng, rounding_rng, units: int = 1
) -> np.ndarray:
    """Encode one client's clipped update (and bit) for the secure sum, noised when distributed.

    Args:
        delta: (d,) float update already clipped to norm <= dp.clip (and, on the continuous
            path, already carrying its Gaussian share).
        norm: the update's L2 norm before clipping (the bit is norm <= S).
        rng: the client's noise generator (`privacy.noise_seed`); rounding_rng: its coins.
    """
    cfg = scenario.secure_aggregation
    if dp.integer:
        x = np.asarray(delta, np.float64)
        x *= min(1.0, dp.clip / max(float(np.linalg.norm(x)), 1e-300)) / dp.gamma
        x = discrete.rotate(x, dp.signs()) if dp.rotated else x
        q = discrete.conditional_round(x, dp.bound, rounding_rng)
        q += discrete.SAMPLERS[dp.mechanism](dp.variance, len(q), rng)
        out = encode_integers(q, units=units, modulus_bits=cfg.modulus_bits)
    else:
        out = quantize(
            delta,
            units=units,
            max_units=1,
            clip=cfg.clip,
            bits=cfg.bits,
            modulus_bits=cfg.modulus_bits,
            rng=rounding_rng,
        )
    if dp.count:
        bit = dp.count_scale * (1 if norm <= dp.clip else -1)
        mechanism = dp.mechanism if dp.integer else "discrete_gaussian"
        bit += discrete.SAMPLERS[mechanism](dp.count_variance, 1, rng)
        out = with_extra(out, bit, cfg.modulus_bits)
    return out


def decode(dp: SecureDp, scenario, total: np.ndarray) -> tuple[np.ndarray, int, float | None]:
    """(sum of the clipped updates (d,) float64, total units, decoded unclipped count or None)."""
    cfg = scenario.secure_aggregation
    count = None
    if dp.count:
        values = signed(total, cfg.modulus_bits)
        units = int(values[-1])
        count = (float(values[-2]) / dp.count_scale + units) / 2  # sum of (2b - 1) -> sum of b
        total = np.concatenate([total[:-2], total[-1:]])
    if not dp.integer:
        weighted, units = dequantize(
            total, clip=cfg.clip, bits=cfg.bits, modulus_bits=cfg.modulus_bits
        )
        return weighted, units, count
    values = signed(total, cfg.modulus_bits)
    body = values[:-1].astype(np.float64)
    x = discrete.unrotate(body, dp.signs(), dp.dim) if dp.rotated else body
    return x * dp.gamma, int(values[-1]), count


def round_curve(dp: SecureDp, survivors: int) -> np.ndarray:
    """The RDP curve (over `discrete_accounting.ORDERS`) of one round whose sum holds
    `survivors` clients' noise shares: the update's mechanism composed with the count's."""
    curve = _mechanism_curve(dp.mechanism, dp.bound, dp.variance, survivors, dp.padded)
    if dp.count:
        curve = curve + _mechanism_curve(
            dp.mechanism, dp.count_scale, dp.count_variance, survivors, 1
        )
    return curve


def _mechanism_curve(mechanism, sensitivity, variance, clients, dim) -> np.ndarray:
    if mechanism == "skellam":
        l1 = min(sensitivity**2, math.sqrt(dim) * sensitivity)
        return discrete_accounting.skellam_rdp(l2=sensitivity, l1=l1, variance=clients * variance)
    return discrete_accounting.ddg_rdp(
        sensitivity=sensitivity, sigma=math.sqrt(variance), clients=clients, dim=dim
    )


def ledger_curve(scenario, dim: int, clip: float, survivors: int) -> np.ndarray | None:
    """The round's RDP curve for the ledger under an integer mechanism, else None."""
    if not is_integer(scenario):
        return None
    return round_curve(setup(scenario, 0, dim, clip), survivors)


def model_problems(scenario, dim: int) -> list[str]:
    """Why an integer mechanism cannot run on a model of `dim` parameters (the wrap-around
    bound at the initial clip, and, with adaptive clipping, at S / 100 and 100 S), or []."""
    if not (is_integer(scenario) or carries_count(scenario)):
        return []
    clip = scenario.privacy.clip
    clips = [clip] + ([clip / 100, clip * 100] if carries_count(scenario) else [])
    try:
        for c in clips:
            setup(scenario, 1, dim, c)
    except ValueError as exc:
        return [f"privacy: {exc} (model of {dim} parameters)"]
    return []


def private_client(
    scenario, round_: int, client_id: int, delta: np.ndarray, server: dict | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """A client's side of user-level DP under secure aggregation.

    Returns (its clipped, and on the continuous path noised, update; its encoded vector for
    the secure sum when the integer mechanism or adaptive clipping's bit applies, else None
    and the update is quantized as usual). `server["clip"]`: adaptive clipping's current S.
    """
    clip = (server or {}).get("clip")
    noise = privacy.noise_rng(scenario, round_, client_id)
    norm = float(np.linalg.norm(np.asarray(delta, np.float64)))
    out = privacy.client_noise(scenario, delta, noise, clip)
    bound = scenario.privacy.clip if clip is None else float(clip)
    dp = setup(scenario, round_, len(delta), bound)
    if dp is None or not np.isfinite(out).all():  # a non-finite update is refused later
        return out, None
    coins = seeding.rng(scenario.seed, round_, client_id, seeding.QUANTIZE)
    return out, client_vector(dp, scenario, out, norm=norm, rng=noise, rounding_rng=coins)
