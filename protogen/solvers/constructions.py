"""A library of exact spherical codes with citations, and the best one for a given (K, D).

Each entry of :data:`CONSTRUCTIONS` is generated from coordinates or generators
(:mod:`protogen.solvers.polytopes`, :mod:`protogen.solvers.lattices`) and carries the exact
largest cosine between distinct points (a closed form), a status and a citation:

- ``proved``: optimal for the Tammes problem (largest minimum angle for K points in R^D);
- ``best known``: the record of the tables, optimality open;
- ``construction``: a valid exact code with no record claim (family members such as D_n).

Two families are resolved by name for any size: ``d<n>`` (the 2n(n-1) roots of D_n, cosine
1/2) and ``demicube<n>`` (the 2^(n-1) half-cube vertices, cosine (n-4)/n). The simplex,
cross-polytope and polygon live in :mod:`protogen.solvers.closed_form` and are reused here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from protogen.errors import InputError
from protogen.solvers import lattices, polytopes, quadrics, three_point_codes
from protogen.solvers.closed_form import optimal_closed_form
from protogen.sphere import max_cosine

PROVED, BEST_KNOWN, CONSTRUCTION = "proved", "best known", "construction"

_SPLAG = "Conway & Sloane, Sphere Packings, Lattices and Groups (SPLAG), 3rd ed. 1999"
_COHN_KUMAR = ("Cohn & Kumar, Universally optimal distribution of points on spheres, "
               "J. Amer. Math. Soc. 20 (2007), Table 1 (sharp configuration)")
_COHN_DE_LAAT = ("optimal: Cohn, de Laat & Leijenhorst, Optimality of spherical codes via exact "
                 "semidefinite programming bounds (2024), arXiv:2403.16874")
_SCHUTTE = ("Schütte & van der Waerden, Auf welcher Kugel haben 5, 6, 7, 8 oder 9 Punkte mit "
            "Mindestabstand Eins Platz?, Math. Ann. 123 (1951)")
_KISSING_BOUNDS = ("Levenshtein, On bounds for packings in n-dimensional Euclidean space (1979); "
                   "Odlyzko & Sloane, New bounds on the number of unit spheres that can touch a "
                   "unit sphere in n dimensions, J. Combin. Theory A 26 (1979)")

_CLOSED_FORM_PROOFS = {
    "polygon": "regular polygon: optimal on the circle (equal arcs)",
    "simplex": "regular simplex: optimal by the simplex bound (Rankin 1955)",
    "cross-polytope": "cross-polytope: optimal by Rankin's bound for K > D + 1 (Rankin 1955)",
}
# A subset is chosen greedily while this many multiply-adds (kept x candidates x dim) suffice;
# beyond it the first K rows are taken (still at least the full code's angle).
_SUBSET_FLOPS = 5e8
# At most this many candidate codes have their subsets evaluated by construction_for.
_MAX_CANDIDATES = 4
_D_FAMILY_MAX, _DEMICUBE_MAX = 256, 20


@dataclass(frozen=True)
class Construction:
    """An exact spherical code: ``num`` unit vectors in R^``dim`` whose largest cosine between
    distinct points is ``cosine`` (closed form ``cosine_text``)."""

    name: str
    num: int
    dim: int
    cosine: float
    cosine_text: str
    status: str
    citation: str
    builder: Callable[[], np.ndarray]
    sharp: bool = False  # attains the Delsarte/Levenshtein LP bound (Cohn & Kumar 2007)
    subset_source: bool = True  # False: too slow to build just to take a subset of it

    @property
    def min_angle_deg(self) -> float:
        return math.degrees(math.acos(self.cosine))

    def describe(self) -> str:
        return (f"{self.name}: {self.num} points in R^{self.dim}, cos {self.cosine_text} "
                f"({self.min_angle_deg:.10g} deg), {self.status}; {self.citation}")


def _entry(name, num, dim, cosine, text, status, citation, builder, sharp=False,
           subset_source=True):
    return name, Construction(name, num, dim, float(cosine), text, status, citation, builder,
                              sharp, subset_source)


_SQRT5 = math.sqrt(5.0)
CONSTRUCTIONS: dict[str, Construction] = dict([
    _entry("square-antiprism", 8, 3, (2 * math.sqrt(2) - 1) / 7, "(2 sqrt2 - 1)/7", PROVED,
           _SCHUTTE, polytopes.square_antiprism),
    _entry("triaugmented-prism", 9, 3, 1 / 3, "1/3", PROVED, _SCHUTTE,
           polytopes.triaugmented_prism),
    _entry("icosahedron-11", 11, 3, 1 / _SQRT5, "1/sqrt5", PROVED,
           "Danzer, Finite point-sets on S^2 with minimum distance as large as possible, "
           "Discrete Math. 60 (1986; thesis 1963); Böröczky 1983",
           polytopes.icosahedron_less_one),
    _entry("icosahedron", 12, 3, 1 / _SQRT5, "1/sqrt5", PROVED,
           "Fejes Tóth, Lagerungen in der Ebene, auf der Kugel und im Raum (1953; 1943 paper); "
           + _COHN_KUMAR, polytopes.icosahedron, sharp=True),
    _entry("snub-cube", 24, 3, (polytopes.TRIBONACCI - 1) / (3 - polytopes.TRIBONACCI),
           "(t - 1)/(3 - t), t^3 = t^2 + t + 1", PROVED,
           "Robinson, Arrangement of 24 points on a sphere, Math. Ann. 144 (1961)",
           polytopes.snub_cube),
    _entry("petersen", 10, 4, 1 / 6, "1/6", PROVED,
           "Bachoc & Vallentin, Optimality and uniqueness of the (4,10,1/6) spherical code, "
           "J. Combin. Theory A 116 (2009)", polytopes.petersen_code),
    _entry("24-cell", 24, 4, 0.5, "1/2", BEST_KNOWN,
           _SPLAG + "; kissing number 24 proved by Musin, The kissing number in four "
           "dimensions, Ann. of Math. 168 (2008); Tammes optimality open", polytopes.cell_24),
    _entry("600-cell", 120, 4, (1 + _SQRT5) / 4, "(1 + sqrt5)/4", PROVED,
           "Böröczky 1978; Andreev, A spherical code, Russian Math. Surveys 54 (1999); "
           "universally optimal: Cohn & Kumar 2007", polytopes.cell_600),
    _entry("demicube5", 16, 5, 0.2, "1/5", PROVED,
           "Clebsch graph code; " + _COHN_KUMAR, lambda: _demicube(5), sharp=True),
    _entry("d5", 40, 5, 0.5, "1/2", BEST_KNOWN,
           _SPLAG + ", Table 1.5 (D5 kissing configuration, best known kissing number 40)",
           lambda: _d_roots(5)),
    _entry("schlafli-27", 27, 6, 0.25, "1/4", PROVED, "Schläfli graph code (2_21 polytope); "
           + _COHN_KUMAR, lattices.schlafli_27, sharp=True),
    _entry("e6", 72, 6, 0.5, "1/2", BEST_KNOWN,
           _SPLAG + ", ch. 4 sec. 8.3, Table 1.5 (E6 roots, best known kissing number 72)",
           lattices.e6_roots),
    _entry("gosset-56", 56, 7, 1 / 3, "1/3", PROVED, "Gosset polytope 3_21; " + _COHN_KUMAR,
           lattices.gosset_56, sharp=True),
    _entry("e7", 126, 7, 0.5, "1/2", BEST_KNOWN,
           _SPLAG + ", ch. 4 sec. 8.2, Table 1.5 (E7 roots, best known kissing number 126)",
           lattices.e7_roots),
    _entry("e8", 240, 8, 0.5, "1/2", PROVED, "E8 roots, " + _SPLAG + " ch. 4 sec. 8.1; optimal: "
           + _KISSING_BOUNDS + "; " + _COHN_KUMAR, lattices.e8_roots, sharp=True),
    _entry("kerdock-288", 288, 16, 0.25, "1/4", PROVED,
           "nine mutually unbiased bases of R^16 from a Kerdock set, both signs; universally "
           + _COHN_DE_LAAT, lambda: three_point_codes.kerdock_code(4)),
    _entry("kerdock-4224", 4224, 64, 0.125, "1/8", PROVED,
           "33 mutually unbiased bases of R^64 from a Kerdock set, both signs; "
           + _COHN_DE_LAAT, lambda: three_point_codes.kerdock_code(6), subset_source=False),
    _entry("gewirtz-56", 56, 20, 1 / 15, "1/15", PROVED,
           "Gewirtz graph code (spectral embedding, srg(56, 10, 0, 2)); " + _COHN_DE_LAAT,
           three_point_codes.gewirtz_56),
    _entry("hoffman-singleton-50", 50, 21, 1 / 21, "1/21", PROVED,
           "Hoffman-Singleton graph code (spectral embedding, srg(50, 7, 0, 1)); "
           + _COHN_DE_LAAT, three_point_codes.hoffman_singleton_50),
    _entry("m22-77", 77, 21, 1 / 12, "1/12", PROVED,
           "M22 graph code (spectral embedding, srg(77, 16, 0, 4)); " + _COHN_DE_LAAT,
           three_point_codes.m22_77),
    _entry("mclaughlin-112", 112, 21, 1 / 9, "1/9", PROVED,
           "first subconstituent of the McLaughlin graph code; " + _COHN_KUMAR,
           lattices.mclaughlin_112, sharp=True),
    _entry("mclaughlin-162", 162, 21, 1 / 7, "1/7", PROVED,
           "second subconstituent of the McLaughlin graph code; " + _COHN_KUMAR,
           lattices.mclaughlin_162, sharp=True),
    _entry("higman-sims-100", 100, 22, 1 / 11, "1/11", PROVED,
           "Higman-Sims graph code (Higman & Sims 1968); " + _COHN_KUMAR,
           lattices.higman_sims_100, sharp=True),
    _entry("mclaughlin-275", 275, 22, 1 / 6, "1/6", PROVED,
           "McLaughlin graph code (McLaughlin 1969); " + _COHN_KUMAR,
           lattices.mclaughlin_275, sharp=True),
    _entry("leech-891", 891, 22, 0.25, "1/4", PROVED, "from the Leech lattice; " + _COHN_KUMAR,
           lattices.leech_891, sharp=True),
    _entry("leech-552", 552, 23, 0.2, "1/5", PROVED,
           "276 equiangular lines from the Leech lattice; " + _COHN_KUMAR,
           lattices.leech_552, sharp=True),
    _entry("leech-4600", 4600, 23, 1 / 3, "1/3", PROVED,
           "kissing configuration of the laminated lattice O_23; " + _COHN_KUMAR,
           lattices.leech_4600, sharp=True),
    _entry("isotropic-325", 325, 52, 1 / 16, "1/16", PROVED,
           "elliptic quadric Q^-(5,4) (isotropic subspaces, q = 4); " + _COHN_KUMAR,
           lambda: quadrics.isotropic_code(4), sharp=True),
    _entry("isotropic-756", 756, 105, 1 / 25, "1/25", PROVED,
           "elliptic quadric Q^-(5,5) (isotropic subspaces, q = 5); " + _COHN_KUMAR,
           lambda: quadrics.isotropic_code(5), sharp=True),
    _entry("isotropic-2752", 2752, 301, 1 / 49, "1/49", PROVED,
           "elliptic quadric Q^-(5,7) (isotropic subspaces, q = 7); " + _COHN_KUMAR,
           lambda: quadrics.isotropic_code(7), sharp=True, subset_source=False),
    _entry("isotropic-4617", 4617, 456, 1 / 64, "1/64", PROVED,
           "elliptic quadric Q^-(5,8) (isotropic subspaces, q = 8); " + _COHN_KUMAR,
           lambda: quadrics.isotropic_code(8), sharp=True, subset_source=False),
    _entry("isotropic-7300", 7300, 657, 1 / 81, "1/81", PROVED,
           "elliptic quadric Q^-(5,9) (isotropic subspaces, q = 9); " + _COHN_KUMAR,
           lambda: quadrics.isotropic_code(9), sharp=True, subset_source=False),
    _entry("leech", 196560, 24, 0.5, "1/2", PROVED,
           "Leech lattice minimal vectors, " + _SPLAG + " ch. 4 sec. 11; optimal: "
           + _KISSING_BOUNDS + "; " + _COHN_KUMAR, lattices.leech_min_vectors, sharp=True),
])

ALIASES = {"d4": "24-cell", "clebsch": "demicube5", "2_21": "schlafli-27", "3_21": "gosset-56",
           "4_21": "e8", "higman-sims": "higman-sims-100", "mclaughlin": "mclaughlin-275"}


def _d_roots(n: int) -> np.ndarray:
    return lattices.unit_rows(lattices.d_roots_integer(n))


def _demicube(n: int) -> np.ndarray:
    return lattices.unit_rows(lattices.demicube_integer(n))


def _family(name: str) -> Construction | None:
    match = re.fullmatch(r"(d|demicube)(\d+)", name)
    if match is None:
        return None
    family, n = match.group(1), int(match.group(2))
    if family == "d":
        if not 3 <= n <= _D_FAMILY_MAX:
            raise InputError(f"d<n> (the D_n root system) needs 3 <= n <= {_D_FAMILY_MAX}, "
                             f"not {n}")
        return Construction(name, 2 * n * (n - 1), n, 0.5, "1/2", CONSTRUCTION,
                            f"D{n} root system, " + _SPLAG + " ch. 4 sec. 7.1",
                            lambda: _d_roots(n))
    if not 5 <= n <= _DEMICUBE_MAX:
        raise InputError(f"demicube<n> (the half-cube) needs 5 <= n <= {_DEMICUBE_MAX}, not {n}")
    return Construction(name, 2 ** (n - 1), n, (n - 4) / n, f"{n - 4}/{n}", CONSTRUCTION,
                        f"{n}-demicube (half-cube vertices), " + _SPLAG, lambda: _demicube(n))


def get(name: str) -> Construction:
    """The construction called ``name`` (a registry name, an alias, ``d<n>`` or
    ``demicube<n>``); an unknown name is an InputError listing the known ones."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key in CONSTRUCTIONS:
        return CONSTRUCTIONS[key]
    found = _family(key)
    if found is None:
        raise InputError(f"unknown construction {name!r}; known: "
                         f"{', '.join(CONSTRUCTIONS)}, d<n>, demicube<n>")
    return found


