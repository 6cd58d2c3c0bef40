"""MNIST-1D, generated here from the scenario's seed: never downloaded.

Greydanus, "Scaling down deep learning" (2020). Ten one-dimensional digit templates of 12
points are each padded with zeros to a random length, stretched back to a fixed length
(so the digit's width varies), scaled, circularly translated, given correlated noise where
the signal is zero and white noise everywhere, sheared by a random linear trend and
resampled to 40 points. The dataset is then standardised to mean 0 and standard deviation 1.
With the paper's settings (the defaults here) a linear model reaches about 32% test
accuracy, an MLP about 68% and a small 1-D CNN about 94%: a task small enough to simulate
hundreds of clients on a laptop and hard enough to separate models, attacks and defenses.

The numbers (templates, padding 36-60, scale 0.4, translation 48, noise 0.25 / 0.02, shear
0.75, 40 points) are the paper's; the draws come from fedray's own seeded generator, so the
samples differ from the published pickle but follow the same distribution.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from fedray import seeding
from fedray.data.datasets import Arrays, DataError

# One row per digit 0-9: the paper's 12-point templates, before whitening.
TEMPLATES = np.array(
    [
        [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
        [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
        [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
        [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
        [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
        [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
        [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
        [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
    ]
)
NUM_CLASSES = 10
# Added to the template before padding, so that "the signal is zero" means padding only.
_EPS = 1e-8
_CORR_SIGMA = 2.0  # width of the correlated noise's Gaussian smoothing, in points


@dataclass(frozen=True)
class MNIST1DParams:
    # At most a million each: a sample costs about 0.6 kB while it is generated.
    train_samples: int = field(default=4000, metadata={"min": 10, "max": 1_000_000})
    test_samples: int = field(default=1000, metadata={"min": 10, "max": 1_000_000})
    seed: int | None = field(default=None, metadata={"min": 0})  # none: the scenario's seed
    pad_min: int = field(default=36, metadata={"min": 0})  # zeros appended to the template
    pad_max: int = field(default=60, metadata={"min": 0, "max": 10_000})
    scale_coeff: float = field(default=0.4, metadata={"min": 0, "lt": 2})
    max_translation: int = field(default=48, metadata={"min": 1})
    corr_noise_scale: float = field(default=0.25, metadata={"min": 0})
    iid_noise_scale: float = field(default=0.02, metadata={"min": 0})
    shear_scale: float = field(default=0.75, metadata={"min": 0})
    length: int = field(default=40, metadata={"min": 2, "max": 10_000})  # points per sample
    shuffle_seq: bool = False  # one fixed permutation of the points (the paper's ablation)


def templates() -> np.ndarray:
    """The 10 templates as the paper prepares them: (10, 12) float64, each whitened, shifted
    to start (and end) at 0, and divided by 6."""
    x = TEMPLATES - TEMPLATES.mean(axis=1, keepdims=True)
    x = x / x.std(axis=1, keepdims=True)
    return (x - x[:, :1]) / 6.0


def _resample(rows: np.ndarray, lengths: np.ndarray, points: int) -> np.ndarray:
    """Linearly resample each row's first `lengths[i]` values, spread over [0, 1], at
    `points` evenly spaced positions: (n, points)."""
    out = np.empty((len(rows), points))
    grid = np.linspace(0.0, 1.0, points)
    for i, (row, n) in enumerate(zip(rows, lengths, strict=True)):
        out[i] = np.interp(grid, np.linspace(0.0, 1.0, n), row[:n])
    return out


def generate(params: MNIST1DParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw `train_samples` then `test_samples` examples, classes balanced in each.

    Returns x (n, length) float64 before standardisation and y (n,) int64.
    """
    from scipy.ndimage import gaussian_filter1d

    if params.pad_max < params.pad_min:
        raise DataError(
            "data.pad_max",
            f"the padding range is empty (got pad_min={params.pad_min}, pad_max="
            f"{params.pad_max}; expected pad_max >= pad_min)",
        )
    rng = seeding.rng(seed, seeding.NO_ROUND, seeding.NO_CLIENT, seeding.DATA)
    n = params.train_samples + params.test_samples
    # Each split balanced to within one example per class, in random order.
    y = np.concatenate(
        [
            rng.permutation(np.arange(k) % NUM_CLASSES)
            for k in (params.train_samples, n - params.train_samples)
        ]
    ).astype(np.int64)
    width = templates().shape[1]
    dilated = width + params.pad_max  # every sample is stretched to this many points first
    padded = np.zeros((n, dilated))
    padded[:, :width] = templates()[y] + _EPS
    pads = rng.integers(params.pad_min, params.pad_max, size=n, endpoint=True)
    x = _resample(padded, width + pads, dilated)
    x *= 1.0 + params.scale_coeff * (rng.random((n, 1)) - 0.5)
    shifts = rng.integers(0, params.max_translation, size=n)
    x = x[np.arange(n)[:, None], (np.arange(dilated)[None, :] - shifts[:, None]) % dilated]
    smooth = gaussian_filter1d(
        params.corr_noise_scale * rng.standard_normal((n, dilated)), _CORR_SIGMA
    )
    x = np.where(x != 0, x, smooth)
    x += params.iid_noise_scale * rng.standard_normal((n, dilated))
    x -= params.shear_scale * (rng.random((n, 1)) - 0.5) * np.linspace(-0.5, 0.5, dilated)
    x = _resample(x, np.full(n, dilated), params.length)
    if params.shuffle_seq:
        x = x[:, rng.permutation(params.length)]
    return x, y


@functools.lru_cache(maxsize=4)
def _cached(params: MNIST1DParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = generate(params, seed)
    x = ((x - x.mean()) / x.std()).astype(np.float32)
    return x, y


def mnist1d(params: MNIST1DParams, seed: int = 0) -> Arrays:
    """MNIST-1D for a scenario seed (`params.seed` overrides it): the first `train_samples`
    examples train, the rest test; x (n, length) float32 standardised over the whole set.

    Kept in memory per (params, seed): the driver, the aggregator and a worker building the
    same dataset generate it once per process (about 0.1 s for 5,000 examples).
    """
    x, y = _cached(params, int(params.seed if params.seed is not None else seed))
    cut = params.train_samples
    return Arrays(
        x[:cut].copy(), y[:cut].copy(), x[cut:].copy(), y[cut:].copy(), num_classes=NUM_CLASSES
    )
