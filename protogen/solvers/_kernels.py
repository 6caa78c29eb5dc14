"""Numba kernels for the evolutionary solver: population fitness, crossover, mutation (float32
in the EA; any float dtype). Offspring scoring lives in :mod:`._kernels_incremental`.

Every kernel is a pure function of its inputs: the random numbers (parent pairs, crossover
points, mutation positions and values) are drawn by the Python loop with numpy's Generator and
passed in, so results do not depend on thread scheduling and a numpy reference
(:mod:`protogen.solvers.evolutionary`) can recompute them exactly.

Plan arrays describing a batch of offspring (index ``o``):

- ``pa[o], pb[o]``: population indices of the two parents; rows ``[0:cuts[o]]`` come from
  ``pa``, rows ``[cuts[o]:K]`` from ``pb`` (single-point row crossover; the EA draws
  1 <= cut <= K-1, the kernels take 0..K).
- ``mut_ptr[o]:mut_ptr[o+1]``: the slice of ``mut_pos``/``mut_val`` for offspring ``o``;
  ``mut_pos`` is a flat coordinate ``row * D + col``, ``mut_val`` its new value in [-1, 1].
  Positions are sorted within each offspring. Mutated rows are renormalised afterwards.

Layout note: dot products of one row against many run over a (D, K) transposed copy, so the
innermost loop runs over rows and vectorises (``acc[j] += x_i[d] * xt[d, j]``). Inner loops
iterate ``range(n)`` over slices: with ``range(lo, hi)`` numba keeps negative-index checks and
the loop does not vectorise (measured 5x slower).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange


@njit(cache=True, fastmath=True)
def _max_cosine_range(pop, lo, hi, out):
    """Largest pairwise cosine of the (K, D) sets pop[lo:hi] (serial body)."""
    size, num, dim = pop.shape
    for p in range(lo, hi):
        xt = np.empty((dim, num), pop.dtype)
        acc = np.empty(num, pop.dtype)
        for i in range(num):
            for d in range(dim):
                xt[d, i] = pop[p, i, d]
        best = np.float32(-2.0)
        for i in range(num - 1):
            n = num - i - 1
            a = acc[:n]
            a[:] = 0.0
            for d in range(dim):
                x = xt[d, i]
                row = xt[d, i + 1:]
                for j in range(n):
                    a[j] += x * row[j]
            for j in range(n):
                best = max(best, a[j])
        out[p] = best


@njit(cache=True)
def _crossover_range(pop, pa, pb, cuts, which, lo, hi, out):
    """out[t] = rows [0:c] of pop[pa[o]] and rows [c:K] of pop[pb[o]], o = which[t], t in lo:hi."""
    num = pop.shape[1]
    for t in range(lo, hi):
        o = which[t]
        c = cuts[o]
        for i in range(num):
            src = pa[o] if i < c else pb[o]
            for d in range(pop.shape[2]):
                out[t, i, d] = pop[src, i, d]


@njit(cache=True, fastmath=True)
def _mutate_range(batch, mut_ptr, mut_pos, mut_val, which, lo, hi):
    """Apply offspring ``which[t]``'s mutations to ``batch[t]`` (t in lo:hi) in place and
    renormalise the mutated rows."""
    dim = batch.shape[2]
    for t in range(lo, hi):
        o = which[t]
        lo, hi = mut_ptr[o], mut_ptr[o + 1]
        for k in range(lo, hi):
            p = mut_pos[k]
            i = p // dim
            batch[t, i, p - i * dim] = mut_val[k]
        for k in range(lo, hi):
            i = mut_pos[k] // dim
            if k > lo and mut_pos[k - 1] // dim == i:
                continue  # positions are sorted: this row was already renormalised
            s = np.float32(0.0)
            for d in range(dim):
                s += batch[t, i, d] * batch[t, i, d]
            if s > 0.0:
                inv = np.float32(1.0) / np.sqrt(s)
                for d in range(dim):
                    batch[t, i, d] *= inv


@njit(cache=True)
def mutation_csr(gaps, n, length):
    """Mutated coordinates of ``n`` offspring of ``length`` coordinates from the gaps between
    Bernoulli successes over their concatenation: (ptr (n + 1), pos) with offspring o's
    positions ``pos[ptr[o]:ptr[o+1]]`` (sorted, within 0..length-1). One pass; equals
    ``flat = cumsum(gaps) - 1`` cut at n * length, ``searchsorted(flat, arange(n + 1) * length)``
    and ``flat % length``."""
    total = n * length
    flat = np.empty(gaps.shape[0], np.int64)
    m, at = 0, -1
    for g in gaps:
        at += g
        if at >= total:
            break
        flat[m] = at
        m += 1
    ptr = np.empty(n + 1, np.int64)
    pos = np.empty(m, np.int32)
    ptr[0] = 0
    o = 0
    for k in range(m):
        row = flat[k] // length
        while o < row:
            o += 1
            ptr[o] = k
        pos[k] = flat[k] - row * length
    while o < n:
        o += 1
        ptr[o] = m
    return ptr, pos


@njit(cache=True)
def mutation_csr_exponential(expo, scale, n, length):
    """:func:`mutation_csr` of the gaps ``max(1, ceil(expo * scale))``: with standard
    exponentials ``expo`` and ``scale = -1 / log(1 - rate)`` these are geometric(rate) gaps
    (P(gap = k) = (1 - rate)^(k-1) rate), drawn by inversion as numpy does, without storing
    them. Returns (ptr, pos, covered): ``covered`` is False when the gaps ran out before
    ``n * length`` (then draw more exponentials and call again). One pass, no division (the
    positions are sorted, so the offspring boundary only moves forward)."""
    total = n * length
    ptr = np.empty(n + 1, np.int64)
    pos = np.empty(expo.shape[0], np.int32)
    ptr[0] = 0
    o, m, at = 0, 0, -1
    row_start, row_end = 0, length
    covered = False
    for e in expo:
        at += max(1, int(np.ceil(e * scale)))
        if at >= total:
            covered = True
            break
        while at >= row_end:
            o += 1
            ptr[o] = m
            row_start = row_end
            row_end += length
        pos[m] = at - row_start
        m += 1
    while o < n:
        o += 1
        ptr[o] = m
    return ptr, pos[:m], covered


# --- parallel wrappers -------------------------------------------------------------------------
# Each public kernel runs its serial body over blocks of items, in parallel when the work is
# large enough: waking the thread pool costs ~30 ms on a loaded machine, more than a small call.
_PARALLEL_WORK = 2_000_000  # multiply-adds (roughly) below which a call stays serial


@njit(parallel=True, cache=True)
def _max_cosine_parallel(pop, out, block):
    nblocks = (pop.shape[0] + block - 1) // block
    for b in prange(nblocks):
        _max_cosine_range(pop, b * block, min(pop.shape[0], (b + 1) * block), out)


@njit(parallel=True, cache=True)
def _materialize_parallel(pop, pa, pb, cuts, mut_ptr, mut_pos, mut_val, which, out, block):
    nblocks = (which.shape[0] + block - 1) // block
    for b in prange(nblocks):
        lo, hi = b * block, min(which.shape[0], (b + 1) * block)
        _crossover_range(pop, pa, pb, cuts, which, lo, hi, out)
        _mutate_range(out, mut_ptr, mut_pos, mut_val, which, lo, hi)


def _parallel(work: float) -> bool:
    return work >= _PARALLEL_WORK and numba.get_num_threads() > 1


def population_max_cosine(pop, out):
    """Largest pairwise cosine of each (K, D) set in ``pop`` (the population fitness kernel:
    the min angle is arccos of ``out``)."""
    size, num, dim = pop.shape
    if _parallel(size * num * num * dim / 2):
        _max_cosine_parallel(pop, out, 16)
    else:
        _max_cosine_range(pop, 0, size, out)


def crossover(pop, pa, pb, cuts, which, out):
    """Single-point row crossover of offspring ``which`` into ``out`` (serial: memory-bound)."""
    _crossover_range(pop, pa, pb, cuts, which, 0, which.shape[0], out)


def mutate(batch, mut_ptr, mut_pos, mut_val, which):
    """Uniform mutation of ``batch[t]`` by offspring ``which[t]``'s plan, in place."""
    _mutate_range(batch, mut_ptr, mut_pos, mut_val, which, 0, which.shape[0])


def materialize(pop, pa, pb, cuts, mut_ptr, mut_pos, mut_val, which, out):
    """crossover + mutate of offspring ``which`` into ``out`` (n, K, D)."""
    if _parallel(out.size * 8):
        _materialize_parallel(pop, pa, pb, cuts, mut_ptr, mut_pos, mut_val, which, out, 64)
    else:
        _crossover_range(pop, pa, pb, cuts, which, 0, which.shape[0], out)
        _mutate_range(out, mut_ptr, mut_pos, mut_val, which, 0, which.shape[0])
