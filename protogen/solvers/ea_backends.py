"""The two scoring backends of the evolutionary solver (:mod:`protogen.solvers.evolutionary`).

Both build, mutate and score offspring from a random plan (see ``_Plan`` there): the ``numpy``
backend materialises them and is the plain reference the tests compare with; the ``numba``
backend scores them from their parents' cached cosine blocks without building them
(:mod:`protogen.solvers._kernels_incremental`) and materialises only the survivors.
"""

from __future__ import annotations

import numpy as np

# A chunk of materialised offspring (float32) is kept under this many bytes.
CHUNK_BYTES = 64 * 2**20


def crossover_numpy(pop, pa, pb, cuts, which):
    """Reference single-point row crossover (same contract as ``_kernels.crossover``)."""
    rows = np.arange(pop.shape[1])
    first = rows[None, :] < cuts[which][:, None]
    return np.where(first[..., None], pop[pa[which]], pop[pb[which]]).astype(np.float32)


def mutate_numpy(batch, mut_ptr, mut_pos, mut_val, which):
    """Reference uniform mutation + renormalisation of the mutated rows (in place)."""
    n, num, dim = batch.shape
    counts = mut_ptr[which + 1] - mut_ptr[which]
    owner = np.repeat(np.arange(n), counts)
    starts = np.repeat(mut_ptr[which] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    idx = np.arange(counts.sum()) + starts
    flat = batch.reshape(n, num * dim)
    flat[owner, mut_pos[idx]] = mut_val[idx]
    rows = np.zeros((n, num), bool)
    rows[owner, mut_pos[idx] // dim] = True
    norms = np.linalg.norm(batch, axis=2)
    scale = np.where(rows & (norms > 0), 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
    batch *= scale[..., None].astype(np.float32)
    return batch


def max_cosine_numpy(batch):
    """Reference largest pairwise cosine of each (K, D) set (batched einsum Gram)."""
    n, num, _ = batch.shape
    out = np.empty(n, np.float32)
    step = max(1, CHUNK_BYTES // (4 * num * num))
    diag = np.eye(num, dtype=bool)
    for s in range(0, n, step):
        g = np.einsum("nkd,njd->nkj", batch[s:s + step], batch[s:s + step])
        g[:, diag] = -np.inf
        out[s:s + step] = g.max(axis=(1, 2))
    return out


class NumpyBackend:
    name = "numpy"

    def begin(self, pop):
        pass

    def fitness(self, pop):
        return max_cosine_numpy(pop)

    def materialize(self, pop, plan, which):
        return mutate_numpy(crossover_numpy(pop, plan.pa, plan.pb, plan.cuts, which),
                            plan.mut_ptr, plan.mut_pos, plan.mut_val, which)

    def score(self, pop, plan):
        return max_cosine_numpy(self.materialize(pop, plan, np.arange(plan.n)))


class NumbaBackend:
    name = "numba"

    def __init__(self, scoring="incremental"):
        from protogen.solvers import _kernels, _kernels_incremental

        self.k = _kernels
        self.scorer = (_kernels_incremental.score_offspring_incremental
                       if scoring == "incremental" else _kernels_incremental.score_offspring)
        self.pop_t = None

    def begin(self, pop):
        """Cache the transposed population for the generation's scoring (one buffer, reused)."""
        shape = (pop.shape[0], pop.shape[2], pop.shape[1])
        if self.pop_t is None or self.pop_t.shape != shape:
            self.pop_t = np.empty(shape, pop.dtype)
        np.copyto(self.pop_t, pop.transpose(0, 2, 1))

    def fitness(self, pop):
        out = np.empty(pop.shape[0], np.float32)
        self.k.population_max_cosine(pop, out)
        return out

    def materialize(self, pop, plan, which):
        which = np.ascontiguousarray(which, dtype=np.int64)
        out = np.empty((which.size,) + pop.shape[1:], np.float32)
        self.k.materialize(pop, plan.pa, plan.pb, plan.cuts, plan.mut_ptr, plan.mut_pos,
                           plan.mut_val, which, out)
        return out

    def score(self, pop, plan):
        out = np.empty(plan.n, np.float32)
        self.scorer(pop, self.pop_t, plan.tasks, plan.pa, plan.pb, plan.cuts, plan.mut_ptr,
                    plan.mut_pos, plan.mut_val, out)
        return out
