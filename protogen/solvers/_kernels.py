"""Numba kernels for the evolutionary solver (float32, parallel over individuals).

Every kernel is a pure function of its inputs: the random numbers (parent pairs, crossover
points, mutation positions and values) are drawn by the Python loop with numpy's Generator and
passed in, so results do not depend on thread scheduling and a numpy reference
(:mod:`protogen.solvers.evolutionary`) can recompute them exactly.

Plan arrays describing a batch of offspring (index ``o``):

- ``pa[o], pb[o]``: population indices of the two parents; rows ``[0:cuts[o]]`` come from
  ``pa``, rows ``[cuts[o]:K]`` from ``pb`` (single-point row crossover, 1 <= cut <= K-1).
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

# Added to cosines that must not count (mutated rows in cached blocks); keeps max loops branch-free.
_MASKED = np.float32(-8.0)


@njit(cache=True, fastmath=True)
def _products(pop, pop_t, a, b, out):
    """out[i, j] = <pop[a, i], pop[b, j]> for all rows (a K x K block of cosines)."""
    num, dim = pop.shape[1], pop.shape[2]
    for i in range(num):
        row = out[i]
        for j in range(num):
            row[j] = 0.0
        for d in range(dim):
            x = pop[a, i, d]
            col = pop_t[b, d]
            for j in range(num):
                row[j] += x * col[j]


@njit(cache=True, fastmath=True)
def _masked_max(values, pen, scale, best):
    """max(best, max_j values[j] * scale + pen[j]); pen is 0 or _MASKED (range from 0 so that
    numba drops its negative-index checks and the loop vectorises)."""
    for j in range(values.shape[0]):
        best = max(best, values[j] * scale + pen[j])
    return best


@njit(cache=True, fastmath=True)
def _score_tasks(pop, pop_t, task_ptr, t0, t1, pa, pb, cuts, mut_ptr, mut_pos, mut_val, out):
    """Largest pairwise cosine of offspring ``task_ptr[t0]:task_ptr[t1]``, not materialised.

    ``pop_t`` is ``pop`` transposed to (P, D, K). Offspring ``task_ptr[t]:task_ptr[t+1]`` form
    one parallel task; the kernel caches the cosine blocks of the current parent pair
    (A·Aᵀ, B·Bᵀ, A·Bᵀ), so with the paper's 300 offspring per pair they cost ~1% of the work.
    An offspring's unmutated pairs are then read from those blocks. A mutated row
    u = x + Σ_d δ_d e_d has, with any unmutated row y, the cosine (x·y + Σ_d δ_d y_d) / |u|:
    one cached value plus one term per mutated coordinate; a pair of mutated rows adds one term
    per mutated coordinate of the second. Mutation positions must be sorted within each
    offspring (rows grouped). ``out[o]`` receives the offspring's max cosine. This serial body
    handles tasks ``t0:t1``; :func:`score_offspring` runs it over all tasks.
    """
    num, dim = pop.shape[1], pop.shape[2]
    ga = np.empty((num, num), np.float32)
    gb = np.empty((num, num), np.float32)
    xab = np.empty((num, num), np.float32)
    xba = np.empty((num, num), np.float32)
    pen = np.empty(num, np.float32)
    acc = np.empty(num, np.float32)
    ubuf = np.empty((num, dim), np.float32)
    uinv = np.empty(num, np.float32)
    mrows = np.empty(num, np.int64)
    mstart = np.empty(num + 1, np.int64)
    ca, cb = -1, -1
    for o in range(task_ptr[t0], task_ptr[t1]):
        a, b, c = pa[o], pb[o], cuts[o]
        if not ((a == ca and b == cb) or (a == cb and b == ca)):
            _products(pop, pop_t, a, a, ga)
            _products(pop, pop_t, b, b, gb)
            _products(pop, pop_t, a, b, xab)
            for i in range(num):
                for j in range(num):
                    xba[i, j] = xab[j, i]
            ca, cb = a, b
        # g1/g2: cosines inside the first/second parent; c12[i, j] = <first_i, second_j>.
        if a == ca:
            g1, g2, c12, c21 = ga, gb, xab, xba
        else:
            g1, g2, c12, c21 = gb, ga, xba, xab

        # Mutated rows, their coordinate ranges and 1 / norm.
        for i in range(num):
            pen[i] = 0.0
        nm = 0
        k, end = mut_ptr[o], mut_ptr[o + 1]
        while k < end:
            i = mut_pos[k] // dim
            src = a if i < c else b
            for d in range(dim):
                ubuf[nm, d] = pop[src, i, d]
            mstart[nm] = k
            while k < end and mut_pos[k] // dim == i:
                ubuf[nm, mut_pos[k] - i * dim] = mut_val[k]
                k += 1
            s = np.float32(0.0)
            for d in range(dim):
                s += ubuf[nm, d] * ubuf[nm, d]
            uinv[nm] = np.float32(1.0) / np.sqrt(s) if s > 0.0 else np.float32(0.0)
            mrows[nm] = i
            pen[i] = _MASKED
            nm += 1
        mstart[nm] = end

        best = np.float32(-2.0)
        one = np.float32(1.0)
        # Unmutated pairs: cached values.
        for i in range(c):
            if pen[i] == 0.0:
                best = _masked_max(g1[i, i + 1:c], pen[i + 1:c], one, best)
                best = _masked_max(c12[i, c:], pen[c:], one, best)
        for i in range(c, num):
            if pen[i] == 0.0:
                best = _masked_max(g2[i, i + 1:], pen[i + 1:], one, best)
        # Mutated row i against the rest: acc[j] = u_i · x_j (x_j: row j before mutation)
        # is a cached value plus one term per mutated coordinate of i. For an unmutated j
        # that is the cosine (times |u_i|); for a mutated j, u_i · u_j adds one term per
        # mutated coordinate of j.
        for m in range(nm):
            i = mrows[m]
            if i < c:
                row1, row2, src = g1[i], c12[i], a
            else:
                row1, row2, src = c21[i], g2[i], b
            head = acc[:c]
            tail = acc[c:]
            part = row1[:c]
            for j in range(c):
                head[j] = part[j]
            part = row2[c:]
            for j in range(num - c):
                tail[j] = part[j]
            for k in range(mstart[m], mstart[m + 1]):
                d = mut_pos[k] - i * dim
                delta = mut_val[k] - pop[src, i, d]
                col = pop_t[a, d, :c]
                for j in range(c):
                    head[j] += delta * col[j]
                col = pop_t[b, d, c:]
                for j in range(num - c):
                    tail[j] += delta * col[j]
            best = _masked_max(acc, pen, uinv[m], best)
            for m2 in range(m + 1, nm):
                j = mrows[m2]
                src2 = a if j < c else b
                s = acc[j]
                for k in range(mstart[m2], mstart[m2 + 1]):
                    d = mut_pos[k] - j * dim
                    s += (mut_val[k] - pop[src2, j, d]) * ubuf[m, d]
                best = max(best, s * uinv[m] * uinv[m2])
        out[o] = best


@njit(cache=True, fastmath=True)
def _max_cosine_range(pop, lo, hi, out):
    """Largest pairwise cosine of the (K, D) sets pop[lo:hi] (serial body)."""
    size, num, dim = pop.shape
    for p in range(lo, hi):
        xt = np.empty((dim, num), np.float32)
        acc = np.empty(num, np.float32)
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


# --- parallel wrappers -------------------------------------------------------------------------
# Each public kernel runs its serial body over blocks of items, in parallel when the work is
# large enough: waking the thread pool costs ~30 ms on a loaded machine, more than a small call.
_PARALLEL_WORK = 2_000_000  # multiply-adds (roughly) below which a call stays serial


@njit(parallel=True, cache=True)
def _score_parallel(pop, pop_t, task_ptr, pa, pb, cuts, mut_ptr, mut_pos, mut_val, out):
    for t in prange(task_ptr.shape[0] - 1):
        _score_tasks(pop, pop_t, task_ptr, t, t + 1, pa, pb, cuts, mut_ptr, mut_pos, mut_val,
                     out)


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


def score_offspring(pop, pop_t, task_ptr, pa, pb, cuts, mut_ptr, mut_pos, mut_val, out):
    """Largest pairwise cosine of every offspring of the plan (see :func:`_score_tasks`);
    tasks (runs of offspring sharing a parent pair) run in parallel."""
    num = pop.shape[1]
    args = (pa, pb, cuts, mut_ptr, mut_pos, mut_val, out)
    if _parallel(out.shape[0] * num * num):
        _score_parallel(pop, pop_t, task_ptr, *args)
    else:
        _score_tasks(pop, pop_t, task_ptr, 0, task_ptr.shape[0] - 1, *args)


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
