"""How much work the global search does, by K and D: its defaults and its exact mode.

Every ``None`` parameter of :func:`protogen.solvers.search.global_search` is filled in here,
each with the measurement behind it, so the search module holds only the method.
"""

from __future__ import annotations

from protogen.solvers.gradient import _auto_iterations

# Above this many tangent coordinates K (D - 1) the LP polish is too slow (one LP of K = 100,
# D = 25 took minutes with its near-active pairs) and the gradient polish is used instead.
LP_MAX_FREE = 800


def auto_rounds(num, dim):
    """Hop rounds when no time limit is given: 6e4 / (K^2 D) between 3 and 10 (10 up to
    K = 44 in D = 3, 3 from K = 80 in D = 3 and for K = 100, D = 25). A round re-anneals
    ``elite`` x ``children`` codes at once."""
    return int(min(10, max(3, 6e4 / (float(num) * num * dim))))


def auto_patience(exact):
    """Rounds without improvement before an elite code is replaced by a fresh start: 4 when
    hops compare LP-polished values (a stalled code is truly stuck; fresh starts are what find
    the rare record basins: with 4 instead of 12, 60 s reached the records at N = 130 and 73
    in D = 3), 12 when they compare annealed values."""
    return 4 if exact else 12


def exact_mode(num, dim, extra_loss):
    """Whether the search runs in exact mode (LP-polished elite, see :mod:`protogen.solvers.search`)."""
    return extra_loss is None and num * (dim - 1) <= LP_MAX_FREE


def auto_chain_iterations(exact):
    """Relocations of each overlap chain without a time limit: 1200 in exact mode (two chains
    side by side take about 20 s of the 38-45 s default run at K = 119..130 in D = 3 on two
    cores; with 300 and one chain the default run put 10 more of Sloane's D = 3 codes within
    0.01 % of the record, with 1200 and restarts one more, with a second chain 4 more), none
    otherwise (the chain needs the LP polish)."""
    return 1200 if exact else 0


def auto_children(num, elite, exact=False):
    """Children per elite code and round: 16 for small codes (K <= 64 with 4 elite codes), fewer
    (down to 2) once one batched round would hold more than 2^18 cosines (4 for K = 120); at
    most 4 when every child gets LP steps (``exact``: the LPs, not the anneal, are the cost)."""
    return int(min(4 if exact else 16, max(2, 2**18 // (elite * num * num))))


def auto_t_start(dim):
    """First temperature of the starts' anneal: 100 in D = 3, 30 (the gradient solver's) above.
    In D = 3 a colder start (t = 30, a soft Thomson-like repulsion first) sends most starts to
    the same few basins: at N = 57 none of 256 starts reached the record basin, at t = 100
    2 of 64 did (and 1 of 64 at N = 73, none of 64 at t = 30, 300 or 1000)."""
    return 100.0 if dim == 3 else 30.0


def auto_start_iterations(num, dim):
    """The gradient solver's schedule (:func:`protogen.solvers.gradient._auto_iterations`): 800
    steps for tiny codes (K D <= 500), 2000 otherwise, fewer for big K^2 D. Longer anneals land
    in better basins (K = 40, D = 5, best of 8 random starts: 58.87 / 59.20 / 59.50 deg after
    500 / 1000 / 2000 steps), so the starts are not shortened."""
    return _auto_iterations(num, dim)


def auto_starts(num, dim, iterations):
    """Initial annealed starts: 64 for tiny codes, fewer (down to 8) when they would cost more
    than ~1e9 multiply-adds (K^2 D per step), e.g. 28 for K = 120, D = 3."""
    return int(max(8, min(64, 1e9 / (float(num) * num * dim * iterations))))
