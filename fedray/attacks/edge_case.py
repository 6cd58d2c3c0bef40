"""Edge-case backdoor: relabel the tail of one class, where honest data says little.

Wang, Sreenivasan, Rajput, Vishwakarma, Agarwal, Sohn, Lee and Papailiopoulos, "Attack of
the tails: yes, you really can backdoor federated learning", NeurIPS 2020. The paper's
attacker holds rare inputs from outside the honest clients' typical data (ARDIS sevens
labelled as ones, Southwest airplanes as trucks). No such data ships here, so the tail is
defined on the dataset itself:

- the density estimate is a Gaussian fitted to every training example of class `source`
  (pooled over the federation), with the Ledoit-Wolf shrunk covariance (scikit-learn's
  `LedoitWolf`, so 64 features and ~150 examples still give an invertible covariance);
- the tail is the ceil(tail * n) source examples of lowest density, i.e. largest squared
  Mahalanobis distance (ties by index); tau is the smallest distance in it;
- each malicious client adds every tail example to its own data, labelled `target`; honest
  clients keep theirs with the true label, rare among their examples;
- evaluation: the edge-case test set is the central test split's source examples at
  distance >= tau under the same fit; success is the share of it predicted as `target`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fedray.attacks.common import check_params


@dataclass(frozen=True)
class EdgeCaseParams:
    source: int = field(default=7, metadata={"min": 0})  # class whose tail is poisoned
    target: int = field(default=1, metadata={"min": 0})  # label the tail gets
    tail: float = field(default=0.1, metadata={"gt": 0, "max": 1})  # share of the class


@dataclass(frozen=True)
class EdgeSet:
    """The fitted density and the poisoned tail.

    Attributes:
        x: (k, ...) the tail examples of `source` in the training data.
        location: (p,) the Gaussian's mean; precision: (p, p) its inverse covariance.
        tau: the smallest squared Mahalanobis distance in the tail.
    """

    x: np.ndarray
    location: np.ndarray
    precision: np.ndarray
    tau: float


def check_classes(params: EdgeCaseParams, num_classes: int) -> None:
    check_params("edge_case", params, EdgeCaseParams)
    if max(params.source, params.target) >= num_classes or params.source == params.target:
        raise ValueError(
            f"edge_case's attack.source and attack.target must be two different classes in "
            f"[0, {num_classes}); got source={params.source}, target={params.target}: change them"
        )


def distances(edge: EdgeSet, x: np.ndarray) -> np.ndarray:
    """Return the (n,) float64 squared Mahalanobis distances of x's rows under the fit."""
    centred = x.reshape(len(x), -1).astype(np.float64) - edge.location
    return np.einsum("ij,jk,ik->i", centred, edge.precision, centred)


def fit(x_pool: np.ndarray, y_pool: np.ndarray, params: EdgeCaseParams) -> EdgeSet:
    """Fit the source class's Gaussian on the pooled training data and cut its tail."""
    from sklearn.covariance import LedoitWolf

    source = x_pool[y_pool == params.source]
    if len(source) < 2:
        raise ValueError(
            f"edge_case needs at least 2 training examples of class {params.source} to fit "
            f"its density; got {len(source)}: pick another attack.source"
        )
    model = LedoitWolf().fit(source.reshape(len(source), -1).astype(np.float64))
    edge = EdgeSet(source[:0], model.location_, model.precision_, 0.0)
    dist = distances(edge, source)
    k = math.ceil(params.tail * len(source))
    far = np.sort(np.argsort(-dist, kind="stable")[:k])
    return EdgeSet(source[far], model.location_, model.precision_, float(dist[far].min()))


def edge_test_mask(
    edge: EdgeSet, x: np.ndarray, y: np.ndarray, params: EdgeCaseParams
) -> np.ndarray:
    """Return the (n,) bool mask of the edge-case test set: source rows at distance >= tau."""
    mask = y == params.source
    if mask.any():
        mask[mask] = distances(edge, x[mask]) >= edge.tau
    return mask


def edge_case(x, y, params: EdgeCaseParams, rng, input_shape, *, edge: EdgeSet, num_classes=None):
    """Return the client's data with every tail example appended, labelled `target`.

    Args:
        x: (n, *input_shape) or (n, p) features; y: (n,) integer labels.
        params: source, target, tail.
        rng: unused (the tail is fixed for the run).
        input_shape: unused beyond x's own shape.
        edge: the run's tail, from `fit`.
        num_classes: when given, source and target must be below it.

    Returns:
        (x', y') of n + len(edge.x) rows, x's dtype and y's dtype.
    """
    if num_classes is not None:
        check_classes(params, num_classes)
    x, y = np.asarray(x), np.asarray(y)
    tail = edge.x.reshape((len(edge.x), *x.shape[1:])).astype(x.dtype)
    labels = np.full(len(tail), params.target, dtype=y.dtype)
    return np.concatenate([x, tail]), np.concatenate([y, labels])
