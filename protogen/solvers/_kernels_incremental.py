"""Offspring scoring kernels of the evolutionary solver: a reference and an incremental scorer.

Both score a plan of offspring (layout in :mod:`protogen.solvers._kernels`; here cuts may be
anywhere in 0..K) without materialising them, from the cosine blocks of each parent pair
(A·Aᵀ, B·Bᵀ, A·Bᵀ; with the paper's 300 offspring per pair they cost ~1% of the work). An
offspring takes rows ``[0:c]`` from its first parent F and ``[c:K]`` from its second S:

- its mutated rows are scored by :func:`_mutated_max` (O(K) per row, shared by both scorers);
- its unmutated pairs are cached cosines. The reference (:func:`score_offspring`) reads all K²/2
  of them. The incremental scorer (:func:`score_offspring_incremental`) ranks the cached entries of
  each parent pair once, largest first, and finds the first one valid for the offspring (rows
  unmutated, entry inside its blocks: F·Fᵀ for i < j < c, S·Sᵀ for c <= i < j, F·Sᵀ for
  i < c <= j). Each entry is valid for an interval of cuts per orientation:

  =================  ====================  ====================
  entry              A first: valid cuts   B first: valid cuts
  =================  ====================  ====================
  A·Aᵀ [i, j], i<j   j + 1 <= c <= K       0 <= c <= i
  B·Bᵀ [i, j], i<j   0 <= c <= i           j + 1 <= c <= K
  A·Bᵀ [p, q], p≠q   p + 1 <= c <= q       q + 1 <= c <= p
  =================  ====================  ====================

  (A·Bᵀ [p, p] never is.) The scan also stops at the first entry not above the mutated rows'
  maximum. Only the top ~``_RANKED_PER_ROW * K`` entries are ranked (histogram threshold, then
  a sort); an offspring whose scan runs past them takes the reference's full scan.

Both take the maximum over exactly the same values, so they agree bit for bit in any precision
(tests compare them, and both with materialised offspring in float64). The reductions whose
rounding matters (row norms, mutated-pair sums) are compiled without reassociation
(``_EXACT``) so that their bits do not depend on the vectoriser's choices in each caller. The
scorers live in one module because numba's cache does not notice edits of a callee in another
file.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

# Added to cosines that must not count (mutated rows in cached blocks); keeps max loops
# branch-free. Finite (fastmath assumes no infinities) and far below any |u|·|x| there.
_MASKED = np.float32(-1e30)
# fastmath without reassociation / approximate reciprocals: deterministic sums.
_EXACT = {"nnan", "ninf", "nsz", "contract"}
_RANKED_PER_ROW = 2  # ranked entries per row of K; past them an offspring takes the full scan
# (2: at the paper's configuration no offspring ran past even 1 per row; fewer to sort)
_BINS = 4096  # histogram bins over [-1, 1] used to pick the ranking threshold
_PARALLEL_WORK = 2_000_000  # multiply-adds (roughly) below which a call stays serial


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


@intrinsic
def _maxnum(typingctx, x, y):
    """LLVM's maxnum in the wider of the two float types. numba lowers max() to
    compare-and-select, which LLVM does not vectorise in a reduction; maxnum reductions it
    does (8 float32 lanes with AVX2)."""
    if not (isinstance(x, types.Float) and isinstance(y, types.Float)):
        return None
    wide = x if x.bitwidth >= y.bitwidth else y

    def codegen(context, builder, signature, args):
        xv = context.cast(builder, args[0], x, wide)
        yv = context.cast(builder, args[1], y, wide)
        kind = xv.type
        fn = builder.module.declare_intrinsic("llvm.maxnum", [kind],
                                              ir.FunctionType(kind, [kind, kind]))
        return builder.call(fn, [xv, yv])

    return wide(x, y), codegen


@njit(cache=True, fastmath=True)
def _masked_max(values, pen, best):
    """max(best, max_j values[j] + pen[j]); pen is 0 or _MASKED. A max is exact in any order,
    so the vectorised reduction gives the same bits as a serial one."""
    for j in range(values.shape[0]):
        best = _maxnum(best, values[j] + pen[j])
    return best


@njit(cache=True, fastmath=True)
def _pair_blocks(pop, pop_t, a, b, ga, gb, xab, xba):
    """Cosine blocks of a parent pair: ga = A·Aᵀ, gb = B·Bᵀ, xab = A·Bᵀ, xba = B·Aᵀ."""
    num = pop.shape[1]
    _products(pop, pop_t, a, a, ga)
    _products(pop, pop_t, b, b, gb)
    _products(pop, pop_t, a, b, xab)
    for i in range(num):
        for j in range(num):
            xba[i, j] = xab[j, i]


@njit(cache=True, fastmath=_EXACT)
def _mutated_rows(pop, o, a, b, c, mut_ptr, mut_pos, mut_val, pen, ubuf, uinv, mrows, mstart,
                  delta, dloc):
    """Collect offspring ``o``'s mutated rows: ``ubuf[m]`` the row u after mutation (before
    renormalisation), ``uinv[m]`` = 1 / |u|, ``mrows[m]`` its index, ``mstart[m]:mstart[m+1]``
    its slice of ``mut_pos``; ``delta[k - mut_ptr[o]]`` is the change of coordinate
    ``mut_pos[k]`` and ``dloc[k - mut_ptr[o]]`` its position in its row;
    ``pen`` is _MASKED on mutated rows, 0 elsewhere. Returns the number of mutated rows."""
    num, dim = pop.shape[1], pop.shape[2]
    for i in range(num):
        pen[i] = 0.0
    nm = 0
    base = mut_ptr[o]
    k, end = base, mut_ptr[o + 1]
    while k < end:
        i = mut_pos[k] // dim  # one integer division per row (they cost ~40 cycles each)
        row_start = i * dim
        row_end = row_start + dim
        src = a if i < c else b
        u = ubuf[nm]
        for d in range(dim):
            u[d] = pop[src, i, d]
        mstart[nm] = k
        while k < end and mut_pos[k] < row_end:
            d = mut_pos[k] - row_start
            delta[k - base] = mut_val[k] - u[d]
            dloc[k - base] = d
            u[d] = mut_val[k]
            k += 1
        # Four fixed partial sums: short dependency chains, same order in every caller.
        zero = u[0] - u[0]
        s0, s1, s2, s3 = zero, zero, zero, zero
        d = 0
        while d + 4 <= dim:
            s0 += u[d] * u[d]
            s1 += u[d + 1] * u[d + 1]
            s2 += u[d + 2] * u[d + 2]
            s3 += u[d + 3] * u[d + 3]
            d += 4
        while d < dim:
            s0 += u[d] * u[d]
            d += 1
        s = (s0 + s1) + (s2 + s3)
        uinv[nm] = np.float32(1.0) / np.sqrt(s) if s > 0.0 else np.float32(0.0)
        mrows[nm] = i
        pen[i] = _MASKED
        nm += 1
    mstart[nm] = end
    return nm


# The row helpers take whole blocks and indices, not row views: a view per mutated row costs
# reference-count updates that measured about a quarter of the row work.
@njit(cache=True, fastmath=True)
def _first_update(m1, m2, i, pop_t, a, b, d, c, dk, acc):
    """acc[j] = (m1 if j < c else m2)[i, j] + dk * pop_t[a if j < c else b, d, j]."""
    for j in range(acc.shape[0]):
        first = j < c
        x1, x2, y1, y2 = m1[i, j], m2[i, j], pop_t[a, d, j], pop_t[b, d, j]
        acc[j] = (x1 if first else x2) + dk * (y1 if first else y2)


@njit(cache=True, fastmath=True)
def _updated_max(m1, m2, i, pop_t, a, b, d, c, dk, pen, acc):
    """:func:`_first_update`, returning max_j acc[j] + pen[j] (_MASKED if every row is)."""
    top = _MASKED
    for j in range(acc.shape[0]):
        first = j < c
        x1, x2, y1, y2 = m1[i, j], m2[i, j], pop_t[a, d, j], pop_t[b, d, j]
        value = (x1 if first else x2) + dk * (y1 if first else y2)
        acc[j] = value
        top = _maxnum(top, value + pen[j])
    return top


@njit(cache=True, fastmath=True)
def _next_update(pop_t, a, b, d, c, dk, acc):
    """acc[j] += dk * pop_t[a if j < c else b, d, j]."""
    for j in range(acc.shape[0]):
        y1, y2 = pop_t[a, d, j], pop_t[b, d, j]
        acc[j] += dk * (y1 if j < c else y2)


@njit(cache=True, fastmath=_EXACT)
def _mutated_max(pop_t, a, b, c, g1, g2, c12, c21, nm, mrows, mstart, base, mut_pos, delta,
                 dloc, ubuf, uinv, pen, acc, at, best):
    """max(best, largest cosine of a pair with a mutated row).

    A mutated row u = x + Σ_d δ_d e_d has, with any unmutated row y, the cosine
    (x·y + Σ_d δ_d y_d) / |u|: one cached value plus one term per mutated coordinate; a pair of
    mutated rows adds one term per mutated coordinate of the second. Rounding is monotone, so
    max_j round(acc_j · (1/|u|)) = round(max_j acc_j · (1/|u|)): one multiply per row. Loops
    run over all K rows and select the first or second parent's value by j < c, so that they
    vectorise without remainder loops at the cut. Pairs of mutated rows are taken a column
    at a time (all m < n for one n) from ``at[n, m]`` = acc of row m at row n: short
    branch-free loops instead of one indirect chain per pair.
    """
    dim = ubuf.shape[1]
    for m in range(nm):
        i = mrows[m]
        m1, m2 = (g1, c12) if i < c else (c21, g2)
        # acc[j] = u_i · x_j (x_j: row j before mutation); the first coordinate fused in the copy.
        k0, k1 = mstart[m], mstart[m + 1]
        d = mut_pos[k0] - i * dim
        if k1 - k0 == 1:  # most mutated rows: one pass that also takes the maximum
            top = _updated_max(m1, m2, i, pop_t, a, b, d, c, delta[k0 - base], pen, acc)
        else:
            _first_update(m1, m2, i, pop_t, a, b, d, c, delta[k0 - base], acc)
            for k in range(k0 + 1, k1):
                _next_update(pop_t, a, b, mut_pos[k] - i * dim, c, delta[k - base], acc)
            top = _masked_max(acc, pen, _MASKED)
        if top > 0.5 * _MASKED:  # some row is unmutated
            best = max(best, top * uinv[m])
        for n in range(m + 1, nm):
            at[n, m] = acc[mrows[n]]
    # Pairs (m < n): u_i · u_j = acc_m[j] + Σ_{d mutated in j} δ_d u_i[d].
    for n in range(1, nm):
        for k in range(mstart[n] - base, mstart[n + 1] - base):
            _add_scaled(at, n, delta[k], ubuf, dloc[k])
        best = max(best, _scaled_max(at, n, uinv) * uinv[n])
    return best


@njit(cache=True, fastmath=_EXACT)
def _add_scaled(at, n, dk, ubuf, d):
    """at[n, m] += dk * ubuf[m, d] for m < n."""
    for m in range(n):
        at[n, m] += dk * ubuf[m, d]


@njit(cache=True, fastmath=True)
def _scaled_max(at, n, scale):
    """max_{m < n} at[n, m] * scale[m]."""
    top = _MASKED
    for m in range(n):
        top = _maxnum(top, at[n, m] * scale[m])
    return top


@njit(cache=True, fastmath=True)
def _unmutated_max(c, g1, g2, c12, pen, best):
    """max(best, largest cached cosine of a pair of unmutated offspring rows): every pair."""
    num = g1.shape[0]
    for i in range(c):
        if pen[i] == 0.0:
            best = _masked_max(g1[i, i + 1:c], pen[i + 1:c], best)
            best = _masked_max(c12[i, c:], pen[c:], best)
    for i in range(c, num):
        if pen[i] == 0.0:
            best = _masked_max(g2[i, i + 1:], pen[i + 1:], best)
    return best


@njit(cache=True, inline="always")
def _bin(value):
    """Histogram bin of a cosine; monotone in the value, so bin(x) < bin(y) implies x < y."""
    b = int((value + 1.0) * (_BINS / 2))
    return min(max(b, 0), _BINS)


@njit(cache=True)
def _rank_pairs(ga, gb, xab, keep):
    """The cached entries of a parent pair whose bin is at least the bin that gives ``keep``
    entries, largest first: (values, valid cuts (m, 4) = lo, hi for A first then B first,
    offspring rows (m, 2), whether every entry is ranked)."""
    num = ga.shape[0]
    hist = np.zeros(_BINS + 1, np.int64)
    for i in range(num):
        for j in range(i + 1, num):
            hist[_bin(ga[i, j])] += 1
            hist[_bin(gb[i, j])] += 1
        for j in range(num):
            if j != i:
                hist[_bin(xab[i, j])] += 1
    low, m = _BINS, hist[_BINS]
    while m < keep and low > 0:
        low -= 1
        m += hist[low]
    vals = np.empty(m, ga.dtype)
    cuts = np.empty((m, 4), np.int32)
    rows = np.empty((m, 2), np.int32)
    e = 0
    for i in range(num):
        for j in range(i + 1, num):
            if _bin(ga[i, j]) >= low:
                vals[e] = ga[i, j]
                cuts[e, 0], cuts[e, 1], cuts[e, 2], cuts[e, 3] = j + 1, num, 0, i
                rows[e, 0], rows[e, 1] = i, j
                e += 1
            if _bin(gb[i, j]) >= low:
                vals[e] = gb[i, j]
                cuts[e, 0], cuts[e, 1], cuts[e, 2], cuts[e, 3] = 0, i, j + 1, num
                rows[e, 0], rows[e, 1] = i, j
                e += 1
        for j in range(num):
            if j != i and _bin(xab[i, j]) >= low:
                vals[e] = xab[i, j]
                cuts[e, 0], cuts[e, 1], cuts[e, 2], cuts[e, 3] = i + 1, j, j + 1, i
                rows[e, 0], rows[e, 1] = i, j
                e += 1
    order = np.argsort(-vals)
    return vals[order], cuts[order], rows[order], m == 2 * num * (num - 1)


@njit(cache=True)
def _first_valid(vals, cuts, rows, col, c, pen, best):
    """(max(best, first ranked entry valid for cut ``c`` (columns ``col``, ``col + 1`` of
    ``cuts``) with both rows unmutated), whether the ranked entries settled it)."""
    for e in range(vals.shape[0]):
        v = vals[e]
        if v <= best:
            return best, True
        if cuts[e, col] <= c <= cuts[e, col + 1] and pen[rows[e, 0]] == 0.0 \
                and pen[rows[e, 1]] == 0.0:
            return v, True
    return best, False


@njit(cache=True, fastmath=True)
def _score_tasks_generic(pop, pop_t, task_ptr, t0, t1, pa, pb, cuts, mut_ptr, mut_pos, mut_val,
                         out, ranked):
    """Largest pairwise cosine ``out[o]`` of offspring ``task_ptr[t0]:task_ptr[t1]`` (see the
    module docstring). Offspring ``task_ptr[t]:task_ptr[t+1]`` form one parallel task; the
    blocks (and ranking) are recomputed when the parent pair changes. Mutation positions must
    be sorted within each offspring. ``ranked``: entries ranked per pair (incremental scorer),
    0 for the reference. Works in the precision of ``pop``."""
    incremental = ranked > 0
    num, dim = pop.shape[1], pop.shape[2]
    ga = np.empty((num, num), pop.dtype)
    gb = np.empty((num, num), pop.dtype)
    xab = np.empty((num, num), pop.dtype)
    xba = np.empty((num, num), pop.dtype)
    pen = np.empty(num, pop.dtype)
    acc = np.empty(num, pop.dtype)
    ubuf = np.empty((num, dim), pop.dtype)
    uinv = np.empty(num, pop.dtype)
    delta = np.empty(num * dim, pop.dtype)
    dloc = np.empty(num * dim, np.int64)
    at = np.empty((num, num), pop.dtype)
    mrows = np.empty(num, np.int64)
    mstart = np.empty(num + 1, np.int64)
    vals = np.empty(0, pop.dtype)  # ranking of the current pair (incremental only)
    ranked_cuts = np.empty((0, 4), np.int32)
    rows = np.empty((0, 2), np.int32)
    complete = False
    ca, cb = -1, -1
    for o in range(task_ptr[t0], task_ptr[t1]):
        a, b, c = pa[o], pb[o], cuts[o]
        if not ((a == ca and b == cb) or (a == cb and b == ca)):
            _pair_blocks(pop, pop_t, a, b, ga, gb, xab, xba)
            if incremental:
                vals, ranked_cuts, rows, complete = _rank_pairs(ga, gb, xab, ranked)
            ca, cb = a, b
        # g1/g2: cosines inside the first/second parent; c12[i, j] = <first_i, second_j>.
        if a == ca:
            g1, g2, c12, c21, col = ga, gb, xab, xba, 0
        else:
            g1, g2, c12, c21, col = gb, ga, xba, xab, 2
        nm = _mutated_rows(pop, o, a, b, c, mut_ptr, mut_pos, mut_val, pen, ubuf, uinv, mrows,
                           mstart, delta, dloc)
        best = _mutated_max(pop_t, a, b, c, g1, g2, c12, c21, nm, mrows, mstart, mut_ptr[o],
                            mut_pos, delta, dloc, ubuf, uinv, pen, acc, at,
                            np.float32(-2.0))
        settled = False
        if incremental:
            best, settled = _first_valid(vals, ranked_cuts, rows, col, c, pen, best)
            settled = settled or complete
        if not settled:
            best = _unmutated_max(c, g1, g2, c12, pen, best)
        out[o] = best


@njit(parallel=True, cache=True)
def _score_parallel(pop, pop_t, task_ptr, pa, pb, cuts, mut_ptr, mut_pos, mut_val, out, ranked):
    for t in prange(task_ptr.shape[0] - 1):
        _score_tasks_generic(pop, pop_t, task_ptr, t, t + 1, pa, pb, cuts, mut_ptr, mut_pos,
                             mut_val, out, ranked)


def _score(pop, pop_t, task_ptr, pa, pb, cuts, mut_ptr, mut_pos, mut_val, out, ranked):
    num, dim = pop.shape[1], pop.shape[2]
    args = (pa, pb, cuts, mut_ptr, mut_pos, mut_val, out, ranked)
    # The same decision for both scorers, so that they run the same compiled code.
    work = (task_ptr.shape[0] - 1) * 3 * num * num * dim + out.shape[0] * num * 8
    if work >= _PARALLEL_WORK and numba.get_num_threads() > 1:
        _score_parallel(pop, pop_t, task_ptr, *args)
    else:
        _score_tasks_generic(pop, pop_t, task_ptr, 0, task_ptr.shape[0] - 1, *args)


def score_offspring(pop, pop_t, task_ptr, pa, pb, cuts, mut_ptr, mut_pos, mut_val, out):
    """Reference scorer: ``out[o]`` = largest pairwise cosine of offspring ``o`` of the plan,
    every unmutated pair read from the cached parent-pair blocks. ``pop_t`` is ``pop``
    transposed to (P, D, K); ``task_ptr`` splits the offspring into parallel tasks (runs that
    share a parent pair)."""
    _score(pop, pop_t, task_ptr, pa, pb, cuts, mut_ptr, mut_pos, mut_val, out, 0)


def score_offspring_incremental(pop, pop_t, task_ptr, pa, pb, cuts, mut_ptr, mut_pos, mut_val,
                                out, ranked_per_row=_RANKED_PER_ROW):
    """Same contract and, bit for bit, same result as :func:`score_offspring`; an offspring's
    unmutated pairs cost a short scan of the parent pair's ranked cosines instead of K²/2
    reads. ``ranked_per_row`` * K entries are ranked per pair (a speed knob only)."""
    ranked = max(1, int(ranked_per_row * pop.shape[1]))
    _score(pop, pop_t, task_ptr, pa, pb, cuts, mut_ptr, mut_pos, mut_val, out, ranked)
