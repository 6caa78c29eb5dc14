"""The semantic objective term: prototypes whose neighbourhoods follow the class names' word
vectors (privileged information, HPN, seed 000, §2.1; class vectors from :mod:`protogen.semantics`).

*Rank distance* (seed 000, §2.1, the unnumbered formula after "the word2vec order w_ij"): for every
class i the other classes j are ranked by cosine to i, once with the class vectors (rank(w_ij))
and once with the prototypes (rank(p_ij)); d_r(w, p) = Σ_i Σ_j |rank(w_ij) − rank(p_ij)|, i.e.
Spearman's footrule summed over the K rows. We normalise it by its maximum K·⌊(K−1)²/2⌋ (the
largest footrule between two permutations of K−1 items), so 0 = identical neighbourhood orders,
about 2/3 = unrelated orders and 1 = reversed ones. Ties are broken by class index (ordinal ranks).

*EA fitness* (§2.1): "the similarity score is the inverse of d_r and is added to the fitness with a
weight λ = 10". The EA fitness is the minimum angle in degrees, so we add λ / max(d_norm, 1e-3):
unrelated orders are worth ≈ 1.5·λ degrees and every 0.01 gained near d_norm = 0.4 about 0.06·λ
degrees, which is the scale of the EA's per-generation progress in angle.

*Gradient surrogate*: ranks are piecewise constant, so the gradient solvers optimise a relaxation.
For every class i we take the Pearson correlation between the prototype cosines (p_ij)_{j≠i} and
the word-vector *ranks* (rank(w_ij))_{j≠i} (negated so that "closer in words" means "larger"). With
ranks on both sides this is Spearman's ρ of row i, ρ = 1 − 6 Σ_j (rank(w_ij) − rank(p_ij))² /
(m(m²−1)), a squared version of the footrule in d_r; replacing the prototype ranks by the cosines
they are computed from makes it differentiable everywhere, O(K²) per step and invariant to the
scale of the cosines. The loss is ``weight · GRADIENT_SCALE · (1 − mean_i ρ_i)``: it only cares
about the *order* of each row's cosines, so the separation objective (which acts on the few largest
cosines) keeps the minimum angle while the far pairs are arranged semantically.
``GRADIENT_SCALE`` converts the EA's λ (in degrees) to the cosine units of the max-cosine
objectives (``gradient``, ``hpn-sgd``, ``memetic``); it was set so that λ = 10 keeps the minimum
angle of CIFAR-100 within a few percent of the unconstrained run (see benchmarks/semantic.py).
For ``energy`` the objective is a sum over all K(K−1)/2 pairs, so the balance shifts with K and
λ needs tuning there.

*Official ranking loss* (``semantic_loss="ranking"``, the official ``prototypes.py``): for each
class i, its ``neighbours`` nearest classes by word-vector cosine N(i) and the others O(i); the
loss is the mean over all triplets (i, j ∈ N(i), k ∈ O(i)) of cos(p_i, p_k) − cos(p_i, p_j)
(the official ``-product[i, j].mean() + product[i, k].mean()``; the +1 it adds to the cosines
cancels). Every class has |N|·|O| triplets, so this equals
mean_i [mean_{k∈O(i)} cos_ik − mean_{j∈N(i)} cos_ij], computed without enumerating them. The
official script has two slips that we do not copy: its N(i) includes i itself (the most similar
word to itself) and it indexes the triplets by *position* in the neighbour lists instead of by
class; we use the classes it means. It also drops the least similar class from O(i), which we
keep. Its weight relative to the separation loss is 1; ``weight · RANKING_SCALE`` gives 1 at
the default λ = 10.

*Start*: the PCA of the class vectors (:func:`protogen.semantics.pca_init`), or none.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from protogen.errors import InputError
from protogen.semantics import (INIT_MODES, load_word_vectors, lookup_class_vectors, pca_init,
                                separate_duplicates)
from protogen.terms import Term

# λ (degrees of EA fitness) → weight of the gradient surrogate (cosine units); see module doc.
GRADIENT_SCALE = 0.02
# λ = 10 → weight 1 on the official ranking loss (as the official script adds it).
RANKING_SCALE = 0.1
SEMANTIC_LOSSES = ("spearman", "ranking")
# Floor of the normalised rank distance in the EA's inverse, so a perfect order stays finite.
_MIN_DISTANCE = 1e-3


# --------------------------------------------------------------------------- metrics
def _cosines(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x @ x.T


def neighbour_ranks(x: np.ndarray) -> np.ndarray:
    """(K, K) int: ``ranks[i, j]`` = place of j among i's neighbours by cosine, 1 = closest.

    The diagonal is 0 (a class is its own nearest); ties go to the smaller index.
    """
    cos = _cosines(x)
    np.fill_diagonal(cos, np.inf)
    order = np.argsort(-cos, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(cos.shape[0])[None, :], axis=1)
    return ranks


def _check_pair(word_vectors, prototypes):
    w = np.asarray(word_vectors, dtype=np.float64)
    p = np.asarray(prototypes, dtype=np.float64)
    if w.ndim != 2 or p.ndim != 2 or w.shape[0] != p.shape[0]:
        raise InputError(f"class vectors {w.shape} and prototypes {p.shape} must be 2-D with "
                         "one row per class")
    if w.shape[0] < 2:
        raise InputError("semantic metrics need at least two classes")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(p))):
        raise InputError("class vectors and prototypes must be finite")
    if np.any(np.linalg.norm(w, axis=1) == 0) or np.any(np.linalg.norm(p, axis=1) == 0):
        raise InputError("class vectors and prototypes must be non-zero")
    return w, p


def max_rank_distance(num: int) -> int:
    """Largest d_r for K classes: K rows, each a footrule of K−1 items, at most ⌊(K−1)²/2⌋."""
    return num * ((num - 1) ** 2 // 2)


def rank_distance(word_vectors, prototypes, normalized: bool = True) -> float:
    """Seed 000's d_r(w, p) = Σ_ij |rank(w_ij) − rank(p_ij)|; normalised to [0, 1] by default."""
    w, p = _check_pair(word_vectors, prototypes)
    total = int(np.abs(neighbour_ranks(w) - neighbour_ranks(p)).sum())
    if not normalized:
        return float(total)
    most = max_rank_distance(w.shape[0])
    return total / most if most else 0.0


