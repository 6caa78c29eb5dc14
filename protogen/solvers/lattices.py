"""Exact spherical codes from root systems, the Golay code and the Leech lattice.

Every code is generated from integer (or half-integer) coordinates and then scaled to unit rows;
codes in a lower dimension are cut out of a bigger one by fixing inner products with one or two
anchor vectors and projecting onto the anchors' orthogonal complement (:func:`slice_code`). The
facts used (coordinates, counts) are from Conway & Sloane, *Sphere Packings, Lattices and Groups*
(SPLAG), ch. 4 (D_n, E6, E7, E8, Leech) and ch. 3 (Golay code), and from the table of sharp
configurations of Cohn & Kumar, "Universally optimal distribution of points on spheres" (2007).

Builders are cached and return read-only arrays; :func:`protogen.solvers.constructions.build`
hands out copies.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

# Inner products of exact codes are rationals or simple surds; anything within this of the
# target value is that value (float round-off of the construction is ~1e-15).
_MATCH_TOL = 1e-9


def unit_rows(points: np.ndarray) -> np.ndarray:
    """``points`` scaled to unit rows, float64, read-only (builders share cached arrays)."""
    points = np.asarray(points, dtype=np.float64)
    out = np.ascontiguousarray(points / np.linalg.norm(points, axis=1, keepdims=True))
    out.setflags(write=False)
    return out


def complement_basis(anchors: np.ndarray) -> np.ndarray:
    """Orthonormal basis (columns) of the orthogonal complement of the rows of ``anchors``.

    Taken from a complete QR factorisation (Householder reflections), which is orthogonal to
    machine precision, so projected codes keep their inner products to ~1e-16.
    """
    anchors = np.atleast_2d(np.asarray(anchors, dtype=np.float64))
    q, _ = np.linalg.qr(anchors.T, mode="complete")
    return q[:, anchors.shape[0]:]


def slice_code(points: np.ndarray, anchors, values) -> np.ndarray:
    """Rows x of ``points`` with <x, anchors[k]> = values[k] for every k, projected onto the
    complement of the anchors (a code in dim - len(anchors) dimensions) and rescaled to unit rows.

    This is the derived-code construction of Cohn & Kumar (2007), sec. 1: the points of a code at
    a fixed inner product with a given point form a code in one dimension fewer.
    """
    anchors = np.atleast_2d(np.asarray(anchors, dtype=np.float64))
    mask = np.ones(points.shape[0], dtype=bool)
    for anchor, value in zip(anchors, np.atleast_1d(values)):
        mask &= np.abs(points @ anchor - value) < _MATCH_TOL
    return unit_rows(points[mask] @ complement_basis(anchors))


# --- root systems ----------------------------------------------------------------------------

def d_roots_integer(n: int) -> np.ndarray:
    """The 2n(n-1) roots ±e_i ± e_j (i < j) of D_n, integer coordinates (norm 2)."""
    rows = []
    for i, j in itertools.combinations(range(n), 2):
        for a, b in itertools.product((1, -1), repeat=2):
            row = np.zeros(n)
            row[i], row[j] = a, b
            rows.append(row)
    return np.array(rows)


def demicube_integer(n: int) -> np.ndarray:
    """The 2^(n-1) vectors of (±1)^n with an even number of minus signs (the n-demicube)."""
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    return signs[(signs < 0).sum(axis=1) % 2 == 0]


@functools.lru_cache(maxsize=None)
def e8_roots() -> np.ndarray:
    """The 240 roots of E8 (SPLAG ch. 4 sec. 8.1): the 112 roots of D8 and the 128 vectors
    (±1/2)^8 with an even number of minus signs; all of norm 2, unit rows here."""
    return unit_rows(np.concatenate([d_roots_integer(8), demicube_integer(8) / 2.0]))


def _e8_anchor_pair() -> tuple[np.ndarray, np.ndarray]:
    """Two unit E8 roots a, b at 120 degrees (<a, b> = -1 at norm 2): simple roots of an A2."""
    a = np.array([1, -1, 0, 0, 0, 0, 0, 0]) / np.sqrt(2)
    b = np.array([0, 1, -1, 0, 0, 0, 0, 0]) / np.sqrt(2)
    return a, b


@functools.lru_cache(maxsize=None)
def e7_roots() -> np.ndarray:
    """The 126 roots of E7: the E8 roots orthogonal to one root (SPLAG ch. 4 sec. 8.2)."""
    a, _ = _e8_anchor_pair()
    return slice_code(e8_roots(), [a], [0.0])


@functools.lru_cache(maxsize=None)
def e6_roots() -> np.ndarray:
    """The 72 roots of E6: the E8 roots orthogonal to an A2 sub-root-system (SPLAG ch. 4
    sec. 8.3)."""
    a, b = _e8_anchor_pair()
    return slice_code(e8_roots(), [a, b], [0.0, 0.0])


@functools.lru_cache(maxsize=None)
def gosset_56() -> np.ndarray:
    """56 points in R^7 with cosines -1, ±1/3 (the Gosset polytope 3_21): the E8 roots at
    inner product 1 with a fixed root (cosine 1/2 between unit roots), projected."""
    a, _ = _e8_anchor_pair()
    return slice_code(e8_roots(), [a], [0.5])


@functools.lru_cache(maxsize=None)
def schlafli_27() -> np.ndarray:
    """27 points in R^6 with cosines 1/4, -1/2 (the Schläfli polytope 2_21): the E8 roots r
    with <r, a> = 1, <r, b> = 0 for simple roots a, b of an A2, i.e. the roots projecting onto
    one weight of the 3-dimensional representation of A2 in E8 = E6 x A2 + (27, 3) + ..."""
    a, b = _e8_anchor_pair()
    return slice_code(e8_roots(), [a, b], [0.5, 0.0])


# --- the binary Golay code and the Leech lattice -----------------------------------------------

# Generator polynomial of the cyclic [23, 12, 7] Golay code: 1 + x^2 + x^4 + x^5 + x^6 + x^10 + x^11
# (MacWilliams & Sloane, The Theory of Error-Correcting Codes, 1977, ch. 2 sec. 6).
_GOLAY_POLY_EXPONENTS = (0, 2, 4, 5, 6, 10, 11)


@functools.lru_cache(maxsize=None)
def golay_codewords() -> np.ndarray:
    """All 4096 words of the extended binary Golay code [24, 12, 8], as a (4096, 24) 0/1 array.

    The 12 shifts x^k g(x) (k = 0..11) of the generator polynomial span the cyclic code of
    length 23; an overall parity bit extends it to length 24.
    """
    generator = np.zeros((12, 24), dtype=np.int64)
    for shift in range(12):
        generator[shift, [shift + e for e in _GOLAY_POLY_EXPONENTS]] = 1
    generator[:, 23] = generator[:, :23].sum(axis=1) % 2
    messages = (np.arange(4096)[:, None] >> np.arange(12)[None, :]) & 1
    words = (messages @ generator) % 2
    words.setflags(write=False)
    return words


@functools.lru_cache(maxsize=None)
def leech_integer() -> np.ndarray:
    """The 196560 minimal vectors of the Leech lattice, scaled by sqrt 8 (norm 32), as int8.

    SPLAG ch. 4 sec. 11, Table 4.13: shape (±2^8, 0^16) on the octads (weight-8 Golay words)
    with an even number of minus signs (759 * 2^7 = 97152); shape (-3, 1^23) with the -3 in any
    place and the signs flipped on any Golay word (24 * 4096 = 98304); shape (±4^2, 0^22)
    (276 * 4 = 1104).
    """
    words = golay_codewords()
    octads = words[words.sum(axis=1) == 8].astype(bool)
    even_signs = demicube_integer(8).astype(np.int8)  # 128 sign patterns with even minus count
    shape_2 = np.zeros((octads.shape[0], even_signs.shape[0], 24), dtype=np.int8)
    for k, octad in enumerate(octads):
        shape_2[k][:, octad] = 2 * even_signs
    flips = (1 - 2 * words).astype(np.int8)  # +1 off the codeword, -1 on it
    shape_3 = np.repeat(flips[None, :, :], 24, axis=0)  # (place of the -3, codeword, coords)
    shape_3[np.arange(24), :, np.arange(24)] *= -3
    shape_4 = d_roots_integer(24).astype(np.int8) * 4
    out = np.concatenate([shape_2.reshape(-1, 24), shape_3.reshape(-1, 24), shape_4])
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=None)
def leech_min_vectors() -> np.ndarray:
    """The 196560 minimal vectors of the Leech lattice as unit rows (38 MB of float64)."""
    return unit_rows(leech_integer().astype(np.float64))


@functools.lru_cache(maxsize=None)
def leech_4600() -> np.ndarray:
    """4600 points in R^23, cosines -1, ±1/3, 0: the Leech minimal vectors at cosine 1/2 with a
    fixed one (the kissing configuration of the laminated lattice O_23), projected."""
    leech = leech_min_vectors()
    return slice_code(leech, [leech[0]], [0.5])


@functools.lru_cache(maxsize=None)
def leech_891() -> np.ndarray:
    """891 points in R^22, cosines -1/2, -1/8, 1/4: the points of the 4600-point code at
    cosine 1/3 with a fixed one, projected."""
    code = leech_4600()
    return slice_code(code, [code[0]], [1.0 / 3.0])


# A vector of type 3 (norm 6, i.e. 48 at scale sqrt 8) of the Leech lattice: shape (5, 1^23)
# satisfies the congruences of SPLAG ch. 4 eq. (144) (all coordinates = 1 mod 4, sum = 4 mod 8).
_LEECH_TYPE3 = np.array([5.0] + [1.0] * 23)


@functools.lru_cache(maxsize=None)
def leech_552() -> np.ndarray:
    """552 points in R^23, cosines -1, ±1/5 (276 equiangular lines): a type-3 vector c is the
    sum of two minimal vectors in 276 ways (SPLAG ch. 4 sec. 11); the 552 minimal vectors x with
    c - x minimal (<x, c> = 3 at norm 4), projected onto c's complement."""
    anchor = _LEECH_TYPE3 / np.linalg.norm(_LEECH_TYPE3)
    cosine = 24.0 / np.sqrt(32.0 * 48.0)  # <x, c> = 24 at scale sqrt 8
    return slice_code(leech_min_vectors(), [anchor], [cosine])