def build(name: str) -> np.ndarray:
    """The points of construction ``name`` as a fresh (num, dim) array of unit rows."""
    return np.array(get(name).builder(), dtype=np.float64)


def farthest_point_subset(points: np.ndarray, num: int, *,
                          progress: bool = False) -> tuple[np.ndarray, float]:
    """Indices of ``num`` rows chosen greedily farthest-first, and the subset's max cosine.

    Starting from row 0, each step keeps the row whose largest cosine to the rows kept so far
    is smallest (ties, within 1e-12, go to the lowest index, so the choice is reproducible).
    The cosine of each new row to the kept set is its largest cosine in the subset at that time,
    so their maximum is exactly the subset's max cosine. Any subset keeps at least the full
    code's min angle; the greedy choice often does better (20 of the 600-cell's 120 points at 60
    degrees instead of 36). Cost: num x len(points) x dim multiply-adds.
    """
    points = np.asarray(points, dtype=np.float64)
    total = points.shape[0]
    if not 1 <= num <= total:
        raise InputError(f"cannot take {num} of {total} points")
    kept = np.empty(num, dtype=np.int64)
    kept[0] = 0
    nearest = points @ points[0]
    nearest[0] = np.inf
    worst = -1.0
    for step in tqdm(range(1, num), desc="subset", disable=not progress, leave=False):
        best = float(nearest.min())
        pick = int(np.flatnonzero(nearest <= best + 1e-12)[0])
        worst = max(worst, float(nearest[pick]))
        kept[step] = pick
        np.maximum(nearest, points @ points[pick], out=nearest)
        nearest[pick] = np.inf
    return kept, min(1.0, worst)