def spearman(word_vectors, prototypes) -> float:
    """Spearman correlation of the K(K−1)/2 class-pair cosines: word vectors vs prototypes."""
    from scipy.stats import spearmanr

    w, p = _check_pair(word_vectors, prototypes)
    iu = np.triu_indices(w.shape[0], 1)
    a, b = _cosines(w)[iu], _cosines(p)[iu]
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def knn_overlap(word_vectors, prototypes, k: int = 5) -> float:
    """Mean over classes of |kNN_words(i) ∩ kNN_prototypes(i)| / k (k capped at K−1)."""
    w, p = _check_pair(word_vectors, prototypes)
    k = min(int(k), w.shape[0] - 1)
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    rw, rp = neighbour_ranks(w), neighbour_ranks(p)
    near_w = (rw >= 1) & (rw <= k)
    near_p = (rp >= 1) & (rp <= k)
    return float((near_w & near_p).sum(axis=1).mean() / k)


def semantic_metrics(class_vectors, prototypes, k: int = 5) -> dict[str, float]:
    """Agreement of the prototypes with the class vectors: normalised rank distance (0 = same
    neighbour orders), Spearman of pair cosines, mean k-NN overlap."""
    return {"rank_distance": rank_distance(class_vectors, prototypes),
            "spearman": spearman(class_vectors, prototypes),
            "knn_overlap": knn_overlap(class_vectors, prototypes, k)}


# --------------------------------------------------------------------------- EA hook
@numba.njit(parallel=True, cache=True)
def _footrule_batch(batch, word_ranks):
    """d_r of every candidate set in ``batch`` (n, K, D) against fixed word ranks (K, K)."""
    n, num, dim = batch.shape
    out = np.zeros(n, dtype=np.float64)
    for b in numba.prange(n):
        x = batch[b]
        neg = np.empty(num, dtype=np.float64)
        total = 0
        for i in range(num):
            for j in range(num):
                s = 0.0
                for d in range(dim):
                    s += x[i, d] * x[j, d]
                neg[j] = -s
            neg[i] = -np.inf  # self first, as in neighbour_ranks
            order = np.argsort(neg, kind="mergesort")
            for r in range(num):
                j = order[r]
                diff = r - word_ranks[i, j]
                total += diff if diff >= 0 else -diff
        out[b] = total
    return out