@functools.lru_cache(maxsize=None)
def mclaughlin_275() -> np.ndarray:
    """275 points in R^22, cosines 1/6, -1/4 (McLaughlin graph): the 275 lines at cosine +1/5
    with one of the 276 equiangular lines, projected."""
    code = leech_552()
    return slice_code(code, [code[0]], [0.2])


@functools.lru_cache(maxsize=None)
def mclaughlin_162() -> np.ndarray:
    """162 points in R^21, cosines 1/7, -2/7: the points of the 275-point code at cosine 1/6
    (non-neighbours in the McLaughlin graph) with a fixed one, projected."""
    code = mclaughlin_275()
    return slice_code(code, [code[0]], [1.0 / 6.0])


@functools.lru_cache(maxsize=None)
def mclaughlin_112() -> np.ndarray:
    """112 points in R^21, cosines 1/9, -1/3: the points of the 275-point code at cosine -1/4
    (neighbours in the McLaughlin graph) with a fixed one, projected."""
    code = mclaughlin_275()
    return slice_code(code, [code[0]], [-0.25])


def steiner_hexads() -> np.ndarray:
    """(77, 22) 0/1 incidence of the blocks (hexads) of the Steiner system S(3, 6, 22) with its
    points: the octads of the Golay code through two fixed coordinates, less those two."""
    words = golay_codewords()
    octads = words[(words.sum(axis=1) == 8) & (words[:, 0] == 1) & (words[:, 1] == 1)]
    return octads[:, 2:].astype(np.int64)