def _candidates(num: int, dim: int) -> list[Construction]:
    """Codes with at least ``num`` points in ``dim`` or fewer dimensions, best angle first.

    Of the families only the smallest member that holds ``num`` points can matter: a smaller D_n
    sits inside a bigger one at the same angle, and the demicube's angle falls as n grows.
    """
    found = [c for c in CONSTRUCTIONS.values()
             if c.dim <= dim and c.num >= num and (c.subset_source or c.num == num)]
    d_size = next((n for n in range(4, min(dim, _D_FAMILY_MAX) + 1) if 2 * n * (n - 1) >= num),
                  None)
    if d_size is not None:
        found.append(get(f"d{d_size}"))
    cube_size = next((n for n in range(5, min(dim, _DEMICUBE_MAX) + 1) if 2 ** (n - 1) >= num),
                     None)
    if cube_size is not None:
        found.append(get(f"demicube{cube_size}"))
    return sorted(found, key=lambda c: (c.cosine, c.num, c.dim, c.name))


def _info(code: Construction, how: str, num: int, cos: float, exact_angle: bool = True) -> dict:
    record = how == "exact" and code.status in (PROVED, BEST_KNOWN)
    return {
        "construction": code.name, "how": how, "status": code.status if record else CONSTRUCTION,
        "citation": code.citation, "source_num": code.num, "source_dim": code.dim,
        "source_cosine": code.cosine_text, "num": num, "max_cosine": float(cos),
        "min_angle_deg": math.degrees(math.acos(cos)), "angle_is_lower_bound": not exact_angle,
    }


