"""Codes proved optimal by three-point bounds: triangle-free strongly regular graphs
(Hoffman-Singleton, Gewirtz, M22) and the 288 points of nine mutually unbiased bases of R^16.

The spectral embedding of a strongly regular graph on its least eigenvalue
(:func:`protogen.solvers.lattices.srg_spectral_code`) is a two-distance code. For these three
graphs Cohn, de Laat & Leijenhorst, *Optimality of spherical codes via exact semidefinite
programming bounds* (2024), prove the codes optimal for their size and dimension with
three-point bounds (the Delsarte LP bound is not sharp there): 50 points in R^21, 56 in R^20
and 77 in R^21; and the Kerdock arrangement of 288 points in R^16 (universally optimal).
Graph constructions from Brouwer & Van Maldeghem, *Strongly Regular Graphs*
(2022): Robertson's pentagons and pentagrams, and the Steiner system S(3, 6, 22).
"""

from __future__ import annotations

import functools

import numpy as np

from protogen.solvers.lattices import srg_spectral_code, steiner_hexads


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


def m22_graph() -> np.ndarray:
    """srg(77, 16, 0, 4): the hexads of S(3, 6, 22), adjacent when disjoint."""
    hexads = steiner_hexads()
    return ((hexads @ hexads.T) == 0).astype(np.int64)


def gewirtz_graph() -> np.ndarray:
    """srg(56, 10, 0, 2): the hexads of S(3, 6, 22) missing a fixed point, adjacent when
    disjoint."""
    hexads = steiner_hexads()
    hexads = hexads[hexads[:, 0] == 0]
    return ((hexads @ hexads.T) == 0).astype(np.int64)


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


def kerdock_set_4() -> list[np.ndarray]:
    """Eight alternating 4 x 4 matrices over GF(2) whose pairwise sums are all non-singular (a
    Kerdock set, the most there can be: 2^(m-1) for m = 4), zero first; found by a
    deterministic depth-first search over the 64 alternating matrices."""
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    matrices = []
    for bits in range(64):
        b = np.zeros((4, 4), dtype=np.int64)
        for t, (i, j) in enumerate(pairs):
            b[i, j] = b[j, i] = (bits >> t) & 1
        matrices.append(b)

    def nonsingular(b):  # over GF(2): determinant of a 0/1 matrix, mod 2
        return round(np.linalg.det(b)) % 2 == 1

    chosen: list[int] = [0]

    def extend(start):
        if len(chosen) == 8:
            return True
        for candidate in range(start, 64):
            if all(nonsingular((matrices[candidate] + matrices[c]) % 2) for c in chosen):
                chosen.append(candidate)
                if extend(candidate + 1):
                    return True
                chosen.pop()
        return False

    if not extend(1):  # pragma: no cover - a Kerdock set exists (Kantor 1982)
        raise RuntimeError("no Kerdock set of 4 x 4 alternating matrices found")
    return [matrices[c] for c in chosen]


@functools.lru_cache(maxsize=None)
def kerdock_288() -> np.ndarray:
    """288 points in R^16, largest cosine 1/4: nine mutually unbiased bases and their negatives.
    The standard basis, and for each matrix B of a Kerdock set (with Q its upper triangle, a
    quadratic form q(x) = x^T Q x) the basis (-1)^(q(x) + a.x) / 4, a in GF(2)^4, indexed by
    x in GF(2)^4. Two such bases are unbiased (inner products +-1/4) because the sum of their
    forms is bent (its alternating matrix is non-singular). Universally optimal: Cohn, de Laat &
    Leijenhorst (2024)."""
    xs = np.array([[(x >> i) & 1 for i in range(4)] for x in range(16)], dtype=np.int64)
    rows = [np.eye(16)]
    for b in kerdock_set_4():
        q = np.triu(b, 1)
        form = np.einsum("xi,ij,xj->x", xs, q, xs) % 2  # q(x) for every x
        linear = (xs @ xs.T) % 2  # a . x, rows a
        rows.append((-1.0) ** ((form[None, :] + linear) % 2) / 4.0)
    basis_vectors = np.concatenate(rows)
    return np.concatenate([basis_vectors, -basis_vectors])
