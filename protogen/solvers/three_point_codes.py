"""Codes proved optimal by three-point bounds: triangle-free strongly regular graphs
(Hoffman-Singleton, Gewirtz, M22) and mutually unbiased bases from Kerdock sets.

The spectral embedding of a strongly regular graph on its least eigenvalue
(:func:`protogen.solvers.lattices.srg_spectral_code`) is a two-distance code. For these three
graphs Cohn, de Laat & Leijenhorst, *Optimality of spherical codes via exact semidefinite
programming bounds* (2024), prove the codes optimal for their size and dimension with
three-point bounds (the Delsarte LP bound is not sharp there): 50 points in R^21, 56 in R^20
and 77 in R^21; and the Kerdock arrangements of mutually unbiased bases, 288 points in R^16
(universally optimal) and 4224 in R^64.
Graph constructions from Brouwer & Van Maldeghem, *Strongly Regular Graphs*
(2022): Robertson's pentagons and pentagrams, and the Steiner system S(3, 6, 22).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from protogen.solvers.lattices import m22_graph, srg_spectral_code, steiner_hexads


def hoffman_singleton_graph() -> np.ndarray:
    """srg(50, 7, 0, 1), Robertson's construction: pentagons P_h (vertex j adjacent to j +- 1)
    and pentagrams Q_i (vertex j adjacent to j +- 2), h, i, j mod 5, and vertex j of P_h
    adjacent to vertex h i + j of Q_i."""
    size = 50
    adjacency = np.zeros((size, size), dtype=np.int64)

    def pentagon(h, j):
        return 5 * h + j % 5

    def pentagram(i, j):
        return 25 + 5 * i + j % 5

    for a in range(5):
        for j in range(5):
            for u, v in ((pentagon(a, j), pentagon(a, j + 1)),
                         (pentagram(a, j), pentagram(a, j + 2))):
                adjacency[u, v] = adjacency[v, u] = 1
            for i in range(5):
                u, v = pentagon(a, j), pentagram(i, a * i + j)
                adjacency[u, v] = adjacency[v, u] = 1
    return adjacency


def gewirtz_graph() -> np.ndarray:
    """srg(56, 10, 0, 2): the subgraph of the M22 graph on the hexads missing a fixed point."""
    missing = np.flatnonzero(steiner_hexads()[:, 0] == 0)
    return m22_graph()[np.ix_(missing, missing)]


@functools.lru_cache(maxsize=None)
def hoffman_singleton_50() -> np.ndarray:
    """50 points in R^21, cosines 1/21 (non-edges) and -3/7 (edges)."""
    return srg_spectral_code(hoffman_singleton_graph())


@functools.lru_cache(maxsize=None)
def gewirtz_56() -> np.ndarray:
    """56 points in R^20, cosines 1/15 (non-edges) and -2/5 (edges)."""
    return srg_spectral_code(gewirtz_graph())


@functools.lru_cache(maxsize=None)
def m22_77() -> np.ndarray:
    """77 points in R^21, cosines 1/12 (non-edges) and -3/8 (edges)."""
    return srg_spectral_code(m22_graph())


def _gf2_nonsingular(rows: np.ndarray, size: int) -> np.ndarray:
    """For (N, size) matrices over GF(2) given as row bitmasks: True where of full rank
    (Gaussian elimination on all N at once)."""
    rows = rows.copy()
    full = np.ones(len(rows), dtype=bool)
    every = np.arange(len(rows))
    for col in range(size):
        bit = 1 << col
        has = (rows[:, col:] & bit) != 0
        full &= has.any(axis=1)
        pivot = np.where(has.any(axis=1), has.argmax(axis=1) + col, col)
        pivot_row = rows[every, pivot].copy()
        rows[every, pivot] = rows[every, col]
        rows[every, col] = pivot_row
        others = (rows & bit) != 0
        others[:, col] = False
        rows ^= np.where(others, pivot_row[:, None], 0)
    return full


def alternating_matrices(size: int) -> np.ndarray:
    """All (2^(size (size-1)/2), size, size) alternating 0/1 matrices, matrix v with entry
    (i, j), i < j, the bit of v at the position of (i, j) in row-major order."""
    pairs = [(i, j) for i in range(size) for j in range(i + 1, size)]
    index = np.arange(1 << len(pairs), dtype=np.int64)
    out = np.zeros((len(index), size, size), dtype=np.int64)
    for t, (i, j) in enumerate(pairs):
        out[:, i, j] = out[:, j, i] = (index >> t) & 1
    return out


def kerdock_set(size: int, *, seed: int = 0, tries: int = 100_000) -> np.ndarray:
    """2^(size-1) alternating size x size matrices over GF(2), zero first, whose pairwise sums
    are all non-singular (a Kerdock set, the most there can be; size 4 or 6).

    A randomised greedy clique search in the graph of the alternating matrices (adjacent when
    their sum is non-singular), from a fixed seed: for size 6 (32,768 matrices) a maximal
    clique has all 32 members after ~80-800 tries (0.1-0.7 s)."""
    if size not in (4, 6):
        raise ValueError(f"kerdock_set: size 4 or 6, not {size}")
    matrices = alternating_matrices(size)
    masks = (matrices << np.arange(size)).sum(axis=2)  # row bitmasks
    nonsingular = _gf2_nonsingular(masks, size)
    index = np.arange(len(matrices))
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        chosen, free = [0], nonsingular.copy()
        while free.any():
            pick = int(rng.choice(np.flatnonzero(free)))
            chosen.append(pick)
            free &= nonsingular[index ^ pick]  # matrix v + matrix w is matrix v ^ w
        if len(chosen) == 1 << (size - 1):
            return matrices[chosen]
    raise RuntimeError(f"no Kerdock set of size {size} found in {tries} tries")  # pragma: no cover


@functools.lru_cache(maxsize=None)
def kerdock_code(size: int) -> np.ndarray:
    """2^(2 size) + 2^(size+1) points in R^(2^size), largest cosine 2^(-size/2): 2^(size-1) + 1
    mutually unbiased bases and their negatives. The standard basis, and for each matrix B of a
    Kerdock set (q(x) = x^T Q x with Q the upper triangle of B) the basis
    (-1)^(q(x) + a.x) / 2^(size/2), a in GF(2)^size, indexed by x in GF(2)^size. Two such
    bases are unbiased (inner products +-2^(-size/2)) because the sum of their forms is bent
    (its alternating matrix is non-singular). size 4: 288 points in R^16 (universally
    optimal), size 6: 4224 points in R^64; both optimal codes (Cohn, de Laat & Leijenhorst
    2024)."""
    n = 1 << size
    xs = (np.arange(n)[:, None] >> np.arange(size)) & 1
    linear = (xs @ xs.T) % 2  # a . x, rows a
    rows = [np.eye(n)]
    for b in kerdock_set(size):
        form = np.einsum("xi,ij,xj->x", xs, np.triu(b, 1), xs) % 2  # q(x) for every x
        rows.append((-1.0) ** ((form[None, :] + linear) % 2) / math.sqrt(n))
    basis_vectors = np.concatenate(rows)
    return np.concatenate([basis_vectors, -basis_vectors])
