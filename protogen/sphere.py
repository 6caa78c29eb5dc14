"""Sphere geometry and the metrics of a spherical code (numpy).

A spherical code is a (K, D) array of unit rows. The quality measures are the minimum pairwise
angle (the Tammes objective), the maximum pairwise cosine (its monotone twin), the mean
nearest-neighbour angle and the hyperspherical energies (see :mod:`protogen.energies`).

Every pairwise reduction has a chunked path: rows are processed in blocks of ``chunk_size`` so
that memory is O(K * chunk_size) instead of O(K^2). ``chunk_size=None`` picks a block that keeps
one block of cosines under ~64 MiB.
"""

from __future__ import annotations

import math

import numpy as np

from protogen.errors import InputError

# One block of float64 cosines is kept under this many bytes on the chunked path.
_BLOCK_BYTES = 64 * 2**20


def normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Project rows onto the unit sphere; zero rows are an error (they have no direction)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=axis, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        raise InputError("cannot normalise: a vector is zero or not finite")
    return x / norms


def random_points(num: int, dim: int, seed: int) -> np.ndarray:
    """``num`` points uniform on S^(dim-1) (normalised Gaussians), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return normalize(rng.standard_normal((num, dim)))


def pairwise_cosines(x: np.ndarray) -> np.ndarray:
    """Full (K, K) cosine matrix of unit rows (diagonal included). O(K^2) memory."""
    x = np.asarray(x, dtype=np.float64)
    return np.clip(x @ x.T, -1.0, 1.0)


def _default_chunk(num: int) -> int:
    return max(1, min(num, _BLOCK_BYTES // (8 * max(num, 1))))


def _row_blocks(num: int, chunk_size: int | None):
    step = _default_chunk(num) if chunk_size is None else int(chunk_size)
    if step < 1:
        raise InputError("chunk_size must be a positive integer")
    for start in range(0, num, step):
        yield start, min(num, start + step)


def nearest_neighbor_cosines(x: np.ndarray, chunk_size: int | None = None) -> np.ndarray:
    """For each row, the largest cosine to any *other* row, computed block by block."""
    x = np.asarray(x, dtype=np.float64)
    num = x.shape[0]
    if num < 2:
        raise InputError("need at least two points")
    out = np.empty(num)
    for start, stop in _row_blocks(num, chunk_size):
        block = x[start:stop] @ x.T
        block[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        out[start:stop] = block.max(axis=1)
    return np.clip(out, -1.0, 1.0)


def max_cosine(x: np.ndarray, chunk_size: int | None = None) -> float:
    """Largest pairwise cosine between distinct rows."""
    return float(nearest_neighbor_cosines(x, chunk_size).max())


def angle_deg(cosine) -> np.ndarray | float:
    """Angle in degrees of a cosine (clipped into [-1, 1] against round-off)."""
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def min_angle_deg(x: np.ndarray, chunk_size: int | None = None) -> float:
    """Smallest pairwise angle in degrees (the Tammes objective)."""
    return float(angle_deg(max_cosine(x, chunk_size)))


def mean_nn_angle_deg(x: np.ndarray, chunk_size: int | None = None) -> float:
    """Mean over points of the angle (degrees) to the nearest other point."""
    return float(np.mean(angle_deg(nearest_neighbor_cosines(x, chunk_size))))


def energy(x: np.ndarray, s: float = 1.0, *, half_space: bool = False, angular: bool = False,
           reduction: str = "sum", chunk_size: int | None = None) -> float:
    """Riesz s-energy (s > 0) or logarithmic energy (s = 0) of the code, as a float.

    A numpy front for :func:`protogen.energies.riesz_energy`, the single definition that the
    solvers and the MHE regulariser share (evaluated in float64 without gradients).
    """
    import torch

    from protogen.energies import riesz_energy

    with torch.no_grad():
        value = riesz_energy(torch.as_tensor(np.asarray(x, dtype=np.float64)), s,
                             half_space=half_space, angular=angular, reduction=reduction,
                             chunk_size=chunk_size)
    return float(value)


def summary(x: np.ndarray, chunk_size: int | None = None) -> dict[str, float]:
    """The metrics saved with every prototype file and printed by ``protogen solve``."""
    nn = nearest_neighbor_cosines(x, chunk_size)
    return {
        "min_angle_deg": float(angle_deg(nn.max())),
        "max_cosine": float(nn.max()),
        "mean_nn_angle_deg": float(np.mean(angle_deg(nn))),
        "riesz1_energy": energy(x, 1.0, chunk_size=chunk_size),
        "log_energy": energy(x, 0.0, chunk_size=chunk_size),
    }


def simplex_max_cosine_bound(num: int) -> float:
    """Lower bound on the max cosine of any ``num`` points: -1/(num-1) (the regular simplex)."""
    return -1.0 / (num - 1)


def simplex_angle_bound_deg(num: int) -> float:
    """Upper bound on the min angle, degrees, from the simplex bound (valid for every D)."""
    return math.degrees(math.acos(simplex_max_cosine_bound(num)))


def rankin_angle_bound_deg(num: int, dim: int) -> float:
    """Rankin: more than dim+1 points in dim dimensions have min angle <= 90 degrees.

    For num <= dim + 1 the simplex bound is the binding one; returned here as well so callers
    can use this as "the best of simplex and Rankin".
    """
    if num <= dim + 1:
        return simplex_angle_bound_deg(num)
    return 90.0