def m22_graph() -> np.ndarray:
    """srg(77, 16, 0, 4): the hexads of S(3, 6, 22), adjacent when disjoint."""
    hexads = steiner_hexads()
    return ((hexads @ hexads.T) == 0).astype(np.int64)


def higman_sims_graph() -> np.ndarray:
    """Adjacency matrix of the Higman-Sims graph, srg(100, 22, 0, 6), from the Steiner system
    S(3, 6, 22) (Higman & Sims 1968): a vertex *, the 22 points and the 77 hexads; * is adjacent
    to the points, a point to the hexads through it, two hexads when they are disjoint."""
    hexads = steiner_hexads()
    n_points, n_hexads = hexads.shape[1], hexads.shape[0]
    size = 1 + n_points + n_hexads
    adjacency = np.zeros((size, size), dtype=np.int64)
    adjacency[0, 1:1 + n_points] = adjacency[1:1 + n_points, 0] = 1
    adjacency[1:1 + n_points, 1 + n_points:] = hexads.T
    adjacency[1 + n_points:, 1:1 + n_points] = hexads
    adjacency[1 + n_points:, 1 + n_points:] = m22_graph()
    return adjacency


def srg_spectral_code(adjacency: np.ndarray) -> np.ndarray:
    """Unit rows spanning the eigenspace of the least eigenvalue of a strongly regular graph.

    An srg(n, k, lambda, mu) has eigenvalues k > r > s, the roots r, s of
    x^2 - (lambda - mu) x - (k - mu); the orthogonal projection onto the s-eigenspace is
    E = (A - r I - (k - r)/n J) / (s - r) (Brouwer & Haemers, Spectra of Graphs, ch. 9). Its
    diagonal is constant, so the rows of any factor E = X X^T, rescaled, form a two-distance
    code in dimension rank(E) = mult(s). X comes from a pivoted Cholesky factorisation (LAPACK
    dpstrf), O(n mult(s)^2) and stable here since E's non-zero eigenvalues are all 1.
    """
    from scipy.linalg import lapack

    adjacency = np.asarray(adjacency)
    size = adjacency.shape[0]
    first = adjacency[0].astype(np.int64)
    degree = int(first.sum())
    neighbour = int(np.flatnonzero(first)[0])
    stranger = int(np.flatnonzero(first == 0)[1])  # [0] is vertex 0 itself
    lam = int(first @ adjacency[neighbour].astype(np.int64))
    mu = int(first @ adjacency[stranger].astype(np.int64))
    disc = np.sqrt((lam - mu) ** 2 + 4 * (degree - mu))
    r, s = ((lam - mu) + disc) / 2, ((lam - mu) - disc) / 2
    # Built in place: one dense float matrix besides the factor (7300 points: 0.4 GB each).
    projection = adjacency.astype(np.float64)
    projection -= (degree - r) / size
    projection[np.diag_indices(size)] -= r
    projection /= s - r
    factor, pivots, rank, info = lapack.dpstrf(projection, lower=1, tol=1e-10)
    if info < 0:
        raise RuntimeError(f"dpstrf failed (info={info})")
    points = np.zeros((size, rank))
    points[pivots - 1] = np.tril(factor)[:, :rank]
    return unit_rows(points)


@functools.lru_cache(maxsize=None)
def higman_sims_100() -> np.ndarray:
    """100 points in R^22, cosines 1/11 (non-edges) and -4/11 (edges): the spectral embedding
    of the Higman-Sims graph on its eigenvalue -8 (multiplicity 22)."""
    return srg_spectral_code(higman_sims_graph())
