"""Sphere geometry and the metrics of a spherical code (numpy).

A spherical code is a (K, D) array of unit rows. The quality measures are the minimum pairwise
angle (the Tammes objective), the maximum pairwise cosine (its monotone twin), the mean
nearest-neighbour angle and the hyperspherical energies (:func:`riesz_energy` here for reports;
the differentiable ones in :mod:`protogen.energies`). Upper bounds live in :mod:`protogen.bounds`.
This module needs numpy only.

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
# Chords below this count as this (as in protogen.energies for float64): coincident points
# give a large finite energy instead of inf.
_CHORD_FLOOR = 1e-7


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


def riesz_energy(x: np.ndarray, s: float = 1.0, chunk_size: int | None = None) -> float:
    """Riesz s-energy (s > 0) or logarithmic energy (s = 0) of unit rows, summed over pairs i < j:
    Σ ||x_i − x_j||^(−s), or Σ log(1/||x_i − x_j||) (MHE, seed 002, Eq. 1), for reports.

    The numpy twin of :func:`protogen.energies.riesz_energy` (the differentiable one the solvers
    use), kept so that writing and reading files needs no torch; chords are floored at 1e-7 as
    there. Rows are processed in blocks against the rows after them.
    """
    if s < 0 or not math.isfinite(s):
        raise InputError(f"the Riesz exponent s must be finite and >= 0, got {s}")
    x = normalize(x)
    num = x.shape[0]
    if num < 2:
        raise InputError("need at least two points")
    total = 0.0
    for start, stop in _row_blocks(num, chunk_size):
        cos = x[start:stop] @ x[start:].T
        upper = np.arange(start, num)[None, :] > np.arange(start, stop)[:, None]
        chord = np.sqrt(np.maximum(2.0 - 2.0 * cos[upper], _CHORD_FLOOR**2))
        total += float(np.sum(-np.log(chord) if s == 0 else chord ** (-s)))
    return total


def summary(x: np.ndarray, chunk_size: int | None = None) -> dict[str, float]:
    """The metrics saved with every prototype file and printed by ``protogen solve``."""
    nn = nearest_neighbor_cosines(x, chunk_size)
    return {
        "min_angle_deg": float(angle_deg(nn.max())),
        "max_cosine": float(nn.max()),
        "mean_nn_angle_deg": float(np.mean(angle_deg(nn))),
        "riesz1_energy": riesz_energy(x, 1.0, chunk_size),
        "log_energy": riesz_energy(x, 0.0, chunk_size),
    }
