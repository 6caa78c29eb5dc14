"""Sharp codes from the elliptic quadric Q^-(5, q): (q+1)(q^3+1) points in q(q^3+1)/(q+1)
dimensions with cosines 1/q^2 and -1/q.

The singular points of a non-degenerate elliptic quadratic form on GF(q)^6 form the generalized
quadrangle Q^-(5, q) of order (q, q^2); its collinearity graph (two points adjacent when the
line through them lies on the quadric, i.e. when they are orthogonal) is strongly regular with
eigenvalues q(q^2+1), q-1 and -(q^2+1), the last of multiplicity q(q^3+1)/(q+1). The spectral
embedding on that eigenvalue (:func:`protogen.solvers.lattices.srg_spectral_code`) is the
family of sharp configurations "q(q^3+1)/(q+1), (q+1)(q^3+1)" of Cohn & Kumar (2007), Table 1
(q = 2 gives the 27-point code in R^6, q = 3 the 112-point code in R^21). Facts from Brouwer &
Van Maldeghem, *Strongly Regular Graphs* (2022), ch. 2.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from protogen.errors import InputError
from protogen.solvers.lattices import srg_spectral_code

_PRIME_POWERS = {2: (2, 1), 3: (3, 1), 4: (2, 2), 5: (5, 1), 7: (7, 1), 8: (2, 3), 9: (3, 2)}


def field_tables(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Addition and multiplication tables of GF(q) (q a prime power up to 9).

    Elements are the integers 0..q-1 read as polynomials over GF(p) (base-p digits, constant
    term first); products are reduced modulo the first monic irreducible polynomial of degree k
    (for k <= 3, irreducible means without a root in GF(p)).
    """
    if q not in _PRIME_POWERS:
        raise InputError(f"GF(q) is supported for q in {sorted(_PRIME_POWERS)}, not {q}")
    p, k = _PRIME_POWERS[q]
    digits = np.array([[(x // p**i) % p for i in range(k)] for x in range(q)])
    modulus = None
    for low in itertools.product(range(p), repeat=k):  # monic: x^k + sum low[i] x^i
        if k == 1 or all((sum(c * t**i for i, c in enumerate(low)) + t**k) % p for t in range(p)):
            modulus = np.array(low)
            break
    add = ((digits[:, None, :] + digits[None, :, :]) % p) @ (p ** np.arange(k))
    mul = np.zeros((q, q), dtype=np.int64)
    for a, b in itertools.product(range(q), repeat=2):
        prod = np.convolve(digits[a], digits[b]) % p  # degree <= 2k - 2
        for deg in range(2 * k - 2, k - 1, -1):  # x^deg = -x^(deg-k) * low(x)
            coef = prod[deg]
            prod[deg] = 0
            prod[deg - k:deg] = (prod[deg - k:deg] - coef * modulus) % p
        mul[a, b] = int(prod[:k] @ (p ** np.arange(k)))
    return add.astype(np.int64), mul


def elliptic_quadric_graph(q: int) -> np.ndarray:
    """Adjacency matrix (int8, 0/1) of the collinearity graph of Q^-(5, q).

    The form is Q(x) = x0 x1 + x2 x3 + x4^2 + x4 x5 + a x5^2 with t^2 + t + a irreducible over
    GF(q) (two hyperbolic planes plus an anisotropic plane: the elliptic type). Points are the
    singular vectors whose first non-zero coordinate is 1; two of them, x and y, are orthogonal
    when the polar form Q(x + y) - Q(x) - Q(y) = Q(x + y) vanishes.
    """
    add, mul = field_tables(q)

    def quadratic(x, a):
        terms = [mul[x[..., 0], x[..., 1]], mul[x[..., 2], x[..., 3]], mul[x[..., 4], x[..., 4]],
                 mul[x[..., 4], x[..., 5]], mul[a, mul[x[..., 5], x[..., 5]]]]
        return functools.reduce(lambda u, v: add[u, v], terms)

    a = next(c for c in range(q) if all(add[add[mul[t, t], t], c] != 0 for t in range(q)))
    vectors = np.array(list(itertools.product(range(q), repeat=6)), dtype=np.int64)
    first = vectors[np.arange(len(vectors)), (vectors != 0).argmax(axis=1)]  # 0 for 0 only
    points = vectors[(first == 1) & (quadratic(vectors, a) == 0)]
    adjacency = np.zeros((len(points), len(points)), dtype=np.int8)
    for start in range(0, len(points), 256):  # blocks of rows bound the memory of the sums
        sums = add[points[start:start + 256, None, :], points[None, :, :]]
        adjacency[start:start + 256] = quadratic(sums, a) == 0
    np.fill_diagonal(adjacency, 0)
    return adjacency


@functools.lru_cache(maxsize=None)
def isotropic_code(q: int) -> np.ndarray:
    """(q+1)(q^3+1) unit vectors in R^(q(q^3+1)/(q+1)) with cosines 1/q^2 and -1/q."""
    return srg_spectral_code(elliptic_quadric_graph(q))
