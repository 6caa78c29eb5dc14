"""Exact record codes in 3 and 4 dimensions, built from their coordinates.

The facts (coordinates and the contact conditions that fix their free parameters) are from
Coxeter, *Regular Polytopes* (1973), and from the papers cited in
:mod:`protogen.solvers.constructions`. Builders are cached and return read-only unit rows.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from protogen.solvers.lattices import unit_rows, complement_basis, d_roots_integer

GOLDEN = (1.0 + math.sqrt(5.0)) / 2.0
# The tribonacci constant, the real root of t^3 = t^2 + t + 1 (Cardano's formula).
TRIBONACCI = (1.0 + (19.0 + 3.0 * math.sqrt(33.0)) ** (1 / 3)
              + (19.0 - 3.0 * math.sqrt(33.0)) ** (1 / 3)) / 3.0


def _permutations_by_parity(n: int, parity: int):
    for perm in itertools.permutations(range(n)):
        inversions = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
        if inversions % 2 == parity:
            yield perm


@functools.lru_cache(maxsize=None)
def square_antiprism() -> np.ndarray:
    """8 points: two squares at heights ±h, turned 45 degrees against each other.

    Square edges have cosine h^2 and side edges r^2 cos 45 - h^2 with r^2 = 1 - h^2; the Tammes
    optimum makes them equal, h^2 = 1 / (2 sqrt 2 + 1) = (2 sqrt 2 - 1) / 7 (Schütte & van der
    Waerden 1951), which is then the max cosine.
    """
    height = math.sqrt((2.0 * math.sqrt(2.0) - 1.0) / 7.0)
    radius = math.sqrt(1.0 - height**2)
    rows = []
    for z, turn in ((height, 0.0), (-height, math.pi / 4)):
        for k in range(4):
            angle = k * math.pi / 2 + turn
            rows.append((radius * math.cos(angle), radius * math.sin(angle), z))
    return unit_rows(np.array(rows))


@functools.lru_cache(maxsize=None)
def triaugmented_prism() -> np.ndarray:
    """9 points, all contacts at cosine 1/3: a triangular prism of radius r = 2/3 at heights
    ±sqrt(5)/3 (triangle edges: -r^2/2 + h^2 = 1/3) and three equatorial points over the
    square faces (cosine r cos 60 = 1/3 to four prism vertices) (Schütte & van der Waerden
    1951)."""
    radius, height = 2.0 / 3.0, math.sqrt(5.0) / 3.0
    rows = []
    for k in range(3):
        angle = 2 * math.pi * k / 3
        rows.append((radius * math.cos(angle), radius * math.sin(angle), height))
        rows.append((radius * math.cos(angle), radius * math.sin(angle), -height))
        rows.append((math.cos(angle + math.pi / 3), math.sin(angle + math.pi / 3), 0.0))
    return unit_rows(np.array(rows))


@functools.lru_cache(maxsize=None)
def icosahedron() -> np.ndarray:
    """The 12 cyclic permutations of (0, ±1, ±phi) (Coxeter, Regular Polytopes, sec. 3.7)."""
    rows = []
    for a, b in itertools.product((1.0, -1.0), repeat=2):
        base = (0.0, a, b * GOLDEN)
        rows += [base, base[1:] + base[:1], base[2:] + base[:2]]
    return unit_rows(np.array(rows))


@functools.lru_cache(maxsize=None)
def icosahedron_less_one() -> np.ndarray:
    """The icosahedron without its last vertex: 11 points, still at the icosahedron's angle."""
    return unit_rows(icosahedron()[:-1].copy())


@functools.lru_cache(maxsize=None)
def snub_cube() -> np.ndarray:
    """24 points: even permutations of (±1, ±1/t, ±t) with an even number of plus signs and odd
    permutations with an odd number, t the tribonacci constant (Coxeter, Regular Polytopes)."""
    base = np.array([1.0, 1.0 / TRIBONACCI, TRIBONACCI])
    rows = []
    for parity in (0, 1):
        for perm in _permutations_by_parity(3, parity):
            for signs in itertools.product((1.0, -1.0), repeat=3):
                if sum(s > 0 for s in signs) % 2 == parity:
                    rows.append(np.array(signs) * base[list(perm)])
    return unit_rows(np.array(rows))


@functools.lru_cache(maxsize=None)
def petersen_code() -> np.ndarray:
    """10 points in R^4 with cosines 1/6, -2/3: the midpoints e_i + e_j (i < j) of the edges of
    the regular simplex in R^5, written in the hyperplane sum(x) = const (the rectified
    4-simplex; its contact graph is the complement of the Petersen graph)."""
    rows = []
    for i, j in itertools.combinations(range(5), 2):
        row = np.zeros(5)
        row[[i, j]] = 1.0
        rows.append(row)
    return unit_rows(np.array(rows) @ complement_basis(np.ones(5) / math.sqrt(5.0)))


@functools.lru_cache(maxsize=None)
def cell_24() -> np.ndarray:
    """The 24-cell: the 24 permutations of (±1, ±1, 0, 0), i.e. the D4 roots."""
    return unit_rows(d_roots_integer(4))


@functools.lru_cache(maxsize=None)
def cell_600() -> np.ndarray:
    """The 600-cell (Coxeter, Regular Polytopes, sec. 8.7): the 8 points ±e_i, the 16 points
    (±1/2)^4 and the 96 even permutations of (±phi, ±1, ±1/phi, 0) / 2."""
    rows = [row for row in np.concatenate([np.eye(4), -np.eye(4)])]
    rows += [np.array(signs) / 2.0 for signs in itertools.product((1.0, -1.0), repeat=4)]
    base = np.array([GOLDEN, 1.0, 1.0 / GOLDEN, 0.0]) / 2.0
    for perm in _permutations_by_parity(4, 0):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            row = np.zeros(4)
            row[list(perm)] = base * np.array(signs + (1.0,))
            rows.append(row)
    return unit_rows(np.array(rows))