def _subset_of(code: Construction, num: int, progress: bool) -> tuple[np.ndarray, float, bool]:
    """(points, max cosine, whether the cosine is measured rather than the full code's)."""
    points = code.builder()
    if num == code.num:
        return points, code.cosine, True
    if num * code.num * code.dim <= _SUBSET_FLOPS:
        kept, max_cos = farthest_point_subset(points, num, progress=progress)
        return points[np.sort(kept)], max_cos, True
    head = points[:num]
    if num * num * code.dim <= _SUBSET_FLOPS:
        return head, max_cosine(head), True
    return head, code.cosine, False


def _placed(code: Construction, num: int, dim: int, progress: bool) -> tuple[np.ndarray, dict]:
    """``num`` points of ``code`` (all, or a subset) zero-padded to ``dim``, with their info."""
    points, max_cos, measured = _subset_of(code, num, progress)
    how = ("subset" if num < code.num else "exact") if code.dim == dim else (
        "embedded subset" if num < code.num else "embedded")
    padded = np.zeros((num, dim))
    padded[:, :code.dim] = points
    return padded, _info(code, how, num, max_cos, measured)


def fit(name: str, num: int, dim: int, *, progress: bool = False) -> tuple[np.ndarray, dict]:
    """The named construction used for ``num`` points in R^``dim``: the code itself, or its
    farthest-first subset, zero-padded when ``dim`` exceeds its dimension; ``info`` as in
    :func:`construction_for`. A code with fewer than ``num`` points or more than ``dim``
    dimensions is an InputError."""
    code = get(name)
    if int(num) != num or int(dim) != dim or num < 2:
        raise InputError(f"need at least 2 points and an integer dimension, got {num!r} points "
                         f"in {dim!r} dimensions")
    if num > code.num or dim < code.dim:
        raise InputError(f"construction {code.name} has {code.num} points in {code.dim} "
                         f"dimensions: it cannot give {num} points in {dim} dimensions")
    return _placed(code, int(num), int(dim), progress)