class SemanticFitness:
    """EA hook: ``f(batch (n, K, D)) -> weight / max(d_norm, 1e-3)`` per candidate set."""

    def __init__(self, class_vectors, weight: float = 10.0):
        self.word_ranks = np.ascontiguousarray(neighbour_ranks(class_vectors), dtype=np.int64)
        self.weight = float(weight)
        self.scale = max(1, max_rank_distance(self.word_ranks.shape[0]))

    def distances(self, batch) -> np.ndarray:
        """Normalised rank distance of each candidate set."""
        batch = np.asarray(batch)
        if batch.ndim != 3 or batch.shape[1] != self.word_ranks.shape[0]:
            raise InputError(f"batch must be (n, {self.word_ranks.shape[0]}, D), got "
                             f"{batch.shape}")
        # One compiled signature (the EA's float32); dot products are accumulated in float64.
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return _footrule_batch(batch, self.word_ranks) / self.scale

    def __call__(self, batch) -> np.ndarray:
        return self.weight / np.maximum(self.distances(batch), _MIN_DISTANCE)


# --------------------------------------------------------------------------- gradient hook
class SemanticLoss:
    """Gradient hook: ``weight · GRADIENT_SCALE · (1 − mean_i corr(p_i·, −rank(w_i·)))``.

    The per-row Pearson correlation between prototype cosines and (negated) word ranks, over
    j ≠ i; see the module docstring for why this relaxes the rank distance.
    """

    def __init__(self, class_vectors, weight: float = 10.0, scale: float = GRADIENT_SCALE):
        import torch

        ranks = neighbour_ranks(class_vectors).astype(np.float64)
        num = ranks.shape[0]
        target = -ranks
        off = ~np.eye(num, dtype=bool)
        target = np.where(off, target, 0.0)
        target = np.where(off, target - target.sum(1, keepdims=True) / (num - 1), 0.0)
        target /= np.linalg.norm(target, axis=1, keepdims=True)
        self._target = torch.from_numpy(target)
        self._off = torch.from_numpy(off.astype(np.float64))
        self.coefficient = float(weight) * float(scale)

    def correlations(self, w):
        """Per-row correlation (K,) between cosines of ``w`` (unit rows) and the word ranks."""
        target = self._target.to(device=w.device, dtype=w.dtype)
        off = self._off.to(device=w.device, dtype=w.dtype)
        num = w.shape[0]
        cos = (w @ w.T) * off
        centred = (cos - cos.sum(1, keepdim=True) / (num - 1)) * off
        return (centred * target).sum(1) / (centred.norm(dim=1) + 1e-12)

    def __call__(self, w):
        return self.coefficient * (1.0 - self.correlations(w).mean())


class RankingLoss:
    """Gradient hook: the official triplet ranking loss (module doc), ``weight · RANKING_SCALE ·
    mean_i [mean_{k∈O(i)} cos_ik − mean_{j∈N(i)} cos_ij]``."""

    def __init__(self, class_vectors, neighbours: int = 5, weight: float = 10.0,
                 scale: float = RANKING_SCALE):
        import torch

        num = len(class_vectors)
        if not 1 <= neighbours <= num - 2:
            raise InputError(f"the ranking loss needs 1 <= neighbours <= K - 2 = {num - 2}, "
                             f"got {neighbours}")
        ranks = neighbour_ranks(class_vectors)
        near = (ranks >= 1) & (ranks <= neighbours)
        far = ranks > neighbours
        # Row weights: +1/|O| on the others, -1/|N| on the neighbours, 0 on the diagonal.
        w = far / far.sum(1, keepdims=True) - near / near.sum(1, keepdims=True)
        self._weights = torch.from_numpy(w.astype(np.float64))
        self.coefficient = float(weight) * float(scale)

    def value(self, w):
        weights = self._weights.to(device=w.device, dtype=w.dtype)
        return ((w @ w.T) * weights).sum(1).mean()

    def __call__(self, w):
        return self.coefficient * self.value(w)


