"""Known codes inside :func:`protogen.solvers.solve`: what ``auto`` and ``--method construction``
return, and how a construction is described in a :class:`~protogen.result.Result`.

``auto`` (no objective terms) first returns :func:`constructions.exact_record` -- a closed form or
a registered code of exactly (K, D) that is proved optimal or the best known -- without running
a solver; otherwise it runs the solver and :func:`prefer_construction` takes the better of the
solver's code and :func:`constructions.construction_for` (a subset of a larger code, or a code
embedded in more dimensions). Everything here is deterministic, so the seed still fixes the file.
"""

from __future__ import annotations

import math

import numpy as np

from protogen.result import Result

# Above this K x D, auto skips the subset/embedding lookup after the solver. Measured on a
# loaded 2-core machine: construction_for takes 0.15-0.95 s up to K = 10^4, D = 512 (1000 x 64:
# 0.44 s; 10^4 x 512: 0.82 s), far below those solves; beyond, building the larger source codes
# (D_256 has 130,560 roots) would cost memory and time that the solver's own K x K work dwarfs
# anyway, and the solver is left alone.
LOOKUP_LIMIT = 10_000 * 512
# Ties go to the construction: its angle is exact, the solver's is numerical.
TIE_DEG = 1e-10


def describe(info: dict) -> dict:
    """The metadata (file attributes) saying which construction a code is and where it is from."""
    source = f"{info['source_num']} points in R^{info['source_dim']}"
    if info.get("source_cosine"):
        source += f", cos {info['source_cosine']}"
    return {"construction": info["construction"], "construction_how": info["how"],
            "construction_status": info["status"], "construction_source": source,
            "construction_citation": info["citation"]}


def construction_result(name: str, points: np.ndarray, info: dict, seed: int) -> Result:
    """A Result for a construction: method ``closed-form`` (params ``construction``, as before)
    or ``construction`` (params ``name``, as ``--method construction -o name=NAME`` takes it)."""
    closed = info["how"] == "closed form"
    return Result(np.asarray(points, dtype=np.float64),
                  method="closed-form" if closed else "construction", seed=seed,
                  params={"construction" if closed else "name": name}, metadata=describe(info))


def record_code(num: int, dim: int, seed: int, *, registered: bool = True) -> Result | None:
    """The proved-optimal or best-known code of exactly (num, dim), or None (cheap); only the
    closed forms (polygon, simplex, cross-polytope) unless ``registered``."""
    from protogen.solvers.constructions import exact_record

    found = exact_record(num, dim, registered=registered)
    return None if found is None else construction_result(*found, seed)


def has_record(num: int, dim: int) -> bool:
    """Whether :func:`record_code` finds a code for (num, dim), without building it."""
    from protogen.solvers.constructions import BEST_KNOWN, CONSTRUCTIONS, PROVED

    return dim == 2 or num <= 2 * dim or any(
        (c.num, c.dim) == (num, dim) and c.status in (PROVED, BEST_KNOWN)
        for c in CONSTRUCTIONS.values())


def fitted(name: str, num: int, dim: int, seed: int, progress: bool) -> Result:
    """``--method construction``: the named code, a subset of it, or it embedded in R^dim
    (:func:`constructions.fit`; unknown name or a code that cannot hold (num, dim): InputError)."""
    from protogen.solvers.constructions import fit

    points, info = fit(name, num, dim, progress=progress)
    return construction_result(info["construction"], points, info, seed)


def prefer_construction(result: Result, num: int, dim: int, *, progress: bool) -> Result:
    """The better (larger min angle) of the solver's ``result`` and the best construction that
    fits (K, D); the comparison is recorded in the metadata (``auto_*``) either way."""
    if num * dim > LOOKUP_LIMIT:
        return result
    from protogen.solvers.constructions import construction_for
    from protogen.sphere import max_cosine

    found = construction_for(num, dim, progress=progress)
    if found is None:
        return result
    name, points, info = found
    solver_angle = math.degrees(math.acos(min(1.0, max(-1.0, max_cosine(result.prototypes)))))
    built_angle = info["min_angle_deg"]  # exact, or a lower bound for huge subsets
    report = {"auto_solver_method": result.method, "auto_solver_min_angle_deg": solver_angle,
              "auto_construction": name, "auto_construction_min_angle_deg": built_angle}
    if built_angle >= solver_angle - TIE_DEG:
        chosen = construction_result(name, points, info, result.seed)
        chosen.metadata.update(report, auto_choice="construction")
        return chosen
    result.metadata.update(report, auto_choice="solver")
    return result