def exact_record(num: int, dim: int, *,
                 registered: bool = True) -> tuple[str, np.ndarray, dict] | None:
    """The code of exactly (num, dim) that is proved optimal or the best known, or None.

    A provably optimal closed form (:func:`optimal_closed_form`: polygon, simplex,
    cross-polytope) first, then a registered code of exactly ``num`` points in R^``dim`` with
    status ``proved`` or ``best known`` (the smallest cosine when several; only when
    ``registered``). Cheap: nothing is built unless it is returned. ``info`` as in
    :func:`construction_for`.
    """
    if int(num) != num or int(dim) != dim or num < 2 or dim < 1:
        raise InputError(f"need at least 2 points and a positive dimension, got {num!r} points "
                         f"in {dim!r} dimensions")
    num, dim = int(num), int(dim)
    closed = optimal_closed_form(num, dim)
    if closed is not None:
        name, points = closed
        cos = max_cosine(points)
        info = {"construction": name, "how": "closed form", "status": PROVED,
                "citation": _CLOSED_FORM_PROOFS[name],
                "source_num": num, "source_dim": dim, "source_cosine": "", "num": num,
                "max_cosine": cos, "min_angle_deg": math.degrees(math.acos(cos)),
                "angle_is_lower_bound": False}
        return name, points, info
    if not registered:
        return None
    exact = [c for c in CONSTRUCTIONS.values()
             if (c.num, c.dim) == (num, dim) and c.status in (PROVED, BEST_KNOWN)]
    if exact:
        code = min(exact, key=lambda c: c.cosine)
        return code.name, build(code.name), _info(code, "exact", num, code.cosine)
    return None


def construction_for(num: int, dim: int, *,
                     progress: bool = False) -> tuple[str, np.ndarray, dict] | None:
    """The best exact code known here for ``num`` points in R^``dim``, or None.

    Order: :func:`exact_record` (a closed form that is proved optimal, or a registered code of
    exactly (num, dim) that is proved or best known); otherwise the best subset
    (:func:`farthest_point_subset`) of up to four candidate codes with at least ``num`` points
    in ``dim`` or fewer dimensions, zero-padded to ``dim`` (candidates ranked by their full
    angle, which every subset keeps). ``info`` says how the code was made (``how``: closed form
    / exact / subset / embedded / embedded subset), its ``status`` (a subset is a
    ``construction``, with no record claim), ``citation``, ``max_cosine`` and
    ``min_angle_deg`` (a lower bound when ``angle_is_lower_bound``, for huge subsets), so the
    caller can compare with a solver's result.
    """
    record = exact_record(num, dim)
    if record is not None:
        return record
    num, dim = int(num), int(dim)
    best = None
    for code in _candidates(num, dim)[:_MAX_CANDIDATES]:
        points, info = _placed(code, num, dim, progress)
        if best is None or info["max_cosine"] < best[2]["max_cosine"] - 1e-12:
            best = (code.name, points, info)
    return best