# --------------------------------------------------------------------------- the term
class SemanticTerm(Term):
    """Rank agreement with word vectors as an objective term (see the module doc).

    ``word_vectors``: ``"glove-6b-50d"``, a file or ``KeyedVectors`` (the class names are looked
    up there, ``oov`` as in :func:`protogen.semantics.class_vectors`), or give ``class_vectors``
    (K, F) directly; ``allow_pickle`` as in :func:`protogen.semantics.load_word_vectors`
    (gensim's native format is a pickle, read only with it). ``weight`` is HPN's λ (EA: λ / d_r;
    gradient solvers: the rank-correlation surrogate scaled by ``GRADIENT_SCALE``); 0 keeps
    only the start. ``semantic_loss``: ``"spearman"`` (our rank-correlation surrogate) or
    ``"ranking"`` (the official triplet loss over ``neighbours`` word-nearest classes; gradient
    solvers only, the EA always uses d_r). ``init``: ``"pca"`` or ``"random"`` (no start of
    its own). Metrics:
    normalised rank distance, Spearman of the pair cosines, mean ``k``-NN overlap. Writes the class vectors as the ``class_vectors`` dataset.
    """

    name = "semantic"

    def __init__(self, word_vectors=None, *, class_vectors=None, weight: float = 10.0,
                 init: str = "pca", oov: str = "error", k: int = 5,
                 allow_pickle: bool | None = None, semantic_loss: str = "spearman",
                 neighbours: int = 5):
        if (word_vectors is None) == (class_vectors is None):
            raise InputError("the semantic term needs word vectors or class vectors (one)")
        if semantic_loss not in SEMANTIC_LOSSES:
            raise InputError(f"unknown semantic loss {semantic_loss!r} (choose from "
                             f"{', '.join(SEMANTIC_LOSSES)})")
        self.semantic_loss, self.neighbours = semantic_loss, int(neighbours)
        if init not in INIT_MODES:
            raise InputError(f"unknown init {init!r} (choose from {', '.join(INIT_MODES)})")
        weight = float(weight)
        if not math.isfinite(weight) or weight < 0:
            raise InputError(f"semantic weight must be a finite number >= 0, got {weight!r}")
        self.word_vectors, self.weight, self.init_mode, self.oov, self.k = (
            word_vectors, weight, init, oov, int(k))
        self.allow_pickle = allow_pickle
        self.vectors = None if class_vectors is None else np.asarray(class_vectors, np.float64)
        self.source, self.missing = "class vectors given", []
        self._loss = self._fitness = None

    def bind(self, num, dim, class_names, seed):
        if self.word_vectors is not None:
            if class_names is None:
                raise InputError("the semantic term needs the class names (--names)")
            kv, self.source = load_word_vectors(self.word_vectors,
                                                allow_pickle=self.allow_pickle)
            self.vectors, self.missing = lookup_class_vectors(class_names, kv, oov=self.oov,
                                                              seed=seed)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != num:
            raise InputError(f"class vectors of shape {self.vectors.shape} for {num} classes")
        self._loss = self._fitness = None

    def init(self, num, dim, seed):
        if self.init_mode != "pca":
            return None
        return separate_duplicates(pca_init(self.vectors, dim, seed=seed), seed)

    def loss(self, x):
        if self._loss is None:
            self._loss = (RankingLoss(self.vectors, self.neighbours, self.weight)
                          if self.semantic_loss == "ranking"
                          else SemanticLoss(self.vectors, self.weight))
        return self._loss(x)

    def fitness(self, batch):
        if self._fitness is None:
            self._fitness = SemanticFitness(self.vectors, self.weight)
        return self._fitness(batch)

    def metrics(self, prototypes):
        return semantic_metrics(self.vectors, prototypes, self.k)

    def metadata(self):
        return {"source": self.source, "vector_dim": int(self.vectors.shape[1]),
                "oov": self.oov, "missing": ", ".join(self.missing), "weight": self.weight,
                "init": self.init_mode, "gradient_scale": GRADIENT_SCALE,
                "loss": self.semantic_loss,
                **({"neighbours": self.neighbours} if self.semantic_loss == "ranking" else {})}

    def datasets(self):
        return {"class_vectors": self.vectors}
